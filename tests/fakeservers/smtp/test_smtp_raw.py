"""The submission server over raw sockets: pipelining, STARTTLS injection, hostile input."""

from __future__ import annotations

import base64
import socket
import ssl
from collections.abc import Iterator

import pytest

from fakeservers.controller import FakeMailServers
from fakeservers.smtp import strip_trace_headers

ALICE = "alice@example.test"
BOB = "bob@example.test"
PLAIN = base64.b64encode(f"\0{ALICE}\0alice-pass".encode()).decode()


class SmtpWire:
    """A raw SMTP client: bytes out, replies (all lines of one reply) in."""

    def __init__(self, servers: FakeMailServers, endpoint: str) -> None:
        self._servers = servers
        self.sock: socket.socket = socket.create_connection(
            (servers.host, servers.endpoints[endpoint].port), timeout=5
        )
        if endpoint == "submissions":
            self.starttls()
        else:
            self.file = self.sock.makefile("rb")
        self.greeting = self.reply()

    def starttls(self) -> None:
        self.sock = self._servers.client_context().wrap_socket(
            self.sock, server_hostname="localhost"
        )
        self.file = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> bytes:
        """One reply; multi-line replies are joined (RFC 5321 section 4.2.1)."""
        lines = [self.file.readline()]
        while lines[-1][3:4] == b"-":
            lines.append(self.file.readline())
        return b"".join(lines)

    def command(self, text: str | bytes) -> bytes:
        self.send((text.encode() if isinstance(text, str) else text) + b"\r\n")
        return self.reply()

    def login(self) -> None:
        assert self.command("EHLO client.test").startswith(b"250-")
        assert self.command(f"AUTH PLAIN {PLAIN}").startswith(b"235 2.7.0")

    def closed_by_server(self) -> bool:
        try:
            return self.file.readline() == b""
        except (ConnectionError, ssl.SSLError):
            return True

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def wire(smtp_server: FakeMailServers) -> Iterator[SmtpWire]:
    connection = SmtpWire(smtp_server, "submissions")
    yield connection
    connection.close()


def test_an_initial_response_with_8bit_octets_is_refused_and_the_session_goes_on(
    wire: SmtpWire,
) -> None:
    # Octets over 127 are no base64 either: 501 as for "!!!" (RFC 4954 section 4).
    assert wire.command("EHLO client.test").startswith(b"250-")
    assert wire.command(b"AUTH PLAIN \xff\xfe\xc3\xa9") == b"501 5.5.2 Can't decode base64\r\n"
    assert wire.command(f"AUTH PLAIN {PLAIN}").startswith(b"235 2.7.0")


def test_greeting_names_the_host(wire: SmtpWire) -> None:
    assert wire.greeting == b"220 localhost ESMTP mailcompat submission ready\r\n"


def test_pipelined_transaction(smtp_server: FakeMailServers, wire: SmtpWire) -> None:
    wire.login()
    wire.send(
        f"MAIL FROM:<{ALICE}>\r\nRCPT TO:<{BOB}>\r\nRCPT TO:<nobody@example.test>\r\n"
        "DATA\r\n".encode()
    )
    assert wire.reply() == b"250 2.1.0 Sender OK\r\n"
    assert wire.reply() == b"250 2.1.5 Recipient OK\r\n"
    assert wire.reply() == b"550 5.1.1 No such user here\r\n"
    assert wire.reply().startswith(b"354 ")
    assert wire.command(b"Subject: p\r\n\r\n..dot\r\n.") == (
        b"250 2.6.0 Message accepted for delivery\r\n"
    )
    [stored] = smtp_server.store.mailbox(BOB, "INBOX").messages
    assert strip_trace_headers(stored.data) == b"Subject: p\r\n\r\n.dot\r\n"


def _transaction(wire: SmtpWire) -> None:
    wire.login()
    assert wire.command(f"MAIL FROM:<{ALICE}>").startswith(b"250 ")
    assert wire.command(f"RCPT TO:<{BOB}>").startswith(b"250 ")


def _stored(servers: FakeMailServers) -> list[bytes]:
    return [strip_trace_headers(m.data) for m in servers.store.mailbox(BOB, "INBOX").messages]


def test_data_sent_with_its_command_and_commands_after_its_end(
    smtp_server: FakeMailServers, wire: SmtpWire
) -> None:
    # All in one write: the data reaches the server before its 354 (RFC 2920 section
    # 3.1 forbids it, but the octets must still be read as data, up to the end line).
    _transaction(wire)
    wire.send(b"DATA\r\nSubject: early\r\n\r\n..dot\r\n.\r\nNOOP\r\nRSET\r\n")
    assert wire.reply().startswith(b"354 ")
    assert wire.reply() == b"250 2.6.0 Message accepted for delivery\r\n"
    assert wire.reply() == b"250 2.0.0 OK\r\n"
    assert wire.reply() == b"250 2.0.0 OK\r\n"
    assert _stored(smtp_server) == [b"Subject: early\r\n\r\n.dot\r\n"]


def test_commands_inside_the_data_are_data(smtp_server: FakeMailServers, wire: SmtpWire) -> None:
    _transaction(wire)
    assert wire.command("DATA").startswith(b"354 ")
    wire.send(b"Subject: c\r\n\r\nNOOP\r\nQUIT\r\n")
    assert wire.command(b".\r\nNOOP") == b"250 2.6.0 Message accepted for delivery\r\n"
    assert wire.reply() == b"250 2.0.0 OK\r\n"
    assert _stored(smtp_server) == [b"Subject: c\r\n\r\nNOOP\r\nQUIT\r\n"]


@pytest.mark.parametrize("piece", [1, 3, 4096])
def test_data_in_small_writes_ends_at_its_end_line(
    smtp_server: FakeMailServers, wire: SmtpWire, piece: int
) -> None:
    message = b"Subject: pieces\r\n\r\n" + b"".join(
        b".%d line\r\n" % n if n % 3 else b"line %d.\r\n" % n for n in range(300)
    )
    stuffed = message.replace(b"\r\n.", b"\r\n..") + b".\r\nNOOP\r\n"
    wire.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    _transaction(wire)
    assert wire.command("DATA").startswith(b"354 ")
    for at in range(0, len(stuffed), piece):
        wire.send(stuffed[at : at + piece])
    assert wire.reply() == b"250 2.6.0 Message accepted for delivery\r\n"
    assert wire.reply() == b"250 2.0.0 OK\r\n"
    assert _stored(smtp_server) == [message]


def test_commands_injected_before_starttls_handshake_are_discarded(
    smtp_server: FakeMailServers,
) -> None:
    wire = SmtpWire(smtp_server, "submission")
    assert wire.command("EHLO client.test").startswith(b"250-")
    wire.send(f"STARTTLS\r\nAUTH PLAIN {PLAIN}\r\n".encode())
    assert wire.reply().startswith(b"220 ")
    wire.starttls()
    assert wire.command("NOOP") == b"250 2.0.0 OK\r\n"  # not the reply to the injected AUTH
    assert wire.command("MAIL FROM:<a@b.test>") == b"503 5.5.1 Error: send HELO first\r\n"
    wire.close()


def test_unknown_commands_then_too_many(wire: SmtpWire) -> None:
    for _ in range(4):
        assert wire.command("XYZZY").startswith(b"500 5.5.2 ")
    assert wire.command("NOOP") == b"250 2.0.0 OK\r\n"
    assert wire.command("XYZZY").startswith(b"502 5.5.1 Too many unrecognized commands")
    assert wire.closed_by_server()


def test_long_line_and_non_utf8_are_errors_and_the_session_goes_on(wire: SmtpWire) -> None:
    assert wire.command(b"NOOP " + b"a" * 100_000).startswith(b"500 5.5.2 ")
    assert wire.command(b"\xff\xfe NOOP").startswith(b"500 5.5.2 ")
    wire.login()
    # RFC 6531 section 3.3: an address is UTF-8 or ASCII, never other octets.
    assert wire.command(b"MAIL FROM:<\xff\xfe@example.test> SMTPUTF8").startswith(b"553 5.1.3 ")
    assert wire.command(f"MAIL FROM:<{ALICE}>").startswith(b"250 ")
    assert wire.command(b"RCPT TO:<\xff@example.test>").startswith(b"553 5.1.3 ")
    assert wire.command("RCPT TO:<nobody@example.test>") == b"550 5.1.1 No such user here\r\n"
    assert wire.command("RSET") == b"250 2.0.0 OK\r\n"


def test_data_before_rcpt_and_bad_sequence(wire: SmtpWire) -> None:
    wire.login()
    assert wire.command("DATA").startswith(b"503 5.5.1 ")
    assert wire.command(f"RCPT TO:<{BOB}>").startswith(b"503 5.5.1 ")
    assert wire.command(f"AUTH PLAIN {PLAIN}").startswith(b"503 5.5.1 ")  # already authenticated


def test_disconnect_mid_data_delivers_nothing_and_others_go_on(
    smtp_server: FakeMailServers,
) -> None:
    steady = SmtpWire(smtp_server, "submissions")
    steady.login()
    for _ in range(3):
        hostile = SmtpWire(smtp_server, "submissions")
        hostile.login()
        hostile.command(f"MAIL FROM:<{ALICE}>")
        hostile.command(f"RCPT TO:<{BOB}>")
        assert hostile.command("DATA").startswith(b"354 ")
        hostile.send(b"Subject: half\r\n\r\nhalf a message without the final dot")
        hostile.close()
    assert steady.command(f"MAIL FROM:<{ALICE}>").startswith(b"250 ")
    assert steady.command(f"RCPT TO:<{BOB}>").startswith(b"250 ")
    assert steady.command("DATA").startswith(b"354 ")
    assert steady.command(b"Subject: whole\r\n\r\nok\r\n.").startswith(b"250 ")
    steady.close()
    stored = [m.data for m in smtp_server.store.mailbox(BOB, "INBOX").messages]
    assert [strip_trace_headers(data) for data in stored] == [b"Subject: whole\r\n\r\nok\r\n"]


def test_garbage_handshake_on_implicit_tls_does_not_disturb_others(
    smtp_server: FakeMailServers, wire: SmtpWire
) -> None:
    for garbage in (b"EHLO plain text on a TLS port\r\n", b"\x16\x03\x01\x00\x05hello", b""):
        raw = socket.create_connection(
            (smtp_server.host, smtp_server.endpoints["submissions"].port), timeout=5
        )
        raw.sendall(garbage)
        raw.close()
    wire.login()
    assert wire.command("NOOP") == b"250 2.0.0 OK\r\n"
