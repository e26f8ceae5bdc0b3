"""No data lost: any message, submitted or appended, reads back byte-exact over IMAP and POP3.

Property tests with the standard library's clients as peers. The only
normalisations are those the protocols require, and they are stated here:

- SMTP DATA carries lines ending in CRLF (RFC 5321 section 2.3.8): a message
  submitted is generated as CRLF lines; dot-stuffing (section 4.5.2) is undone
  exactly; the submission server prepends trace fields (section 4.4), removed
  before comparing. 8BITMIME carries any octet but NUL (RFC 6152).
- IMAP APPEND takes a literal verbatim, bare CR and LF included (RFC 3501
  section 4.3: any CHAR8 but NUL): it reads back exactly as appended.
- POP3 RETR is line-based with dot-stuffing (RFC 1939 section 3): the fake
  server sends the stored octets; poplib gives lines, so the POP3 check is made
  on CRLF-line messages.
"""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import socket
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakeservers.controller import FakeMailServers
from fakeservers.pki import TestPKI
from fakeservers.smtp import strip_trace_headers

ALICE = ("alice@example.test", "alice-pass")
OCTETS = [b for b in range(1, 256) if b not in (10, 13)]
#: RFC 5322 section 2.1.1: at most 998 octets per line.
LINE = st.binary(max_size=120).map(lambda raw: bytes(OCTETS[b % len(OCTETS)] for b in raw))
DOTTED = st.one_of(LINE, LINE.map(lambda line: b"." + line), st.just(b"."), st.just(b".."))
BODY = st.lists(DOTTED, max_size=40).map(lambda lines: b"".join(line + b"\r\n" for line in lines))
HEADER = b"From: alice@example.test\r\nTo: alice@example.test\r\nSubject: property\r\n\r\n"
#: What an IMAP literal may hold: any octet but NUL, bare CR and LF included.
ANY = st.binary(min_size=1, max_size=4000).map(lambda raw: raw.replace(b"\x00", b"\x01"))
SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def servers() -> Iterator[FakeMailServers]:
    with FakeMailServers(pki=TestPKI.create()) as running:
        yield running


def _imap(servers: FakeMailServers) -> imaplib.IMAP4_SSL:
    port, context = servers.endpoints["imaps"].port, servers.client_context()
    client = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=context)
    client.login(*ALICE)
    return client


def _imap_last(servers: FakeMailServers) -> bytes:
    with _imap(servers) as client:
        client.select("INBOX", readonly=True)
        status, data = client.uid("FETCH", "*", "(BODY.PEEK[])")
    assert status == "OK" and isinstance(data[0], tuple)
    return data[0][1]


def _pop3_last(servers: FakeMailServers) -> bytes:
    port, context = servers.endpoints["pop3s"].port, servers.client_context()
    pop = poplib.POP3_SSL("127.0.0.1", port, context=context)
    try:
        pop.user(ALICE[0])
        pop.pass_(ALICE[1])
        count, _ = pop.stat()
        _, lines, _ = pop.retr(count)
    finally:
        pop.quit()
    return b"".join(line + b"\r\n" for line in lines)


@SETTINGS
@given(body=BODY)
def test_submitted_messages_read_back_exactly(servers: FakeMailServers, body: bytes) -> None:
    sent = HEADER + body
    port, context = servers.endpoints["submissions"].port, servers.client_context()
    with smtplib.SMTP_SSL("127.0.0.1", port, context=context) as smtp:
        smtp.login(*ALICE)
        refused = smtp.sendmail(ALICE[0], [ALICE[0]], sent, mail_options=["BODY=8BITMIME"])
    assert refused == {}
    assert strip_trace_headers(_imap_last(servers)) == sent
    assert strip_trace_headers(_pop3_last(servers)) == sent


def _append_raw(servers: FakeMailServers, data: bytes) -> bytes:
    """APPEND over a raw TLS socket: imaplib's append turns bare CR and LF into CRLF."""
    port, context = servers.endpoints["imaps"].port, servers.client_context()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        tls = context.wrap_socket(raw, server_hostname="127.0.0.1")
        reader = tls.makefile("rb")
        reader.readline()
        tls.sendall(b"a LOGIN alice@example.test alice-pass\r\n")
        reader.readline()
        tls.sendall(b"b APPEND INBOX {%d}\r\n" % len(data))
        assert reader.readline().startswith(b"+")
        tls.sendall(data + b"\r\n")
        reply = reader.readline()
        tls.sendall(b"c LOGOUT\r\n")
        reader.close()
        tls.close()
    return reply


@SETTINGS
@given(data=ANY)
def test_appended_octets_read_back_exactly(servers: FakeMailServers, data: bytes) -> None:
    assert _append_raw(servers, data).startswith(b"b OK")
    assert _imap_last(servers) == data


@SETTINGS
@given(body=BODY)
def test_delivered_messages_read_back_exactly_over_pop3(
    servers: FakeMailServers, body: bytes
) -> None:
    servers.store.deliver(ALICE[0], HEADER + body)
    assert _pop3_last(servers) == HEADER + body
    assert _imap_last(servers) == HEADER + body
