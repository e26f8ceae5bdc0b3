"""One message through all three fake servers: SMTP in, IMAP and POP3 out, byte for byte.

The standard library's clients are the peers, with certificate verification on
against the servers' CA. The only difference allowed between what was sent and
what is read back is the trace fields the submission server prepends (RFC 5321
section 4.4), removed by :func:`fakeservers.smtp.strip_trace_headers`.
"""

from __future__ import annotations

import imaplib
import poplib
import random
import smtplib
import ssl
from email import policy
from email.message import EmailMessage

import pytest

from fakeservers.controller import FakeMailServers
from fakeservers.smtp import strip_trace_headers

ALICE = ("alice@example.test", "alice-pass")
BOB = ("bob@example.test", "bob-pass")


def _message(body: bytes) -> bytes:
    return (
        b"From: alice@example.test\r\n"
        b"To: alice@example.test, bob@example.test\r\n"
        b"Subject: round trip\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n" + body
    )


def _with_attachment(size: int) -> bytes:
    message = EmailMessage()
    message["From"] = "alice@example.test"
    message["To"] = "alice@example.test, bob@example.test"
    message["Subject"] = "a large attachment"
    message.set_content("see attached\n")
    payload = random.Random(size).randbytes(size)
    message.add_attachment(
        payload, maintype="application", subtype="octet-stream", filename="x.bin"
    )
    return message.as_bytes(policy=policy.SMTP)


MESSAGES = {
    "8bit": _message("Grüße, 世界\r\n".encode() * 3),
    "dot-lines": _message(b".\r\n..\r\n.leading dot\r\n. \r\nend\r\n"),
    "10MB-attachment": _with_attachment(10 * 1024 * 1024),
}


def _submit(servers: FakeMailServers, context: ssl.SSLContext, data: bytes) -> None:
    port = servers.endpoints["submission"].port
    with smtplib.SMTP(servers.host, port, timeout=30) as smtp:
        smtp.starttls(context=context)
        smtp.login(*ALICE)
        refused = smtp.sendmail(ALICE[0], [ALICE[0], BOB[0]], data, mail_options=["BODY=8BITMIME"])
    assert refused == {}


def _imap_last(servers: FakeMailServers, context: ssl.SSLContext) -> bytes:
    port = servers.endpoints["imaps"].port
    with imaplib.IMAP4_SSL(servers.host, port, ssl_context=context, timeout=30) as imap:
        imap.login(*ALICE)
        imap.select("INBOX", readonly=True)
        status, data = imap.uid("FETCH", "*", "(BODY.PEEK[])")
        assert status == "OK"
        item = data[0]
        assert isinstance(item, tuple)
        return item[1]


def _pop3_last(servers: FakeMailServers, context: ssl.SSLContext) -> bytes:
    pop = poplib.POP3(servers.host, servers.endpoints["pop3"].port, timeout=30)
    try:
        pop.stls(context=context)
        pop.user(BOB[0])
        pop.pass_(BOB[1])
        count, _size = pop.stat()
        _response, lines, _octets = pop.retr(count)
    finally:
        pop.quit()
    # poplib splits lines and undoes dot-stuffing; the message is the lines joined by CRLF.
    return b"\r\n".join(lines) + b"\r\n"


@pytest.mark.parametrize("sent", MESSAGES.values(), ids=list(MESSAGES))
def test_smtp_to_imap_and_pop3_is_byte_exact(
    mail_servers: FakeMailServers, mail_client_context: ssl.SSLContext, sent: bytes
) -> None:
    _submit(mail_servers, mail_client_context, sent)
    assert strip_trace_headers(_imap_last(mail_servers, mail_client_context)) == sent
    assert strip_trace_headers(_pop3_last(mail_servers, mail_client_context)) == sent
    stored = mail_servers.store.mailbox(ALICE[0], "INBOX").messages[-1].data
    assert stored != sent and strip_trace_headers(stored) == sent  # trace fields were added


def test_a_message_for_someone_else_does_not_appear(
    mail_servers: FakeMailServers, mail_client_context: ssl.SSLContext
) -> None:
    port = mail_servers.endpoints["submissions"].port
    with smtplib.SMTP_SSL(mail_servers.host, port, context=mail_client_context) as smtp:
        smtp.login(*ALICE)
        smtp.sendmail(ALICE[0], [BOB[0]], _message(b"only for bob\r\n"))
    assert mail_servers.store.mailbox(ALICE[0], "INBOX").messages == []
    assert mail_servers.store.mailbox(ALICE[0], "Sent").messages == []
    assert len(mail_servers.store.mailbox(BOB[0], "INBOX").messages) == 1
