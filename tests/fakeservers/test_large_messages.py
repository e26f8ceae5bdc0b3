"""Large and odd-sized messages through the fake servers, byte for byte.

Literals of a megabyte or more are read as pieces and joined once, FETCH and
RETR responses go out in slices paced by the client, SMTP DATA is read in
pieces of up to a megabyte: these tests cross every boundary of that (the
64 KiB at which a literal stops going through the line buffer, the 1 MiB at
which output is sliced, slices of 256 KiB, TLS records of 16 KiB) with the
standard library's clients as peers, and with raw sockets where they cannot
go (LITERAL+, COMPRESS=DEFLATE, a client leaving inside a literal).
"""

from __future__ import annotations

import imaplib
import poplib
import random
import smtplib
import socket
import zlib
from collections.abc import Iterator

import pytest

from fakeservers.config import Limits, ServerConfig
from fakeservers.controller import FakeMailServers
from fakeservers.pki import TestPKI
from fakeservers.rules import ruleset_from_data
from fakeservers.smtp import strip_trace_headers

ALICE = ("alice@example.test", "alice-pass")
KIB, MIB = 1024, 1024 * 1024
#: Around every size at which the servers change how they move octets.
ODD_SIZES = [1, 64 * KIB - 1, 64 * KIB + 1, MIB - 1, MIB + 1, 3 * MIB + 13]


def message_of(size: int, *, seed: int = 0, dots: bool = False) -> bytes:
    """Exactly ``size`` octets: a header, then CRLF lines of random printable text.

    No bare CR or LF anywhere (imaplib would rewrite them) and no CR last. With
    ``dots`` about one line in eight starts with a dot (SMTP and POP3 stuff it).
    """
    rng = random.Random(seed)
    header = b"From: alice@example.test\r\nSubject: large\r\n\r\n"
    lines = [header]
    length = len(header)
    alphabet = bytes(range(0x21, 0x7F))
    while length < size:
        line = bytes(rng.choices(alphabet, k=rng.randint(1, 120)))
        if dots and rng.random() < 0.125:
            line = b"." + line
        lines.append(line + b"\r\n")
        length += len(line) + 2
    data = b"".join(lines)[:size]
    return data[:-1] + b"x" if data.endswith(b"\r") else data


@pytest.fixture
def servers(mail_pki: TestPKI) -> Iterator[FakeMailServers]:
    """All endpoints, limits at their defaults (64 MiB literals and messages)."""
    with FakeMailServers(pki=mail_pki) as running:
        yield running


def _imaps(servers: FakeMailServers) -> imaplib.IMAP4_SSL:
    port = servers.endpoints["imaps"].port
    client = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=servers.client_context(), timeout=60)
    client.login(*ALICE)
    return client


def _fetch(client: imaplib.IMAP4, uid: int, item: str = "BODY.PEEK[]") -> bytes:
    status, data = client.uid("FETCH", str(uid), f"({item})")
    assert status == "OK"
    first = data[0]
    assert isinstance(first, tuple) and isinstance(first[1], bytes)
    return first[1]


def _appended_uid(client: imaplib.IMAP4, data: bytes) -> int:
    status, answer = client.append("INBOX", None, None, data)
    assert status == "OK", answer
    code = answer[0].decode()  # [APPENDUID validity uid] APPEND completed
    return int(code.split("]")[0].split()[-1])


# -- IMAP -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", ODD_SIZES)
def test_append_then_fetch_is_byte_exact(servers: FakeMailServers, size: int) -> None:
    sent = message_of(size, seed=size)
    with _imaps(servers) as client:
        uid = _appended_uid(client, sent)
        client.select("INBOX", readonly=True)
        assert _fetch(client, uid) == sent
    stored = servers.store.mailbox(ALICE[0], "INBOX").messages[-1].data
    assert type(stored) is bytes and stored == sent  # one bytes object, as sent


def test_a_partial_fetch_of_a_large_message_is_the_slice_asked_for(
    servers: FakeMailServers,
) -> None:
    sent = message_of(2 * MIB + 5)
    with _imaps(servers) as client:
        uid = _appended_uid(client, sent)
        client.select("INBOX", readonly=True)
        assert (
            _fetch(client, uid, f"BODY.PEEK[]<{KIB + 1}.{MIB + 3}>") == sent[KIB + 1 :][: MIB + 3]
        )
        # Past the end: no octets (RFC 3501 section 6.4.5), not an error.
        status, data = client.uid("FETCH", str(uid), f"(BODY.PEEK[]<{len(sent) + 1}.10>)")
    assert status == "OK"
    assert isinstance(data[0], tuple) and data[0][1] == b""


def test_a_literal_over_the_limit_is_refused_and_nothing_is_stored(mail_pki: TestPKI) -> None:
    config = ServerConfig(limits=Limits(max_literal=MIB))
    with FakeMailServers(pki=mail_pki, config=config) as servers, _imaps(servers) as client:
        assert _appended_uid(client, message_of(MIB)) == 1  # at the limit: accepted
        # Refused before the continuation request (RFC 7888 section 4): imaplib gets a NO.
        status, answer = client.append("INBOX", None, None, message_of(MIB + 1))
        assert status == "NO" and answer[0].startswith(b"[TOOBIG]")
        assert len(servers.store.mailbox(ALICE[0], "INBOX").messages) == 1


def test_a_nul_in_a_large_literal_is_refused(servers: FakeMailServers) -> None:
    sent = message_of(MIB)
    with _imaps(servers) as client:
        with pytest.raises(imaplib.IMAP4.error, match="NUL"):
            client.append("INBOX", None, None, sent[:-10] + b"\x00" + sent[-9:])
        assert _appended_uid(client, sent) == 1  # the session goes on
    assert servers.store.mailbox(ALICE[0], "INBOX").messages[0].data == sent


class _RawIMAPS:
    """A blocking TLS socket speaking IMAP by hand, optionally deflated (RFC 4978)."""

    def __init__(self, servers: FakeMailServers) -> None:
        sock = socket.create_connection(("127.0.0.1", servers.endpoints["imaps"].port), timeout=60)
        self.sock = servers.client_context().wrap_socket(sock, server_hostname="localhost")
        self.buffer = bytearray()
        self.deflate: zlib._Compress | None = None
        self.inflate: zlib._Decompress | None = None
        self.line()  # greeting

    def send(self, data: bytes) -> None:
        if self.deflate is not None:
            data = self.deflate.compress(data) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def _fill(self) -> None:
        received = self.sock.recv(256 * KIB)
        if not received:
            raise ConnectionError("the server closed the connection")
        self.buffer += self.inflate.decompress(received) if self.inflate else received

    def line(self) -> bytes:
        while (end := self.buffer.find(b"\n")) < 0:
            self._fill()
        line = bytes(self.buffer[: end + 1])
        del self.buffer[: end + 1]
        return line

    def octets(self, count: int) -> bytes:
        while len(self.buffer) < count:
            self._fill()
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data

    def until(self, tag: bytes) -> bytes:
        """Lines up to the tagged one; returns the tagged line."""
        while not (line := self.line()).startswith(tag + b" "):
            pass
        return line

    def close(self) -> None:
        self.sock.close()


def test_a_large_fetch_under_compress_deflate_is_byte_exact(servers: FakeMailServers) -> None:
    sent = message_of(2 * MIB + 7, seed=7)
    servers.store.append(ALICE[0], "INBOX", sent)
    client = _RawIMAPS(servers)
    try:
        client.send(b'a LOGIN "alice@example.test" "alice-pass"\r\nb COMPRESS DEFLATE\r\n')
        client.until(b"a")
        assert client.until(b"b").startswith(b"b OK")
        client.deflate = zlib.compressobj(wbits=-15)
        client.inflate = zlib.decompressobj(wbits=-15)
        client.send(b"c EXAMINE INBOX\r\nd UID FETCH 1 BODY.PEEK[]\r\n")
        client.until(b"c")
        assert client.line().endswith(b"BODY[] {%d}\r\n" % len(sent))
        assert client.octets(len(sent)) == sent
        assert client.line() == b")\r\n"
        assert client.until(b"d").startswith(b"d OK")
    finally:
        client.close()


def test_a_large_non_synchronizing_literal_is_taken_whole(servers: FakeMailServers) -> None:
    sent = message_of(MIB + 1, seed=3)
    client = _RawIMAPS(servers)
    try:
        client.send(b'a LOGIN "alice@example.test" "alice-pass"\r\n')
        client.until(b"a")
        # LITERAL+ (RFC 7888): no continuation request; the next command follows at once.
        client.send(b"b APPEND INBOX {%d+}\r\n" % len(sent) + sent + b"\r\nc NOOP\r\n")
        assert client.until(b"b").startswith(b"b OK [APPENDUID")
        assert client.until(b"c").startswith(b"c OK")
    finally:
        client.close()
    assert servers.store.mailbox(ALICE[0], "INBOX").messages[0].data == sent


def test_a_client_leaving_inside_a_literal_stores_nothing(servers: FakeMailServers) -> None:
    client = _RawIMAPS(servers)
    client.send(b'a LOGIN "alice@example.test" "alice-pass"\r\n')
    client.until(b"a")
    client.send(b"b APPEND INBOX {%d}\r\n" % (3 * MIB))
    assert client.line().startswith(b"+")
    client.send(message_of(MIB))
    client.close()
    with _imaps(servers) as other:  # the server goes on serving
        status, data = other.select("INBOX")
    assert status == "OK" and data == [b"0"]
    assert servers.store.mailbox(ALICE[0], "INBOX").messages == []


def test_rules_see_a_large_fetch_response_whole(servers: FakeMailServers) -> None:
    sent = message_of(3 * MIB, seed=5)[:-14] + b"LAST-LINE-END\n"
    sent = sent[:-1] + b"!"  # ends in no CRLF: the rule's pattern is unique
    servers.store.append(ALICE[0], "INBOX", sent)
    rule = {
        "name": "mark",
        "event": "response",
        "verb": "FETCH",
        "match": "^\\* 1 FETCH",
        "replace": {"pattern": "LAST-LINE-END!", "with": "LAST-LINE-END?"},
    }
    servers.use_rules(ruleset_from_data({"seed": 0, "rules": [rule]}))
    with _imaps(servers) as client:
        client.select("INBOX", readonly=True)
        assert _fetch(client, 1) == sent[:-1] + b"?"
    assert servers.rule_hits() == {"mark": 1}
    servers.use_rules(ruleset_from_data([]))
    with _imaps(servers) as client:  # without the rule: as stored
        client.select("INBOX", readonly=True)
        assert _fetch(client, 1) == sent


# -- SMTP and POP3 ----------------------------------------------------------------------


def _submit(servers: FakeMailServers, data: bytes) -> tuple[int, bytes]:
    """MAIL without SIZE (so the size limit acts on the data itself), RCPT, DATA: its reply."""
    port = servers.endpoints["submissions"].port
    context = servers.client_context()
    with smtplib.SMTP_SSL("127.0.0.1", port, context=context, timeout=60) as smtp:
        smtp.login(*ALICE)
        assert smtp.mail(ALICE[0])[0] == 250
        assert smtp.rcpt(ALICE[0])[0] == 250
        code, answer = smtp.data(data)
    return code, answer


@pytest.mark.parametrize("size", [MIB - 1, 2 * MIB + 3])
def test_data_of_a_large_message_with_dot_lines_is_byte_exact(
    servers: FakeMailServers, size: int
) -> None:
    sent = message_of(size, seed=size, dots=True)
    if not sent.endswith(b"\r\n"):
        sent += b"\r\n"  # smtplib ends the data with CRLF itself
    assert _submit(servers, sent)[0] == 250
    stored = servers.store.mailbox(ALICE[0], "INBOX").messages[-1].data
    assert type(stored) is bytes
    assert stored != sent and strip_trace_headers(stored) == sent


def test_data_over_the_size_limit_is_refused_and_nothing_is_delivered(
    mail_pki: TestPKI,
) -> None:
    config = ServerConfig(limits=Limits(max_message_size=MIB))
    with FakeMailServers(pki=mail_pki, config=config) as servers:
        # Read to its end, then refused (RFC 5321 section 4.5.3.1.10).
        code, _answer = _submit(servers, message_of(2 * MIB, dots=True) + b"\r\n")
        assert code == 552
        assert servers.store.mailbox(ALICE[0], "INBOX").messages == []
        code, _answer = _submit(servers, message_of(MIB // 2, dots=True) + b"\r\n")
        assert code == 250
        assert len(servers.store.mailbox(ALICE[0], "INBOX").messages) == 1


def test_retr_of_a_large_message_with_dot_lines_is_byte_exact(servers: FakeMailServers) -> None:
    sent = message_of(2 * MIB + 1, seed=11, dots=True) + b"\r\n"
    servers.store.append(ALICE[0], "INBOX", sent)
    pop = poplib.POP3_SSL(
        "127.0.0.1", servers.endpoints["pop3s"].port, context=servers.client_context(), timeout=60
    )
    try:
        pop.user(ALICE[0])
        pop.pass_(ALICE[1])
        _response, lines, _octets = pop.retr(1)
        _response, top_lines, _octets = pop.top(1, 10**6)  # every body line: the whole message
        with pytest.raises(poplib.error_proto):
            pop.retr(2)
    finally:
        pop.quit()
    # poplib splits lines and undoes dot-stuffing; the message is the lines joined by CRLF.
    assert b"\r\n".join(lines) + b"\r\n" == sent
    assert top_lines == lines
