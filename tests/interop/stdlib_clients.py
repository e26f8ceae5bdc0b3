"""The standard library's clients, connected to the interop servers the way tests need.

Every connection verifies the server certificate against the test CA and
the host name (an IP address SAN here), with either implicit TLS or
STARTTLS/STLS according to the endpoint's ``security``.
"""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import time
from collections.abc import Sequence

from fakeservers.controller import AccountSpec

from .environment import InteropServers
from .process import log_tail

#: Seconds every client waits for the network.
CLIENT_TIMEOUT = 10.0
#: Seconds Postfix gets to deliver a message into Dovecot.
DELIVERY_TIMEOUT = 15.0
_POLL_INTERVAL = 0.05


def smtp_session(servers: InteropServers, endpoint: str) -> smtplib.SMTP:
    """An SMTP session on ``submission`` (after STARTTLS) or ``submissions`` (implicit TLS)."""
    context = servers.client_context()
    port = servers.port(endpoint)
    if servers.endpoints[endpoint].security == "tls":
        return smtplib.SMTP_SSL(servers.host, port, context=context, timeout=CLIENT_TIMEOUT)
    session = smtplib.SMTP(servers.host, port, timeout=CLIENT_TIMEOUT)
    session.starttls(context=context)
    return session


def imap_session(servers: InteropServers, endpoint: str) -> imaplib.IMAP4:
    """An IMAP session on ``imap`` (after STARTTLS) or ``imaps``, not logged in."""
    context = servers.client_context()
    port = servers.port(endpoint)
    if servers.endpoints[endpoint].security == "tls":
        return imaplib.IMAP4_SSL(servers.host, port, ssl_context=context, timeout=CLIENT_TIMEOUT)
    session = imaplib.IMAP4(servers.host, port, timeout=CLIENT_TIMEOUT)
    session.starttls(ssl_context=context)
    return session


def pop3_session(servers: InteropServers, endpoint: str) -> poplib.POP3:
    """A POP3 session on ``pop3`` (after STLS) or ``pop3s``, not logged in."""
    context = servers.client_context()
    port = servers.port(endpoint)
    if servers.endpoints[endpoint].security == "tls":
        return poplib.POP3_SSL(servers.host, port, context=context, timeout=CLIENT_TIMEOUT)
    session = poplib.POP3(servers.host, port, timeout=CLIENT_TIMEOUT)
    session.stls(context=context)
    return session


def send(
    servers: InteropServers,
    endpoint: str,
    account: AccountSpec,
    message: bytes,
    recipients: Sequence[str],
) -> None:
    """Log in as ``account`` and submit ``message`` (smtplib dot-stuffs, RFC 5321 4.5.2)."""
    with smtp_session(servers, endpoint) as session:
        session.login(account.user, account.password)
        session.sendmail(account.address or account.user, list(recipients), message)


def _imap_find(session: imaplib.IMAP4, message_id: str) -> bytes | None:
    session.noop()  # lets Dovecot report messages delivered since SELECT (RFC 3501 6.1.2)
    status, data = session.search(None, "HEADER", "Message-ID", f'"{message_id}"')
    assert status == "OK", data
    numbers = data[0].split() if data and data[0] else []
    return numbers[-1] if numbers else None


def wait_for_delivery(servers: InteropServers, account: AccountSpec, message_id: str) -> None:
    """Wait (bounded) until the message is in ``account``'s INBOX, seen over IMAP."""
    fetch_imap(servers, "imaps", account, message_id)


def fetch_imap(
    servers: InteropServers, endpoint: str, account: AccountSpec, message_id: str
) -> bytes:
    """The exact bytes of the INBOX message with ``message_id`` (``BODY.PEEK[]``, RFC 3501 6.4.5).

    Waits up to :data:`DELIVERY_TIMEOUT` for it to be delivered.
    """
    session = imap_session(servers, endpoint)
    try:
        session.login(account.user, account.password)
        session.select("INBOX")
        deadline = time.monotonic() + DELIVERY_TIMEOUT
        while (number := _imap_find(session, message_id)) is None:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{message_id} not delivered to {account.user} within {DELIVERY_TIMEOUT} s\n"
                    + log_tail(servers.logs)
                )
            time.sleep(_POLL_INTERVAL)
        status, data = session.fetch(number.decode("ascii"), "(BODY.PEEK[])")
        assert status == "OK", data
        item = data[0]
        assert isinstance(item, tuple), data
        return item[1]
    finally:
        session.logout()


def fetch_pop3(
    servers: InteropServers, endpoint: str, account: AccountSpec, message_id: str
) -> bytes:
    """The exact bytes of the maildrop message with ``message_id`` (RETR, RFC 1939 section 5).

    The message must already be delivered: a POP3 session sees the maildrop
    as it was at login. poplib undoes the dot-stuffing; the lines are joined
    back with CRLF.
    """
    session = pop3_session(servers, endpoint)
    try:
        session.user(account.user)
        session.pass_(account.password)
        wanted = f"message-id: {message_id}".lower().encode("ascii")
        count, _ = session.stat()
        for number in range(count, 0, -1):
            _, header_lines, _ = session.top(number, 0)
            if any(line.lower() == wanted for line in header_lines):
                _, lines, _ = session.retr(number)
                return b"".join(line + b"\r\n" for line in lines)
        raise AssertionError(f"{message_id} not in {account.user}'s POP3 maildrop")
    finally:
        session.quit()
