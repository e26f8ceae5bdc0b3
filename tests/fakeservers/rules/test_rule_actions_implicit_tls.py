"""Rules on implicit-TLS endpoints (RFC 8314 section 3) act before and instead of the handshake.

imaps, pop3s and submissions accept plain TCP and start TLS themselves, so a
``connect`` rule runs first: ``corrupt_tls`` sends garbage where the
ServerHello should be, ``then`` ends the connection before TLS. The clients
are the standard library's (imaplib, poplib, smtplib over implicit TLS) and a
raw socket to see the octets; after each test the ``ruled`` fixture checks
that an untouched client is still served.
"""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import socket
import ssl

import pytest

from fakeservers.config import Limits, ServerConfig
from fakeservers.controller import FakeMailServers
from fakeservers.pki import TestPKI
from fakeservers.rules.wire import CORRUPT_HANDSHAKE
from tests.fakeservers.rules.conftest import ALICE, RawLines, Rules

ENDPOINTS = {"imap": "imaps", "pop3": "pop3s", "smtp": "submissions"}


def _connect(servers: FakeMailServers, protocol: str) -> str:
    """Open an implicit-TLS session with the standard library's client; its greeting."""
    port = servers.endpoints[ENDPOINTS[protocol]].port
    context = servers.client_context()
    if protocol == "imap":
        with imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=context) as imap:
            return imap.welcome.decode()
    if protocol == "pop3":
        pop = poplib.POP3_SSL("127.0.0.1", port, context=context, timeout=10)
        welcome = pop.getwelcome().decode()
        pop.quit()
        return welcome
    with smtplib.SMTP_SSL("127.0.0.1", port, context=context, timeout=10) as smtp:
        code, _ = smtp.ehlo()
        return str(code)


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
def test_corrupt_tls_on_connect_breaks_the_implicit_handshake(ruled: Rules, protocol: str) -> None:
    servers = ruled(
        {
            "name": "corrupt",
            "event": "connect",
            "protocol": protocol,
            "corrupt_tls": True,
            "times": 1,
        }
    )
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _connect(servers, protocol)
    assert servers.rule_hits() == {"corrupt": 1}
    # The rule has spent its one hit: the next client on the same endpoint is served.
    assert _connect(servers, protocol)


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
def test_corrupt_tls_for_another_protocol_leaves_the_handshake_alone(
    ruled: Rules, protocol: str
) -> None:
    other = {"imap": "pop3", "pop3": "smtp", "smtp": "imap"}[protocol]
    servers = ruled({"name": "corrupt", "event": "connect", "protocol": other, "corrupt_tls": True})
    assert _connect(servers, protocol)
    assert servers.rule_hits() == {"corrupt": 0}


def test_the_garbage_comes_in_place_of_the_server_hello(ruled: Rules) -> None:
    servers = ruled({"name": "corrupt", "event": "connect", "corrupt_tls": True, "times": 1})
    with socket.create_connection(("127.0.0.1", servers.endpoints["imaps"].port), 10) as sock:
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
    assert received == CORRUPT_HANDSHAKE  # sent at once, then the server closed


def test_without_the_rule_a_tls_record_comes_back(ruled: Rules) -> None:
    servers = ruled(
        {"name": "corrupt", "event": "connect", "protocol": "pop3", "corrupt_tls": True}
    )
    context = servers.client_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = context.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    with socket.create_connection(("127.0.0.1", servers.endpoints["imaps"].port), 10) as sock:
        sock.sendall(outgoing.read())
        first = sock.recv(5)
    assert first[:1] == b"\x16"  # a handshake record: the ServerHello (RFC 8446 section 5.1)
    assert first != CORRUPT_HANDSHAKE[:5]


def test_a_corrupt_starttls_rule_does_not_touch_the_implicit_port(ruled: Rules) -> None:
    servers = ruled(
        {"name": "corrupt", "event": "command", "verb": "STARTTLS", "corrupt_tls": True}
    )
    assert _connect(servers, "imap").startswith("* OK")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        imaplib.IMAP4("127.0.0.1", servers.endpoints["imap"].port).starttls(
            servers.client_context()
        )
    assert servers.rule_hits() == {"corrupt": 1}


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
def test_a_connect_rule_resets_before_the_handshake(ruled: Rules, protocol: str) -> None:
    servers = ruled(
        {"name": "rst", "event": "connect", "protocol": protocol, "then": "reset", "times": 1}
    )
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _connect(servers, protocol)
    assert servers.rule_hits() == {"rst": 1}
    assert _connect(servers, protocol)


def test_connect_text_on_an_implicit_port_is_sent_under_tls(ruled: Rules) -> None:
    servers = ruled(
        {"name": "hello", "event": "connect", "protocol": "smtp", "send": "220-first line"}
    )
    port = servers.endpoints["submissions"].port
    client = RawLines(port, servers.client_context())
    assert client.line() == b"220-first line\r\n"
    assert client.line().startswith(b"220 ")
    client.close()
    # The same rule does not concern IMAP: its greeting comes first.
    imap = RawLines(servers.endpoints["imaps"].port, servers.client_context())
    assert imap.line().startswith(b"* OK")
    imap.close()


def test_the_tls_event_fires_once_after_the_implicit_handshake(ruled: Rules) -> None:
    servers = ruled(
        {"name": "tls", "event": "tls", "protocol": "pop3", "send": "+OK [ALERT] under TLS"}
    )
    client = RawLines(servers.endpoints["pop3s"].port, servers.client_context())
    assert client.line() == b"+OK [ALERT] under TLS\r\n"
    assert client.line().startswith(b"+OK")
    client.close()
    with imaplib.IMAP4_SSL(
        "127.0.0.1", servers.endpoints["imaps"].port, ssl_context=servers.client_context()
    ) as imap:
        assert imap.login(*ALICE)[0] == "OK"
    assert servers.rule_hits() == {"tls": 1}


# -- the handshake deadline and stopping, on every implicit-TLS endpoint ---------------------


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server ends the connection (FIN or reset) before sending anything."""
    try:
        return sock.recv(100) == b""
    except ConnectionError:
        return True


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS.values()))
def test_a_client_silent_at_the_handshake_is_dropped(mail_pki: TestPKI, endpoint: str) -> None:
    config = ServerConfig(limits=Limits(tls_handshake_timeout=0.3))
    protocol = {name: protocol for protocol, name in ENDPOINTS.items()}[endpoint]
    with FakeMailServers(pki=mail_pki, config=config) as servers:
        port = servers.endpoints[endpoint].port
        with socket.create_connection(("127.0.0.1", port), 10) as silent:
            assert _closed_by_server(silent)
        assert _connect(servers, protocol)  # a client that says hello in time is served


def test_stopping_ends_connections_still_in_the_handshake(mail_pki: TestPKI) -> None:
    servers = FakeMailServers(pki=mail_pki).start()
    try:
        silent = [
            socket.create_connection(("127.0.0.1", servers.endpoints[name].port), 10)
            for name in sorted(ENDPOINTS.values())
        ]
        assert _connect(servers, "imap")  # all accepted: a later client gets through
    finally:
        servers.stop()
    for sock in silent:
        with sock:
            assert _closed_by_server(sock)
