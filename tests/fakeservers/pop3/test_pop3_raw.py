"""The fake POP3 server over raw sockets: SASL AUTH, pipelining, STLS injection, hostile input."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import socket
import ssl
from collections.abc import Iterator

import pytest

from fakeservers.config import Limits, ServerConfig
from fakeservers.controller import ENDPOINTS, FakeMailServers
from fakeservers.pki import TestPKI

ALICE = "alice@example.test"
PLAIN_OK = base64.b64encode(f"\0{ALICE}\0alice-pass".encode()).decode()
PLAIN_BAD = base64.b64encode(f"\0{ALICE}\0nope".encode()).decode()


class Pop3Wire:
    """A raw POP3 client: bytes out, lines in."""

    def __init__(self, servers: FakeMailServers, endpoint: str) -> None:
        self._servers = servers
        self.sock: socket.socket = socket.create_connection(
            (servers.host, servers.endpoints[endpoint].port), timeout=5
        )
        if endpoint == "pop3s":
            self.sock = servers.client_context().wrap_socket(self.sock, server_hostname="localhost")
        self.file = self.sock.makefile("rb")
        self.greeting = self.line()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        return self.file.readline()

    def command(self, text: str | bytes) -> bytes:
        self.send((text.encode() if isinstance(text, str) else text) + b"\r\n")
        return self.line()

    def multiline(self) -> bytes:
        """The body of a multi-line response, raw (still dot-stuffed), without the final dot."""
        chunks = []
        while (line := self.line()) != b".\r\n":
            assert line, "connection closed inside a multi-line response"
            chunks.append(line)
        return b"".join(chunks)

    def starttls(self) -> None:
        self.sock = self._servers.client_context().wrap_socket(
            self.sock, server_hostname="localhost"
        )
        self.file = self.sock.makefile("rb")

    def login(self) -> None:
        assert self.command(f"USER {ALICE}").startswith(b"+OK")
        assert self.command("PASS alice-pass").startswith(b"+OK")

    def closed_by_server(self) -> bool:
        try:
            return self.line() == b""
        except (ConnectionError, ssl.SSLError):
            return True

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def pop3s(pop3_server: FakeMailServers) -> Iterator[Pop3Wire]:
    wire = Pop3Wire(pop3_server, "pop3s")
    yield wire
    wire.close()


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


# -- AUTH ---------------------------------------------------------------------------------


def test_auth_without_argument_lists_mechanisms(pop3s: Pop3Wire) -> None:
    assert pop3s.command("AUTH").startswith(b"+OK")
    assert b"PLAIN\r\n" in pop3s.multiline()


def test_auth_plain_with_initial_response(pop3s: Pop3Wire) -> None:
    reply = pop3s.command(f"AUTH PLAIN {PLAIN_OK}")
    assert reply.startswith(b"+OK")
    assert pop3s.command("STAT").startswith(b"+OK 0 0")


def test_auth_plain_without_initial_response_gets_empty_challenge(pop3s: Pop3Wire) -> None:
    assert pop3s.command("AUTH PLAIN") == b"+ \r\n"
    assert pop3s.command(PLAIN_OK).startswith(b"+OK")


def test_auth_plain_wrong_password(pop3s: Pop3Wire) -> None:
    reply = pop3s.command(f"AUTH PLAIN {PLAIN_BAD}")
    assert reply.startswith(b"-ERR [AUTH]")
    assert pop3s.command("STAT").startswith(b"-ERR")


def test_auth_login(pop3s: Pop3Wire) -> None:
    assert pop3s.command("AUTH LOGIN") == f"+ {b64('Username:')}\r\n".encode()
    assert pop3s.command(b64(ALICE)) == f"+ {b64('Password:')}\r\n".encode()
    assert pop3s.command(b64("alice-pass")).startswith(b"+OK")


def test_auth_cram_md5(pop3s: Pop3Wire) -> None:
    challenge = base64.b64decode(pop3s.command("AUTH CRAM-MD5")[2:])
    digest = hmac.new(b"alice-pass", challenge, hashlib.md5).hexdigest()
    assert pop3s.command(b64(f"{ALICE} {digest}")).startswith(b"+OK")


def test_auth_scram_sha256_delivers_server_final_as_a_challenge(pop3s: Pop3Wire) -> None:
    bare = f"n={ALICE},r=c1i2e3n4t"
    server_first = base64.b64decode(pop3s.command(f"AUTH SCRAM-SHA-256 {b64('n,,' + bare)}")[2:])
    fields = dict(item.split("=", 1) for item in server_first.decode().split(","))
    salted = hashlib.pbkdf2_hmac(
        "sha256", b"alice-pass", base64.b64decode(fields["s"]), int(fields["i"])
    )
    without_proof = f"c=biws,r={fields['r']}"
    auth_message = f"{bare},{server_first.decode()},{without_proof}".encode()
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    signature = hmac.digest(hashlib.sha256(client_key).digest(), auth_message, "sha256")
    proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
    final = pop3s.command(b64(f"{without_proof},p={b64(proof)}"))
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    expected = b"v=" + base64.b64encode(hmac.digest(server_key, auth_message, "sha256"))
    assert base64.b64decode(final[2:]) == expected  # RFC 5034: sent as a "+ " line
    assert pop3s.command("").startswith(b"+OK")


def test_auth_xoauth2_failure_sends_error_json_then_err(
    pop3_server: FakeMailServers, pop3s: Pop3Wire
) -> None:
    pop3_server.store.account(ALICE).tokens.add("good-token")
    bad = pop3s.command("AUTH XOAUTH2 " + b64(f"user={ALICE}\x01auth=Bearer bad\x01\x01"))
    assert json.loads(base64.b64decode(bad[2:]))["status"] == "400"
    assert pop3s.command("").startswith(b"-ERR [AUTH]")
    good = pop3s.command("AUTH XOAUTH2 " + b64(f"user={ALICE}\x01auth=Bearer good-token\x01\x01"))
    assert good.startswith(b"+OK")


def test_auth_cancel_bad_base64_and_unknown_mechanism(pop3s: Pop3Wire) -> None:
    assert pop3s.command("AUTH LOGIN").startswith(b"+ ")
    assert pop3s.command("*").startswith(b"-ERR")
    assert pop3s.command("AUTH LOGIN").startswith(b"+ ")
    assert pop3s.command("!!notbase64").startswith(b"-ERR")
    assert pop3s.command("AUTH PLAIN !!").startswith(b"-ERR")
    assert pop3s.command("AUTH GSSAPI").startswith(b"-ERR")


def test_auth_responses_with_8bit_octets_are_refused_and_the_session_goes_on(
    pop3s: Pop3Wire,
) -> None:
    # Octets over 127 are no base64 either: refused like "!!", never a failed session.
    refused = b"-ERR [AUTH] Authentication failed: response is not base64\r\n"
    assert pop3s.command("AUTH PLAIN \u00e9t\u00e9") == refused
    assert pop3s.command("AUTH PLAIN").startswith(b"+ ")
    assert pop3s.command(b"\xff\xfe") == refused
    assert pop3s.command(f"AUTH PLAIN {PLAIN_OK}").startswith(b"+OK")


def test_auth_empty_initial_response_is_equals_sign(pop3s: Pop3Wire) -> None:
    # RFC 5034 section 4: "=" is an empty initial response; PLAIN then fails at once.
    assert pop3s.command("AUTH PLAIN =").startswith(b"-ERR [AUTH]")


def test_auth_refused_before_stls(pop3_server: FakeMailServers) -> None:
    wire = Pop3Wire(pop3_server, "pop3")
    assert wire.command(f"AUTH PLAIN {PLAIN_OK}").startswith(b"-ERR [AUTH]")
    assert wire.command("STLS").startswith(b"+OK")
    wire.starttls()
    assert wire.command(f"AUTH PLAIN {PLAIN_OK}").startswith(b"+OK")
    wire.close()


def test_apop_digest_is_md5_of_greeting_timestamp_and_secret(pop3s: Pop3Wire) -> None:
    timestamp = re.search(rb"<[^>]+>", pop3s.greeting)
    assert timestamp is not None
    digest = hashlib.md5(timestamp.group() + b"alice-pass").hexdigest()
    assert pop3s.command(f"APOP {ALICE} {digest.upper()}").startswith(b"+OK")


# -- framing ------------------------------------------------------------------------------


def test_pipelined_commands_are_answered_in_order(
    pop3_server: FakeMailServers, pop3s: Pop3Wire
) -> None:
    data = b"Subject: p\r\n\r\n.x\r\n"
    pop3_server.store.deliver(ALICE, data)
    pop3s.send(f"USER {ALICE}\r\nPASS alice-pass\r\nSTAT\r\nRETR 1\r\nNOOP\r\n".encode())
    assert pop3s.line().startswith(b"+OK")
    assert pop3s.line().startswith(b"+OK")
    assert pop3s.line() == f"+OK 1 {len(data)}\r\n".encode()
    assert pop3s.line().startswith(b"+OK")
    assert pop3s.multiline() == b"Subject: p\r\n\r\n..x\r\n"  # dot-stuffed on the wire
    assert pop3s.line() == b"+OK\r\n"


def test_commands_pipelined_after_stls_are_discarded(pop3_server: FakeMailServers) -> None:
    wire = Pop3Wire(pop3_server, "pop3")
    # An attacker in the middle appends USER after STLS (CVE-2011-0411 style).
    wire.send(f"STLS\r\nUSER {ALICE}\r\n".encode())
    assert wire.line().startswith(b"+OK")
    wire.starttls()
    assert wire.command("PASS alice-pass").startswith(b"-ERR")  # the USER never happened
    wire.close()


def test_unknown_command_and_wrong_state(pop3s: Pop3Wire) -> None:
    assert pop3s.command("XYZZ").startswith(b"-ERR")
    assert pop3s.command("RETR 1").startswith(b"-ERR")
    assert pop3s.command("PASS alone").startswith(b"-ERR")
    pop3s.login()
    assert pop3s.command("USER x").startswith(b"-ERR")
    assert pop3s.command("STAT").startswith(b"+OK")


def test_long_line_and_non_utf8_get_errors_and_session_continues(pop3s: Pop3Wire) -> None:
    assert pop3s.command(b"USER " + b"a" * 100_000).startswith(b"-ERR")
    assert pop3s.command(b"USER \xff\xfe\xfd").startswith(b"-ERR")
    assert pop3s.command(b"\x00\x01\x02").startswith(b"-ERR")
    pop3s.login()


def test_quit_in_authorization_closes(pop3s: Pop3Wire) -> None:
    assert pop3s.command("QUIT").startswith(b"+OK")
    assert pop3s.closed_by_server()


@pytest.fixture
def strict_servers(mail_pki: TestPKI) -> Iterator[FakeMailServers]:
    limits = Limits(max_bad_commands=3, idle_timeout=0.5, max_line=300)
    ports: dict[str, int | None] = {
        spec.name: (0 if spec.protocol == "pop3" else None) for spec in ENDPOINTS
    }
    with FakeMailServers(ports=ports, pki=mail_pki, config=ServerConfig(limits=limits)) as servers:
        yield servers


def test_too_many_bad_commands_close_the_session(strict_servers: FakeMailServers) -> None:
    wire = Pop3Wire(strict_servers, "pop3s")
    assert wire.command("BAD1").startswith(b"-ERR")
    assert wire.command("NOOP").startswith(b"-ERR")  # wrong state counts as bad too
    assert wire.command("BAD3") == b"-ERR too many bad commands, closing\r\n"
    assert wire.closed_by_server()
    wire.close()


def test_good_command_resets_the_bad_count(strict_servers: FakeMailServers) -> None:
    wire = Pop3Wire(strict_servers, "pop3s")
    for _ in range(3):
        assert wire.command("BAD1").startswith(b"-ERR")
        assert wire.command("BAD2").startswith(b"-ERR")
        assert wire.command("CAPA").startswith(b"+OK")
        wire.multiline()
    wire.close()


def test_configured_max_line_is_enforced(strict_servers: FakeMailServers) -> None:
    wire = Pop3Wire(strict_servers, "pop3s")
    assert wire.command("USER " + "a" * 280).startswith(b"+OK")  # RFC 2449 says 255; tolerant
    assert wire.command("USER " + "a" * 300) == b"-ERR line longer than 300 octets\r\n"
    wire.close()


def test_idle_session_is_closed_and_lock_released(strict_servers: FakeMailServers) -> None:
    idle = Pop3Wire(strict_servers, "pop3s")
    idle.login()
    assert idle.closed_by_server()  # after idle_timeout (0.5 s), no reply is sent
    fresh = Pop3Wire(strict_servers, "pop3s")
    fresh.login()
    fresh.close()
    idle.close()


def test_failed_stls_handshake_ends_only_that_session(
    pop3_server: FakeMailServers, caplog: pytest.LogCaptureFixture
) -> None:
    steady = Pop3Wire(pop3_server, "pop3s")
    broken = Pop3Wire(pop3_server, "pop3")
    assert broken.command("STLS").startswith(b"+OK")
    broken.send(b"this is not a TLS ClientHello\r\n" * 10)
    assert broken.closed_by_server()
    broken.close()
    steady.login()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_dying_session_does_not_disturb_others(pop3_server: FakeMailServers) -> None:
    steady = Pop3Wire(pop3_server, "pop3s")
    steady.login()
    for garbage in (b"\xff" * 70_000, b"USER x\r\nAUTH LOGIN\r\n", b"\x16\x03\x01\x00\x05hello"):
        hostile = Pop3Wire(pop3_server, "pop3")
        hostile.send(garbage)
        hostile.close()  # disconnect mid-line / mid-AUTH
    assert steady.command("STAT").startswith(b"+OK")
    steady.close()
