"""A message submitted over SMTP comes back byte for byte over POP3 (after the trace fields).

SMTP over implicit TLS in, POP3 over STLS out.
"""

from __future__ import annotations

import poplib
import smtplib

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


def test_8bit_and_dot_lines_round_trip(mail_servers: FakeMailServers) -> None:
    # The 10 MB attachment runs once, for IMAP and POP3, in tests/fakeservers/test_roundtrip.py.
    first = b"Subject: dots\r\n\r\n.\r\n..\r\n.x\r\n\xe9\xff\x80\r\n"
    second = b"Subject: no final line end\r\n\r\n.last"
    submit(mail_servers, first)
    submit(mail_servers, second)
    fetched = retrieve_all(mail_servers)
    # smtplib ends DATA with CRLF, so the stored message gains it, and POP3 sends it as is.
    assert [strip_trace_headers(data) for data in fetched] == [first, second + b"\r\n"]


def test_round_trip_detects_a_difference(mail_servers: FakeMailServers) -> None:
    submit(mail_servers, b"Subject: a\r\n\r\nbody\r\n")
    [fetched] = retrieve_all(mail_servers)
    assert fetched != b"Subject: a\r\n\r\nbody\r\n"  # the trace fields are there
    assert strip_trace_headers(fetched) != b"Subject: a\r\n\r\nBODY\r\n"
