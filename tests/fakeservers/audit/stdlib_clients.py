"""Mail clients built on the standard library, a naive one and a careful one, to audit.

Run as ``python stdlib_clients.py naive|careful URL USER PASSWORD CA_FILE``.
The naive client is how these libraries are often used: no certificate
context, STARTTLS tried when offered and its failure ignored, a login sent
regardless. The careful client verifies against the CA file, requires
STARTTLS (or implicit TLS) and stops at the first sign of trouble. The
audit must judge the first ``vulnerable`` where it is, and the second
``safe`` everywhere: each verdict is tested both ways.
"""

from __future__ import annotations

import contextlib
import imaplib
import poplib
import re
import smtplib
import ssl
import sys
from urllib.parse import urlsplit


def naive(url: str, user: str, password: str) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 0
    unverified = ssl._create_unverified_context()  # the naive way: verification off
    if parts.scheme.startswith("imap"):
        if parts.scheme == "imaps":
            imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(host, port, ssl_context=unverified)
        else:
            imap = imaplib.IMAP4(host, port)
            with contextlib.suppress(imaplib.IMAP4.error, ssl.SSLError, OSError):
                imap.starttls(unverified)  # and on failure, carry on in clear text
        imap.login(user, password)
        imap.select("INBOX")
        imap.logout()
    elif parts.scheme.startswith("pop3"):
        if parts.scheme == "pop3s":
            pop: poplib.POP3 = poplib.POP3_SSL(host, port, context=unverified)
        else:
            pop = poplib.POP3(host, port)
            with contextlib.suppress(poplib.error_proto, ssl.SSLError, OSError):
                pop.stls(unverified)
        pop.user(user)
        pop.pass_(password)
        pop.stat()
        pop.quit()
    else:
        if parts.scheme == "smtps":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, context=unverified)
        else:
            smtp = smtplib.SMTP(host, port)
            with contextlib.suppress(smtplib.SMTPException, ssl.SSLError, OSError):
                smtp.starttls(context=unverified)
        smtp.ehlo_or_helo_if_needed()
        smtp.login(user, password)
        smtp.sendmail(user, [user], b"Subject: audit\r\n\r\nhello\r\n")
        smtp.quit()


def careful(url: str, user: str, password: str, ca_file: str) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 0
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if parts.scheme.startswith("imap"):
        if parts.scheme == "imaps":
            imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(host, port, ssl_context=context)
        else:
            imap = imaplib.IMAP4(host, port)
            if not imap.welcome.startswith(b"* OK"):
                raise SystemExit("unexpected greeting")
            imap.starttls(context)  # raises when refused or not offered: never go on
        if "LOGINDISABLED" in imap.capabilities:
            raise SystemExit("LOGIN disabled")
        imap.login(user, password)
        imap.logout()
    elif parts.scheme.startswith("pop3"):
        if parts.scheme == "pop3s":
            pop: poplib.POP3 = poplib.POP3_SSL(host, port, context=context)
        else:
            pop = poplib.POP3(host, port)
            if "STLS" not in pop.capa():
                raise SystemExit("no STLS")
            pop.stls(context)
        pop.user(user)
        pop.pass_(password)
        pop.quit()
    else:
        if parts.scheme == "smtps":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, context=context)
        else:
            smtp = smtplib.SMTP(host, port)
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise SystemExit("no STARTTLS")
            smtp.starttls(context=context)
        smtp.login(user, password)
        smtp.quit()


def follows_referrals(url: str, user: str, password: str, ca_file: str) -> None:
    """Verifies TLS, but follows a login referral (RFC 2221) wherever it points."""
    parts = urlsplit(url)
    context = ssl.create_default_context(cafile=ca_file)
    imap = imaplib.IMAP4_SSL(parts.hostname or "127.0.0.1", parts.port or 0, ssl_context=context)
    try:
        imap.login(user, password)
    except imaplib.IMAP4.error as error:
        found = re.search(r"REFERRAL (\S+)\]", str(error))
        if found is None:
            raise
        other = urlsplit(found.group(1))
        host, port = other.hostname or "127.0.0.1", other.port or 0
        imaplib.IMAP4_SSL(host, port, ssl_context=context).login(user, password)


if __name__ == "__main__":
    mode, url, user, password, ca_file = sys.argv[1:6]
    try:
        if mode == "naive":
            naive(url, user, password)
        elif mode == "follows-referrals":
            follows_referrals(url, user, password, ca_file)
        else:
            careful(url, user, password, ca_file)
    except Exception as error:
        print(f"client stopped: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
