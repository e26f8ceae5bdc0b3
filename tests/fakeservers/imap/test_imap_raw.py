"""Hostile and malformed input over raw sockets: each gets a protocol answer, and
the session goes on or closes cleanly while another session keeps working."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from fakeservers.config import Limits, ServerConfig
from fakeservers.controller import FakeMailServers
from fakeservers.pki import TestPKI
from tests.fakeservers.imap.imap_raw_client import RawFactory, RawImap


@pytest.fixture
def bystander(raw_imap: RawFactory) -> RawImap:
    """A second, logged-in session that must not notice the trouble."""
    client = raw_imap()
    client.login()
    assert client.command(b"S", b"SELECT INBOX")[-1].startswith(b"S OK")
    return client


def _still_serves(client: RawImap) -> None:
    assert client.command(b"N", b"NOOP")[-1] == b"N OK NOOP completed\r\n"


def test_greeting_names_capabilities_and_host(raw_imap: RawFactory) -> None:
    greeting = raw_imap().greeting
    assert greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN ")
    assert greeting.endswith(b"] localhost mailcompat IMAP4rev1 ready\r\n")


def test_unknown_command_is_bad_and_session_goes_on(
    raw_imap: RawFactory, bystander: RawImap
) -> None:
    client = raw_imap()
    assert client.command(b"a1", b"FROBNICATE now") == [b"a1 BAD unknown command FROBNICATE\r\n"]
    _still_serves(client)


def test_command_in_the_wrong_state_is_bad(raw_imap: RawFactory) -> None:
    client = raw_imap()
    assert client.command(b"a1", b"FETCH 1 FLAGS") == [
        b"a1 BAD FETCH is not allowed in the not authenticated state\r\n"
    ]
    client.login()
    assert client.command(b"a2", b"FETCH 1 FLAGS")[-1].startswith(b"a2 BAD FETCH is not allowed")


def test_100k_command_line_is_bad(raw_imap: RawFactory, bystander: RawImap) -> None:
    client = raw_imap()
    client.send(b"a1 NOOP " + b"x" * 100_000 + b"\r\n")
    assert client.line() == b"* BAD Command line too long (limit 65536 octets)\r\n"
    _still_serves(client)
    _still_serves(bystander)


def test_4gb_literal_is_refused_before_the_continuation(
    raw_imap: RawFactory, bystander: RawImap
) -> None:
    client = raw_imap()
    client.login()
    client.send(b"a1 APPEND INBOX {4294967296}\r\n")
    reply = client.line()
    assert reply.startswith(b"a1 NO [TOOBIG] literal of 4294967296 octets is over the limit")
    _still_serves(client)
    _still_serves(bystander)


def test_literal_within_the_limit_gets_a_continuation(raw_imap: RawFactory) -> None:
    client = raw_imap()
    client.login()
    client.send(b"a1 APPEND INBOX {4}\r\n")
    assert client.line() == b"+ Ready for literal data\r\n"
    client.send(b"x\r\n\r\n")
    assert client.until_tagged(b"a1")[-1].startswith(b"a1 OK [APPENDUID ")


def test_oversized_non_synchronizing_literal_ends_the_session(
    raw_imap: RawFactory, bystander: RawImap
) -> None:
    client = raw_imap()
    client.login()
    client.send(b"a1 APPEND INBOX {4294967296+}\r\nabc")
    assert client.line().startswith(b"* BYE literal of 4294967296 octets is over the limit")
    assert client.at_eof()
    _still_serves(bystander)


def test_non_synchronizing_literal_needs_no_continuation(raw_imap: RawFactory) -> None:
    client = raw_imap()
    client.send(b"a1 LOGIN {18+}\r\nalice@example.test {10+}\r\nalice-pass\r\n")
    assert client.until_tagged(b"a1")[-1].startswith(b"a1 OK [CAPABILITY ")


def test_non_utf8_bytes_are_bad(raw_imap: RawFactory, bystander: RawImap) -> None:
    client = raw_imap()
    client.send(b'a1 LOGIN "\xff\xfe" x\r\n\xc3\x28 NOOP\r\n')
    assert client.line() == b"a1 BAD user name is not valid UTF-8\r\n"
    assert client.line().startswith(b"* BAD expected a tag")
    _still_serves(client)


def test_disconnect_mid_literal_ends_only_that_session(
    raw_imap: RawFactory, bystander: RawImap, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="fakeservers")
    client = raw_imap()
    client.login()
    client.send(b"a1 APPEND INBOX {100}\r\n")
    assert client.line() == b"+ Ready for literal data\r\n"
    client.send(b"only ten..")
    client.close()
    _still_serves(bystander)  # the dropped session is gone by the time this returns
    assert bystander.command(b"X", b"STATUS INBOX (MESSAGES)")[0] == (
        b'* STATUS "INBOX" (MESSAGES 0)\r\n'
    )
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


def test_disconnect_mid_command_ends_only_that_session(
    raw_imap: RawFactory, bystander: RawImap
) -> None:
    client = raw_imap()
    client.send(b"a1 LOGIN alice@exa")
    client.close()
    _still_serves(bystander)


def test_too_many_bad_commands_get_bye(imap_server: FakeMailServers, raw_imap: RawFactory) -> None:
    client = raw_imap()
    limit = imap_server.config.limits.max_bad_commands
    client.send(b"".join(b"b%d BOGUS\r\n" % n for n in range(limit)))
    replies = [client.line() for _ in range(limit)]
    assert all(b" BAD unknown command BOGUS" in line for line in replies)
    assert client.line() == b"* BYE Too many invalid commands\r\n"
    assert client.at_eof()


def test_bad_commands_interleaved_with_good_ones_do_not_count(
    imap_server: FakeMailServers, raw_imap: RawFactory
) -> None:
    client = raw_imap()
    limit = imap_server.config.limits.max_bad_commands
    client.send(b"".join(b"b%d BOGUS\r\nn%d NOOP\r\n" % (n, n) for n in range(limit)))
    replies = [client.line() for _ in range(2 * limit)]
    assert replies[-1] == b"n%d OK NOOP completed\r\n" % (limit - 1)
    _still_serves(client)


def test_pipelined_commands_after_starttls_are_discarded(
    imap_server: FakeMailServers, raw_imap: RawFactory
) -> None:
    client = raw_imap(tls=False)
    client.send(b"a1 STARTTLS\r\na2 LOGIN alice@example.test alice-pass\r\n")
    assert client.line() == b"a1 OK Begin TLS negotiation now\r\n"
    context = imap_server.client_context()
    client.sock = context.wrap_socket(client.sock, server_hostname="127.0.0.1")
    client.reader = client.sock.makefile("rb")
    # a2 came before TLS: it was thrown away, so the first answer is a3's.
    assert client.command(b"a3", b"CAPABILITY")[-1] == b"a3 OK CAPABILITY completed\r\n"


def test_idle_timeout_says_autologout(mail_pki: TestPKI) -> None:
    config = replace(ServerConfig(), limits=Limits(idle_timeout=0.2))
    ports: dict[str, int | None] = {"imaps": 0, "imap": None, "pop3": None, "pop3s": None}
    ports |= {"submission": None, "submissions": None}
    with FakeMailServers(ports=ports, config=config, pki=mail_pki) as servers:
        client = RawImap(servers.endpoints["imaps"].port, servers.client_context())
        assert client.line() == b"* BYE Autologout; idle for too long\r\n"
        assert client.at_eof()
        client.close()


def test_open_sessions_end_when_the_servers_stop(
    imap_server: FakeMailServers, raw_imap: RawFactory
) -> None:
    client = raw_imap()
    client.login()
    _still_serves(client)  # open and working while the servers run
    imap_server.stop()
    assert client.at_eof()
