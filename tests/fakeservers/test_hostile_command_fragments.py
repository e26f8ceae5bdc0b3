"""Hostile clients strung from fragments of real commands: the fake servers answer, never crash.

Random octets are refused at the first line; a client that can take a
server down sends something close to the protocol: a login and then a
literal cut short, an APPEND whose octets never come, STARTTLS or COMPRESS
followed by clear text, AUTH with a broken response, DATA with a stray end
line. These streams are strung together from fragments of real commands
and sent over real sockets to the fake IMAP, POP3 and SMTP servers (clear
text, then the client half-closes). Whatever comes, no session fails with
an unexpected exception (the servers log those at ERROR, and so does
asyncio for a task that died), every connection ends, and afterwards the
standard library's clients are served as before.
"""

from __future__ import annotations

import imaplib
import logging
import poplib
import smtplib
import socket
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakeservers.config import Limits, ServerConfig
from fakeservers.controller import FakeMailServers
from fakeservers.pki import TestPKI

USER, PASSWORD = "alice@example.test", "alice-pass"

#: Octets out of place, among every protocol's fragments.
_STRAY = [b" ", b"\r\n", b"\n", b"\r", b"\x00", b"\xff"]

_IMAP = [
    b"a1 ",
    b"a2 LOGIN alice@example.test alice-pass\r\n",
    b"a3 SELECT INBOX\r\n",
    b"a4 FETCH 1:* (FLAGS BODY.PEEK[] BODYSTRUCTURE)\r\n",
    b"a5 UID SEARCH ",
    b"CHARSET UTF-8 ",
    b"TEXT ",
    b"a6 APPEND INBOX ",
    b"(\\Seen) ",
    b"{5}\r\n",
    b"{5+}\r\n",
    b"~{3}\r\n",
    b"{99999999999}\r\n",
    b"hello",
    b"a7 IDLE\r\n",
    b"DONE\r\n",
    b"a8 AUTHENTICATE PLAIN\r\n",
    b"AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1wYXNz\r\n",
    b"*\r\n",
    b"a9 STARTTLS\r\n",
    b"b1 COMPRESS DEFLATE\r\n",
    b"b2 ENABLE QRESYNC UTF8=ACCEPT\r\n",
    b"b3 STORE 1 +FLAGS (\\Deleted)\r\n",
    b"b4 EXPUNGE\r\n",
    b'b5 LIST "" *\r\n',
    b'"quoted \\" string" ',
    b"(",
    b")",
    b"1:*",
    b"\xff\xfe",
    b"b9 LOGOUT\r\n",
    *_STRAY,
]

_POP3 = [
    b"USER alice@example.test\r\n",
    b"PASS alice-pass\r\n",
    b"APOP alice@example.test 0123456789abcdef0123456789abcdef\r\n",
    b"AUTH PLAIN\r\n",
    b"AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1wYXNz\r\n",
    b"*\r\n",
    b"STAT\r\n",
    b"LIST\r\n",
    b"RETR 1\r\n",
    b"TOP 1 0\r\n",
    b"DELE 1\r\n",
    b"RSET\r\n",
    b"UIDL\r\n",
    b"CAPA\r\n",
    b"STLS\r\n",
    b"UTF8\r\n",
    b"RETR ",
    b"99999999999999999999",
    b"QUIT\r\n",
    *_STRAY,
]

_SMTP = [
    b"EHLO client.example.test\r\n",
    b"HELO client\r\n",
    b"AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1wYXNz\r\n",
    b"AUTH LOGIN\r\n",
    b"YWxpY2U=\r\n",
    b"*\r\n",
    b"MAIL FROM:<alice@example.test>",
    b" SIZE=100 BODY=8BITMIME",
    b"RCPT TO:<bob@example.test>",
    b" NOTIFY=SUCCESS,FAILURE",
    b"DATA\r\n",
    b"BDAT 5\r\n",
    b"BDAT 3 LAST\r\n",
    b"hello",
    b"Subject: x\r\n",
    b"..dot\r\n",
    b".\r\n",
    b"RSET\r\n",
    b"STARTTLS\r\n",
    b"NOOP\r\n",
    b"VRFY alice\r\n",
    b"QUIT\r\n",
    *_STRAY,
]


class _Failures(logging.Handler):
    """Keeps the records at ERROR or above that speak of the fake servers.

    A session that died of an unexpected error is logged by the servers
    themselves; an error raised in the servers' code that reaches asyncio
    (a protocol callback, a task nobody awaited) is logged by asyncio with
    its traceback, and kept when that traceback runs through them. Other
    code's late errors in the same process are no concern of this test.
    """

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("fakeservers") or _raised_in_fakeservers(record):
            self.records.append(record)


def _raised_in_fakeservers(record: logging.LogRecord) -> bool:
    trace = record.exc_info[2] if record.exc_info else None
    frames = traceback.extract_tb(trace) if trace is not None else []
    return any("fakeservers" in Path(frame.filename).parts for frame in frames)


@pytest.fixture(scope="module")
def servers(mail_pki: TestPKI) -> Iterator[tuple[FakeMailServers, _Failures]]:
    failures = _Failures()
    loggers = [logging.getLogger("fakeservers"), logging.getLogger("asyncio")]
    for logger in loggers:
        logger.addHandler(failures)
    # Short limits: a stream that leaves a command unfinished is ended by the idle timer.
    limits = Limits(idle_timeout=2.0, max_line=2048, max_literal=4096, tls_handshake_timeout=1.0)
    try:
        with FakeMailServers(pki=mail_pki, config=ServerConfig(limits=limits)) as running:
            yield running, failures
    finally:
        for logger in loggers:
            logger.removeHandler(failures)


def _send(servers: FakeMailServers, endpoint: str, stream: bytes) -> None:
    """Send ``stream``, end the connection's sending side, read until the server closes.

    On a clear-text endpoint the end is a half-close, and the server answers
    what came before it; on an implicit-TLS endpoint (where logging in is
    allowed, so the stream reaches further) it is a FIN without close_notify,
    which ends the TLS session once the octets before it are read.
    """
    port = servers.endpoints[endpoint].port
    connection = socket.create_connection((servers.host, port), timeout=10)
    if endpoint.endswith("s"):
        # An SSLSocket's shutdown sends the FIN with no close_notify; it reads raw after.
        connection = servers.client_context().wrap_socket(connection, server_hostname="localhost")
    with connection:
        try:
            connection.sendall(stream)
            connection.shutdown(socket.SHUT_WR)
            while connection.recv(65536):
                pass
        except (ConnectionResetError, BrokenPipeError):
            pass  # the server may close first, with octets of the stream still unread


def _check(failures: _Failures) -> None:
    """No session failed since the last check (each example is judged on its own)."""
    records, failures.records = failures.records, []
    assert not records, [record.getMessage() for record in records][:3]


#: protocol -> (its fragments, its clear-text and implicit-TLS endpoints)
_PROTOCOLS = {
    "imap": (_IMAP, ["imap", "imaps"]),
    "pop3": (_POP3, ["pop3", "pop3s"]),
    "smtp": (_SMTP, ["submission", "submissions"]),
}


@pytest.mark.parametrize("protocol", sorted(_PROTOCOLS))
def test_fragments_never_crash_a_session(
    servers: tuple[FakeMailServers, _Failures], protocol: str
) -> None:
    running, failures = servers
    fragments, endpoints = _PROTOCOLS[protocol]

    @settings(max_examples=40, deadline=None)
    @given(st.sampled_from(endpoints), st.lists(st.sampled_from(fragments), max_size=20))
    def sessions(endpoint: str, pieces: list[bytes]) -> None:
        _send(running, endpoint, b"".join(pieces))
        _check(failures)

    sessions()


def test_after_the_fragments_the_standard_clients_are_served(
    servers: tuple[FakeMailServers, _Failures],
) -> None:
    running, failures = servers
    context = running.client_context()
    imaps, pop3s, submissions = (
        running.endpoints[name].port for name in ("imaps", "pop3s", "submissions")
    )
    with imaplib.IMAP4_SSL(running.host, imaps, ssl_context=context) as imap:
        imap.login(USER, PASSWORD)
        assert imap.noop()[0] == "OK"
    pop = poplib.POP3_SSL(running.host, pop3s, context=context)
    pop.user(USER)
    pop.pass_(PASSWORD)
    assert pop.noop().startswith(b"+OK")
    pop.quit()
    with smtplib.SMTP_SSL(running.host, submissions, context=context) as smtp:
        smtp.login(USER, PASSWORD)
        assert smtp.noop()[0] == 250
    _check(failures)
