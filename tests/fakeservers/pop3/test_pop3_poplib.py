"""The fake POP3 server driven by the standard library's poplib, TLS verified."""

from __future__ import annotations

import poplib
import re
from collections.abc import Iterator

import pytest

from fakeservers.controller import FakeMailServers

ALICE = "alice@example.test"
MESSAGES = (
    b"Subject: first\r\n\r\n.leading dot\r\n..two dots\r\n.\r\n8-bit \xe9\xff\r\n",
    b"Subject: second\r\nX-A: b\r\n\r\nline 1\r\nline 2\r\nline 3\r\n",
    b"Subject: third\r\n\r\nno final line end",
)


@pytest.fixture
def servers(pop3_server: FakeMailServers) -> FakeMailServers:
    for data in MESSAGES:
        pop3_server.store.deliver(ALICE, data)
    return pop3_server


def connect_stls(servers: FakeMailServers) -> poplib.POP3:
    client = poplib.POP3(servers.host, servers.endpoints["pop3"].port, timeout=5)
    client.stls(context=servers.client_context())
    return client


def connect_tls(servers: FakeMailServers) -> poplib.POP3_SSL:
    return poplib.POP3_SSL(
        servers.host, servers.endpoints["pop3s"].port, context=servers.client_context(), timeout=5
    )


@pytest.fixture
def alice(servers: FakeMailServers) -> Iterator[poplib.POP3_SSL]:
    client = connect_tls(servers)
    client.user(ALICE)
    client.pass_("alice-pass")
    yield client
    client.close()


def joined(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\r\n" for line in lines)


def inbox(servers: FakeMailServers) -> list[bytes]:
    return [m.data for m in servers.store.mailbox(ALICE, "INBOX").messages]


# -- TLS and login --------------------------------------------------------------------


def test_greeting_carries_an_apop_timestamp(servers: FakeMailServers) -> None:
    client = connect_tls(servers)
    assert re.fullmatch(rb"\+OK mailcompat POP3 ready <\d+\.\d+@localhost>", client.getwelcome())
    client.quit()


def test_stls_then_login_and_capabilities_change(servers: FakeMailServers) -> None:
    client = poplib.POP3(servers.host, servers.endpoints["pop3"].port, timeout=5)
    before = client.capa()
    assert "STLS" in before and "USER" not in before and "SASL" not in before
    client.stls(context=servers.client_context())
    after = client.capa()
    assert "STLS" not in after and "USER" in after
    assert after["SASL"] == [
        "PLAIN",
        "LOGIN",
        "CRAM-MD5",
        "SCRAM-SHA-1",
        "SCRAM-SHA-256",
        "XOAUTH2",
        "OAUTHBEARER",
    ]
    client.user(ALICE)
    assert client.pass_("alice-pass").startswith(b"+OK")
    assert client.stat() == (3, sum(map(len, MESSAGES)))
    client.quit()


@pytest.mark.parametrize("command", ["user", "apop"])
def test_credentials_refused_before_stls(servers: FakeMailServers, command: str) -> None:
    client = poplib.POP3(servers.host, servers.endpoints["pop3"].port, timeout=5)
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        if command == "user":
            client.user(ALICE)
        else:
            client.apop(ALICE, "alice-pass")
    client.quit()


def test_stls_not_offered_on_implicit_tls(servers: FakeMailServers) -> None:
    client = connect_tls(servers)
    assert "STLS" not in client.capa()
    client.quit()


def test_wrong_password_is_refused_with_auth_code(servers: FakeMailServers) -> None:
    client = connect_tls(servers)
    client.user(ALICE)
    with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\]"):
        client.pass_("bob-pass")
    client.user(ALICE)  # still in AUTHORIZATION: may try again
    assert client.pass_("alice-pass").startswith(b"+OK")
    client.quit()


def test_apop_right_and_wrong_digest(servers: FakeMailServers) -> None:
    client = connect_tls(servers)
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        client.apop(ALICE, "wrong")
    assert client.apop(ALICE, "alice-pass").startswith(b"+OK")
    client.quit()


# -- TRANSACTION ------------------------------------------------------------------------


def test_list_uidl_and_single_forms(alice: poplib.POP3_SSL) -> None:
    _, listing, _ = alice.list()
    assert listing == [f"{n} {len(m)}".encode() for n, m in enumerate(MESSAGES, 1)]
    single: object = alice.list(2)  # poplib returns the response line when given a number
    assert single == f"+OK 2 {len(MESSAGES[1])}".encode()
    _, uids, _ = alice.uidl()
    assert len({line.split()[1] for line in uids}) == 3
    assert alice.uidl(2).split()[1:] == uids[1].split()
    with pytest.raises(poplib.error_proto):
        alice.list(4)


def test_uidl_is_stable_across_sessions(servers: FakeMailServers) -> None:
    first = connect_tls(servers)
    first.user(ALICE)
    first.pass_("alice-pass")
    before = first.uidl()[1]
    first.dele(1)
    first.quit()
    second = connect_tls(servers)
    second.user(ALICE)
    second.pass_("alice-pass")
    after = second.uidl()[1]
    second.quit()
    # message 2 and 3 keep their unique ids, renumbered as 1 and 2
    assert [line.split()[1] for line in after] == [line.split()[1] for line in before[1:]]


def test_retr_is_byte_exact_with_dot_lines_and_8bit(alice: poplib.POP3_SSL) -> None:
    for number, data in enumerate(MESSAGES[:2], 1):
        response, lines, _ = alice.retr(number)
        assert response.startswith(b"+OK")
        assert joined(lines) == data


def test_retr_of_message_without_final_crlf_gets_one(alice: poplib.POP3_SSL) -> None:
    _, lines, _ = alice.retr(3)
    assert joined(lines) == MESSAGES[2] + b"\r\n"


def test_top(alice: poplib.POP3_SSL) -> None:
    assert joined(alice.top(2, 0)[1]) == b"Subject: second\r\nX-A: b\r\n\r\n"
    assert joined(alice.top(2, 2)[1]) == b"Subject: second\r\nX-A: b\r\n\r\nline 1\r\nline 2\r\n"
    with pytest.raises(poplib.error_proto):
        alice.top(9, 0)


def test_dele_then_quit_deletes(servers: FakeMailServers, alice: poplib.POP3_SSL) -> None:
    alice.dele(1)
    with pytest.raises(poplib.error_proto):
        alice.retr(1)  # a deleted message cannot be accessed
    with pytest.raises(poplib.error_proto):
        alice.dele(1)
    assert alice.stat()[0] == 2
    assert len(inbox(servers)) == 3  # nothing happens before QUIT
    alice.quit()
    assert inbox(servers) == list(MESSAGES[1:])


def test_dele_then_dropped_connection_deletes_nothing(servers: FakeMailServers) -> None:
    client = connect_tls(servers)
    client.user(ALICE)
    client.pass_("alice-pass")
    client.dele(1)
    client.dele(2)
    client.close()  # no QUIT: no UPDATE state
    relogin = connect_tls(servers)  # also proves the lock was released
    relogin.user(ALICE)
    relogin.pass_("alice-pass")
    relogin.quit()
    assert inbox(servers) == list(MESSAGES)


def test_rset_unmarks(servers: FakeMailServers, alice: poplib.POP3_SSL) -> None:
    alice.dele(1)
    alice.rset()
    assert alice.stat()[0] == 3
    alice.noop()
    alice.quit()
    assert inbox(servers) == list(MESSAGES)


def test_maildrop_lock_across_both_endpoints(servers: FakeMailServers) -> None:
    first = connect_stls(servers)
    first.user(ALICE)
    first.pass_("alice-pass")
    second = connect_tls(servers)
    second.user(ALICE)
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        second.pass_("alice-pass")
    other = connect_tls(servers)  # another account is not affected
    other.user("bob@example.test")
    assert other.pass_("bob-pass").startswith(b"+OK")
    first.quit()
    second.user(ALICE)
    assert second.pass_("alice-pass").startswith(b"+OK")
    second.quit()
    other.quit()


def test_transaction_commands_refused_before_login(servers: FakeMailServers) -> None:
    client = connect_tls(servers)
    for command in (client.stat, client.list, client.noop):
        with pytest.raises(poplib.error_proto):
            command()
    client.quit()
