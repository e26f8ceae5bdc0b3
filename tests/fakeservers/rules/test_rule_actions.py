"""Each rule action against real clients: the intended effect, and a server that survives it.

Clients are the standard library's imaplib, poplib and smtplib where they can
see the effect, and a raw socket where they hide it (delays, chunks, resets).
The ``ruled`` fixture checks after every test that a client no rule touches
is still served.
"""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import socket
import ssl

import pytest

from fakeservers.controller import FakeMailServers
from fakeservers.rules import ruleset_from_data
from tests.fakeservers.rules.conftest import ALICE, RawLines, Rules


def _imaps(servers: FakeMailServers) -> imaplib.IMAP4_SSL:
    port = servers.endpoints["imaps"].port
    return imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=servers.client_context())


def _raw_imaps(servers: FakeMailServers) -> RawLines:
    return RawLines(servers.endpoints["imaps"].port, servers.client_context())


# -- send, send_before, send_after ------------------------------------------------------


def test_send_answers_a_command_instead_of_running_it(ruled: Rules) -> None:
    servers = ruled(
        {"name": "no-noop", "event": "command", "verb": "NOOP", "send": "{tag} NO [ALERT] not now"}
    )
    with _imaps(servers) as client:
        client.login(*ALICE)
        status, data = client.noop()  # imaplib raises on BAD only
        assert (status, data) == ("NO", [b"[ALERT] not now"])
        assert client.select("INBOX")[0] == "OK"  # other commands still run
    assert servers.rule_hits() == {"no-noop": 1}


def test_send_before_and_after_surround_the_real_response(ruled: Rules) -> None:
    servers = ruled(
        {
            "name": "around",
            "event": "command",
            "verb": "NOOP",
            "send_before": "* OK [ALERT] before",
            "send_after": "* OK after",
        }
    )
    client = _raw_imaps(servers)
    client.line()  # greeting
    client.send(b"a NOOP\r\nb CAPABILITY\r\n")
    lines = [client.line() for _ in range(4)]
    assert lines[0] == b"* OK [ALERT] before\r\n"
    assert lines[1].startswith(b"a OK")
    assert lines[2] == b"* OK after\r\n"
    assert lines[3].startswith(b"* CAPABILITY")
    client.close()


def test_a_greeting_rule_replaces_the_greeting(ruled: Rules) -> None:
    servers = ruled(
        {"name": "gpop", "event": "greeting", "protocol": "pop3", "send": "+OK Gpop ready"}
    )
    port = servers.endpoints["pop3s"].port
    client = poplib.POP3_SSL("127.0.0.1", port, context=servers.client_context())
    assert client.getwelcome() == b"+OK Gpop ready"
    client.quit()
    # Only the greeting: IMAP is untouched, and POP3's later replies too.
    with _imaps(servers) as imap:
        assert imap.welcome.startswith(b"* OK [CAPABILITY")


def test_a_connect_rule_sends_a_bare_line_before_the_greeting(ruled: Rules) -> None:
    servers = ruled(
        {"name": "junk", "event": "connect", "protocol": "imap", "send": "Server Unavailable."}
    )
    client = _raw_imaps(servers)
    assert client.line() == b"Server Unavailable.\r\n"
    assert client.line().startswith(b"* OK")
    client.close()


# -- rewriting responses ------------------------------------------------------------------


def test_replace_mutates_a_response(ruled: Rules) -> None:
    servers = ruled(
        {
            "name": "trailing-space",
            "event": "response",
            "verb": "STATUS",
            "match": "^\\* STATUS",
            "replace": {"pattern": "\\)\\r\\n", "with": ") \\r\\n"},
        }
    )
    client = _raw_imaps(servers)
    client.line()
    client.send(b"a LOGIN alice@example.test alice-pass\r\nb STATUS INBOX (MESSAGES)\r\n")
    client.line()
    assert client.line() == b'* STATUS "INBOX" (MESSAGES 0) \r\n'
    assert client.line().startswith(b"b OK")
    client.close()


def test_as_literal_sends_quoted_strings_as_literals(ruled: Rules) -> None:
    servers = ruled({"name": "lit", "event": "response", "verb": "LIST", "as_literal": True})
    with _imaps(servers) as client:
        client.login(*ALICE)
        status, data = client.list('""', "INBOX")
    assert status == "OK"
    # imaplib hands a literal back as a (line, literal) tuple.
    assert data == [(b"(\\HasNoChildren) {1}", b"/"), (b" {5}", b"INBOX"), b""]


def test_truncate_cuts_the_response_and_closes(ruled: Rules) -> None:
    servers = ruled({"name": "cut", "event": "response", "verb": "CAPABILITY", "truncate": 8})
    client = _raw_imaps(servers)
    client.line()
    client.send(b"a CAPABILITY\r\n")
    assert client.rest() == b"* CAPABI"
    client.close()


def test_chunks_split_a_response_but_keep_its_octets(ruled: Rules) -> None:
    servers = ruled(
        {
            "name": "drip",
            "event": "greeting",
            "protocol": "imap",
            "chunks": {"size": 128, "delay": 0.3},
        }
    )
    sock = socket.create_connection(("127.0.0.1", servers.endpoints["imap"].port), timeout=10)
    first = sock.recv(4096)
    received = first
    while not received.endswith(b"\r\n"):
        received += sock.recv(4096)
    sock.close()
    assert len(first) == 128  # the server wrote one chunk, then waited
    assert received.startswith(b"* OK [CAPABILITY IMAP4rev1")


def test_delay_holds_the_response_back(ruled: Rules) -> None:
    servers = ruled({"name": "slow", "event": "command", "verb": "NOOP", "delay": 1.0})
    sock = socket.create_connection(("127.0.0.1", servers.endpoints["imap"].port), timeout=10)
    reader = sock.makefile("rb")
    reader.readline()
    sock.sendall(b"a NOOP\r\n")
    sock.settimeout(0.2)
    with pytest.raises(TimeoutError):
        sock.recv(1)  # nothing yet: the rule is still waiting
    sock.settimeout(10)
    assert reader.readline().startswith(b"a OK")
    reader.close()
    sock.close()


# -- endings ------------------------------------------------------------------------------


def test_then_close_ends_the_session_after_the_reply(ruled: Rules) -> None:
    servers = ruled(
        {
            "name": "bye",
            "event": "command",
            "verb": "NOOP",
            "send": "* BYE going away",
            "then": "close",
        }
    )
    with _imaps(servers) as client:
        client.login(*ALICE)
        with pytest.raises(imaplib.IMAP4.abort):
            client.noop()


@pytest.mark.wine(
    reason="Wine closes a socket with SO_LINGER 0 without sending a TCP reset; Windows "
    "itself sends one (the documented behaviour of a hard close)"
)
def test_then_reset_sends_a_tcp_reset(ruled: Rules) -> None:
    servers = ruled({"name": "rst", "event": "command", "verb": "CAPA", "then": "reset"})
    sock = socket.create_connection(("127.0.0.1", servers.endpoints["pop3"].port), timeout=10)
    reader = sock.makefile("rb")
    assert reader.readline().startswith(b"+OK")
    sock.sendall(b"CAPA\r\n")
    with pytest.raises(ConnectionResetError):
        while reader.read(4096):
            pass
    reader.close()
    sock.close()


def test_then_close_write_half_closes(ruled: Rules) -> None:
    servers = ruled({"name": "half", "event": "command", "verb": "CAPA", "then": "close_write"})
    sock = socket.create_connection(("127.0.0.1", servers.endpoints["pop3"].port), timeout=10)
    reader = sock.makefile("rb")
    reader.readline()
    sock.sendall(b"CAPA\r\n")
    assert reader.read().endswith(b"\r\n.\r\n")  # the whole CAPA reply, then EOF
    sock.sendall(b"QUIT\r\n")  # the client's direction is still open
    reader.close()
    sock.close()


def test_then_stall_keeps_the_connection_silent_while_others_are_served(ruled: Rules) -> None:
    servers = ruled(
        {"name": "stall", "event": "command", "protocol": "imap", "verb": "NOOP", "then": "stall"}
    )
    stalled = RawLines(servers.endpoints["imap"].port)
    stalled.line()
    stalled.send(b"a NOOP\r\nb CAPABILITY\r\n")
    assert stalled.line().startswith(b"a OK")
    stalled.sock.settimeout(0.5)
    with pytest.raises(TimeoutError):
        stalled.line()  # CAPABILITY is never answered
    other = RawLines(servers.endpoints["imap"].port)
    assert other.line().startswith(b"* OK")
    other.send(b"c CAPABILITY\r\n")
    assert other.line().startswith(b"* CAPABILITY")
    other.close()
    stalled.close()


# -- TLS ----------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
def test_corrupt_tls_breaks_the_starttls_handshake(ruled: Rules, protocol: str) -> None:
    verb = {"imap": "STARTTLS", "pop3": "STLS", "smtp": "STARTTLS"}[protocol]
    servers = ruled({"name": "corrupt", "event": "command", "verb": verb, "corrupt_tls": True})
    context = servers.client_context()
    with pytest.raises((ssl.SSLError, ConnectionError)):
        if protocol == "imap":
            imaplib.IMAP4("127.0.0.1", servers.endpoints["imap"].port).starttls(context)
        elif protocol == "pop3":
            poplib.POP3("127.0.0.1", servers.endpoints["pop3"].port).stls(context)
        else:
            with smtplib.SMTP("127.0.0.1", servers.endpoints["submission"].port) as smtp:
                smtp.starttls(context=context)
    assert servers.rule_hits() == {"corrupt": 1}


def test_a_tls_rule_injects_after_the_handshake(ruled: Rules) -> None:
    servers = ruled(
        {"name": "inject", "event": "tls", "protocol": "imap", "send": "* OK [ALERT] after TLS"}
    )
    client = RawLines(servers.endpoints["imap"].port)
    client.line()
    client.send(b"a STARTTLS\r\n")
    assert client.line().startswith(b"a OK")
    context = servers.client_context()
    tls = context.wrap_socket(client.sock, server_hostname="127.0.0.1")
    assert tls.recv(100) == b"* OK [ALERT] after TLS\r\n"
    tls.close()


# -- capabilities, idle, bytes ------------------------------------------------------------


def test_capabilities_change_after_login(ruled: Rules) -> None:
    servers = ruled(
        {
            "name": "after-login",
            "event": "command",
            "verb": "LOGIN",
            "capabilities": {"add": ["X-GM-EXT-1"], "remove": ["IDLE"]},
        }
    )
    with _imaps(servers) as client:
        assert "IDLE" in client.capabilities
        client.login(*ALICE)
        status, data = client.capability()
    assert status == "OK"
    names = data[0].split()
    assert b"X-GM-EXT-1" in names
    assert b"IDLE" not in names


def test_capabilities_of_pop3_and_smtp_follow_the_rules(ruled: Rules) -> None:
    servers = ruled(
        {
            "name": "no-stls",
            "event": "connect",
            "protocol": "pop3",
            "capabilities": {"remove": ["STLS"]},
        },
        {
            "name": "no-8bit",
            "event": "connect",
            "protocol": "smtp",
            "capabilities": {"remove": ["8BITMIME"]},
        },
    )
    pop = poplib.POP3("127.0.0.1", servers.endpoints["pop3"].port)
    assert "STLS" not in pop.capa()
    assert "TOP" in pop.capa()
    pop.quit()
    with smtplib.SMTP("127.0.0.1", servers.endpoints["submission"].port) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("8bitmime")
        assert smtp.has_extn("starttls")


def test_an_idle_rule_acts_on_silence(ruled: Rules) -> None:
    servers = ruled(
        {
            "name": "nag",
            "event": "idle",
            "protocol": "imap",
            "after_ms": 200,
            "send": "* OK still there?",
        }
    )
    client = RawLines(servers.endpoints["imap"].port)
    client.line()
    assert client.line() == b"* OK still there?\r\n"
    client.send(b"a NOOP\r\n")
    assert client.line().startswith(b"a OK")
    client.close()


def test_a_bytes_rule_matches_what_the_client_sends(ruled: Rules) -> None:
    servers = ruled(
        {"name": "nul", "event": "bytes", "protocol": "smtp", "match": "\\x00", "then": "close"}
    )
    with smtplib.SMTP("127.0.0.1", servers.endpoints["submission"].port) as smtp:
        assert smtp.noop()[0] == 250  # a clean line is untouched
        smtp.sock.sendall(b"NOOP \x00\r\n")  # smtplib has no way to send a NUL otherwise
        assert smtp.sock.recv(100) == b""
    assert servers.rule_hits() == {"nul": 1}


def test_rules_swapped_at_run_time_reach_new_sessions(ruled: Rules) -> None:
    servers = ruled()
    with _imaps(servers) as client:
        assert client.noop()[0] == "OK"
    ruled_again = {"name": "no", "event": "command", "verb": "NOOP", "send": "{tag} NO later"}
    servers.use_rules(ruleset_from_data([ruled_again]))
    with _imaps(servers) as client:
        assert client.noop() == ("NO", [b"later"])
