"""imaplib, a third-party client, drives IDLE, MOVE, UIDPLUS and CONDSTORE on the fake server.

Only imaplib's public API is used: ``select``, ``uid``, ``xatom``, ``append``,
``status``, ``enable``, ``response``, and ``send``/``readline`` for IDLE
(which imaplib before Python 3.14 has no method for).
"""

from __future__ import annotations

import imaplib
import re
from collections.abc import Iterator

import pytest

from fakeservers.controller import FakeMailServers

ALICE = ("alice@example.test", "alice-pass")
MESSAGE = b"From: bob@example.test\r\nSubject: hello\r\n\r\nbody\r\n"


def _connect(servers: FakeMailServers) -> imaplib.IMAP4:
    client = imaplib.IMAP4_SSL(
        "127.0.0.1", servers.endpoints["imaps"].port, ssl_context=servers.client_context()
    )
    client.login(*ALICE)
    return client


@pytest.fixture
def client(imap_server: FakeMailServers) -> Iterator[imaplib.IMAP4]:
    for _ in range(3):
        imap_server.store.deliver(ALICE[0], MESSAGE)
    connection = _connect(imap_server)
    yield connection
    connection.logout()


def test_capabilities_list_the_extensions(client: imaplib.IMAP4) -> None:
    for name in ("IDLE", "MOVE", "UIDPLUS", "CONDSTORE", "QRESYNC", "ENABLE", "ESEARCH"):
        assert name in client.capabilities
    assert "X-GM-EXT-1" not in client.capabilities  # off unless switched on


def test_uidplus_appenduid_and_uid_expunge(
    client: imaplib.IMAP4, imap_server: FakeMailServers
) -> None:
    status, data = client.append("INBOX", "", imaplib.Time2Internaldate(0), MESSAGE)
    assert status == "OK"
    uidvalidity = imap_server.store.mailbox(ALICE[0], "INBOX").uidvalidity
    assert data == [b"[APPENDUID %d 4] APPEND completed" % uidvalidity]
    client.select("INBOX")
    client.uid("STORE", "1:2", "+FLAGS.SILENT", "(\\Deleted)")
    status, data = client.uid("EXPUNGE", "2")  # only UID 2, though 1 is \Deleted too
    assert status == "OK"
    assert client.response("EXPUNGE") == ("EXPUNGE", [b"2"])
    assert [m.uid for m in imap_server.store.mailbox(ALICE[0], "INBOX").messages] == [1, 3, 4]
    status, data = client.uid("EXPUNGE", "99")
    assert (status, client.response("EXPUNGE")) == ("OK", ("EXPUNGE", [None]))


def test_move_and_uid_move(client: imaplib.IMAP4, imap_server: FakeMailServers) -> None:
    client.select("INBOX")
    status, data = client.xatom("MOVE", "1", "Archive")
    assert status == "OK"
    archive = imap_server.store.mailbox(ALICE[0], "Archive")
    assert client.response("OK")[1][0] == b"[COPYUID %d 1 1] Moved" % archive.uidvalidity
    assert client.response("EXPUNGE") == ("EXPUNGE", [b"1"])
    status, data = client.uid("MOVE", "3", "Archive")
    assert status == "OK"
    assert [m.uid for m in archive.messages] == [1, 2]
    assert [m.uid for m in imap_server.store.mailbox(ALICE[0], "INBOX").messages] == [2]
    status, data = client.uid("MOVE", "2", "Nowhere")
    assert (status, data) == ("NO", [b"[TRYCREATE] No mailbox Nowhere"])


def test_condstore_through_imaplib(client: imaplib.IMAP4, imap_server: FakeMailServers) -> None:
    assert client.enable("CONDSTORE") == ("OK", [b"ENABLE completed"])
    client.select("INBOX")
    (highest,) = client.response("HIGHESTMODSEQ")[1]
    assert highest is not None
    status, data = client.uid(
        "STORE", "2", f"(UNCHANGEDSINCE {highest.decode()})", "+FLAGS", "(\\Flagged)"
    )
    assert status == "OK"
    line = data[0]
    assert isinstance(line, bytes)
    changed = re.search(rb"MODSEQ \((\d+)\)", line)
    assert changed is not None and int(changed.group(1)) > int(highest)
    status, data = client.uid("FETCH", "1:*", "(FLAGS)", f"(CHANGEDSINCE {highest.decode()})")
    assert status == "OK"
    assert data == [b"2 (UID 2 FLAGS (\\Flagged \\Recent) MODSEQ (%s))" % changed.group(1)]
    # The same conditional store again: message 2 has changed since.
    status, data = client.uid(
        "STORE", "2", f"(UNCHANGEDSINCE {highest.decode()})", "-FLAGS", "(\\Flagged)"
    )
    assert (status, data) == ("OK", [None])  # no FETCH: nothing was stored
    assert client.response("MODIFIED") == ("MODIFIED", [b"2"])
    status, data = client.status("INBOX", "(HIGHESTMODSEQ)")
    assert data == [b'"INBOX" (HIGHESTMODSEQ %s)' % changed.group(1)]


def test_idle_through_imaplib_sees_a_delivery(
    client: imaplib.IMAP4, imap_server: FakeMailServers
) -> None:
    client.select("INBOX")
    client.send(b"I1 IDLE\r\n")
    assert client.readline() == b"+ idling\r\n"
    imap_server.store.deliver(ALICE[0], MESSAGE)
    assert client.readline() == b"* 4 EXISTS\r\n"
    assert client.readline() == b"* 4 RECENT\r\n"
    client.send(b"DONE\r\n")
    assert client.readline() == b"I1 OK IDLE terminated\r\n"
    client.send(b"I2 IDLE\r\n")
    assert client.readline() == b"+ idling\r\n"
    client.send(b"NOOP\r\n")  # anything but DONE ends IDLE as BAD
    assert client.readline() == b"I2 BAD Expected DONE\r\n"
    assert client.noop()[0] == "OK"
