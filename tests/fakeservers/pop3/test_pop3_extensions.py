"""The fake POP3 server's RFC 2449 and RFC 6856 extensions, driven by poplib over TLS.

RESP-CODES and AUTH-RESP-CODE (RFC 2449 section 8, RFC 3206), LOGIN-DELAY
and EXPIRE (RFC 2449 sections 6.5 and 6.7) with values from the server
configuration, PIPELINING (RFC 2449 section 6.6) and UTF8 (RFC 6856).
"""

from __future__ import annotations

import poplib
import unicodedata
from collections.abc import Iterator

import pytest

from fakeservers.config import ServerConfig
from fakeservers.controller import ENDPOINTS, AccountSpec, FakeMailServers
from fakeservers.pki import TestPKI

ALICE = "alice@example.test"
JORG = "jörg@example.test"
JORG_PASSWORD = "pässwörd"


def start(pki: TestPKI, config: ServerConfig | None = None) -> FakeMailServers:
    ports = {spec.name: (0 if spec.protocol == "pop3" else None) for spec in ENDPOINTS}
    accounts = (AccountSpec(ALICE, "alice-pass"), AccountSpec(JORG, JORG_PASSWORD))
    return FakeMailServers(ports=ports, pki=pki, accounts=accounts, config=config)


@pytest.fixture
def servers(mail_pki: TestPKI) -> Iterator[FakeMailServers]:
    with start(mail_pki) as running:
        for number in range(2):
            running.store.deliver(ALICE, f"Subject: {number}\r\n\r\nbody\r\n".encode())
        yield running


def connect(servers: FakeMailServers) -> poplib.POP3_SSL:
    return poplib.POP3_SSL(
        servers.host, servers.endpoints["pop3s"].port, context=servers.client_context(), timeout=5
    )


def login(servers: FakeMailServers, user: str = ALICE, password: str = "alice-pass") -> poplib.POP3:
    client = connect(servers)
    client.user(user)
    client.pass_(password)
    return client


# -- CAPA ------------------------------------------------------------------------------


def test_capa_defaults(servers: FakeMailServers) -> None:
    client = connect(servers)
    capa = client.capa()
    for name in ("RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"):
        assert capa[name] == []
    assert capa["UTF8"] == ["USER"]
    assert capa["LOGIN-DELAY"] == ["0"] and capa["EXPIRE"] == ["NEVER"]
    client.quit()


def test_capa_carries_the_configured_values(mail_pki: TestPKI) -> None:
    with start(mail_pki, ServerConfig(pop3_login_delay=900, pop3_expire=0)) as servers:
        client = connect(servers)
        capa = client.capa()
        client.quit()
    assert capa["LOGIN-DELAY"] == ["900"] and capa["EXPIRE"] == ["0"]


# -- response codes --------------------------------------------------------------------


def test_auth_and_in_use_response_codes(servers: FakeMailServers) -> None:
    client = connect(servers)
    client.user(ALICE)
    with pytest.raises(poplib.error_proto, match=r"^b'-ERR \[AUTH\] "):
        client.pass_("wrong")
    first = login(servers)
    second = connect(servers)
    second.user(ALICE)
    with pytest.raises(poplib.error_proto, match=r"^b'-ERR \[IN-USE\] "):
        second.pass_("alice-pass")
    first.quit()
    second.close()
    client.close()


# -- LOGIN-DELAY -----------------------------------------------------------------------


def test_login_delay_refuses_a_second_login_too_soon(mail_pki: TestPKI) -> None:
    with start(mail_pki, ServerConfig(pop3_login_delay=3600)) as servers:
        login(servers).quit()
        client = connect(servers)
        client.user(ALICE)
        with pytest.raises(poplib.error_proto, match=r"^b'-ERR \[LOGIN-DELAY\] "):
            client.pass_("alice-pass")
        client.close()
        login(servers, JORG, JORG_PASSWORD).quit()  # per user: others log in


def test_no_login_delay_by_default(servers: FakeMailServers) -> None:
    login(servers).quit()
    login(servers).quit()


# -- EXPIRE ----------------------------------------------------------------------------


def test_expire_zero_deletes_retrieved_messages_at_quit(mail_pki: TestPKI) -> None:
    with start(mail_pki, ServerConfig(pop3_expire=0)) as servers:
        for number in range(2):
            servers.store.deliver(ALICE, f"Subject: {number}\r\n\r\nbody\r\n".encode())
        client = login(servers)
        client.retr(2)
        client.top(1, 0)  # TOP is not retrieval
        client.quit()
        remaining = [m.data for m in servers.store.mailbox(ALICE, "INBOX").messages]
    assert remaining == [b"Subject: 0\r\n\r\nbody\r\n"]


def test_expire_never_keeps_retrieved_messages(servers: FakeMailServers) -> None:
    client = login(servers)
    client.retr(1)
    client.quit()
    assert len(servers.store.mailbox(ALICE, "INBOX").messages) == 2


# -- PIPELINING ------------------------------------------------------------------------


def test_pipelined_commands_are_answered_in_order(servers: FakeMailServers) -> None:
    client = connect(servers)
    client.sock.sendall(b"USER alice@example.test\r\nPASS alice-pass\r\nSTAT\r\nLIST 2\r\nNOOP\r\n")
    replies = [client.file.readline() for _ in range(5)]
    assert [r.split()[0] for r in replies] == [b"+OK"] * 5
    assert replies[2].startswith(b"+OK 2 ") and replies[3].startswith(b"+OK 2 ")
    client.quit()


# -- UTF8 (RFC 6856) -------------------------------------------------------------------


def test_utf8_then_utf8_user_and_password(servers: FakeMailServers) -> None:
    client = connect(servers)
    assert client.utf8().startswith(b"+OK")
    client.user(JORG)
    # RFC 6856 section 2: the server compares in NFC, whatever form the client sent.
    client._shortcmd(f"PASS {unicodedata.normalize('NFD', JORG_PASSWORD)}")
    assert client.stat() == (0, 0)
    client.quit()


def test_utf8_is_refused_after_login(servers: FakeMailServers) -> None:
    client = login(servers)
    with pytest.raises(poplib.error_proto, match="TRANSACTION"):
        client.utf8()
    client.quit()
