"""A message submitted over SMTP comes back byte for byte over POP3 (after the trace fields)."""

from __future__ import annotations

import os
import poplib
import smtplib
from email.message import EmailMessage
from email.policy import SMTP

from fakeservers.controller import FakeMailServers
from fakeservers.smtp import strip_trace_headers

ALICE = "alice@example.test"
BOB = "bob@example.test"


def submit(servers: FakeMailServers, data: bytes) -> None:
    with smtplib.SMTP_SSL(
        servers.host,
        servers.endpoints["submissions"].port,
        context=servers.client_context(),
        timeout=30,
    ) as client:
        client.login(ALICE, "alice-pass")
        client.sendmail(ALICE, [BOB], data)


def retrieve_all(servers: FakeMailServers) -> list[bytes]:
    client = poplib.POP3(servers.host, servers.endpoints["pop3"].port, timeout=30)
    client.stls(context=servers.client_context())
    client.user(BOB)
    client.pass_("bob-pass")
    count, _ = client.stat()
    messages = [b"".join(line + b"\r\n" for line in client.retr(n)[1]) for n in range(1, count + 1)]
    client.quit()
    return messages


def big_message() -> bytes:
    message = EmailMessage(policy=SMTP)
    message["From"] = ALICE
    message["To"] = BOB
    message["Subject"] = "10 MB attachment"
    message.set_content(".leading dot\n..two dots\n.\n8-bit caf\u00e9\n", cte="8bit")
    message.add_attachment(
        os.urandom(10 * 1024 * 1024),
        maintype="application",
        subtype="octet-stream",
        filename="blob.bin",
    )
    return message.as_bytes()


def test_8bit_dot_lines_and_10mb_attachment_round_trip(mail_servers: FakeMailServers) -> None:
    small = b"Subject: dots\r\n\r\n.\r\n..\r\n.x\r\n\xe9\xff\x80\r\n"
    big = big_message()
    assert len(big) > 10 * 1024 * 1024 and b"\r\n.leading dot\r\n" in big
    submit(mail_servers, small)
    submit(mail_servers, big)
    fetched = retrieve_all(mail_servers)
    assert [strip_trace_headers(data) for data in fetched] == [small, big]


def test_round_trip_detects_a_difference(mail_servers: FakeMailServers) -> None:
    submit(mail_servers, b"Subject: a\r\n\r\nbody\r\n")
    [fetched] = retrieve_all(mail_servers)
    assert fetched != b"Subject: a\r\n\r\nbody\r\n"  # the trace fields are there
    assert strip_trace_headers(fetched) != b"Subject: a\r\n\r\nBODY\r\n"
