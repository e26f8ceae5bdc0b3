"""Two sessions on one mailbox see each other's changes through IDLE (RFC 2177).

One session idles while the other stores flags, expunges and moves: the
idler gets FETCH (FLAGS ...) and EXPUNGE as they happen; once it has enabled
QRESYNC, FETCH carries UID and MODSEQ and expunges arrive as VANISHED
(RFC 7162 sections 3.1.2 and 3.2.10).
"""

from __future__ import annotations

import pytest

from fakeservers.controller import FakeMailServers
from tests.fakeservers.imap.imap_raw_client import RawFactory, RawImap

ALICE = "alice@example.test"


@pytest.fixture
def pair(raw_imap: RawFactory, imap_server: FakeMailServers) -> tuple[RawImap, RawImap]:
    """(idler, actor), both logged in; INBOX holds three messages."""
    for number in range(3):
        imap_server.store.deliver(ALICE, b"Subject: %d\r\n\r\n.\r\n" % number)
    idler, actor = raw_imap(), raw_imap()
    idler.login()
    actor.login()
    return idler, actor


def _idle(client: RawImap) -> None:
    client.send(b"I IDLE\r\n")
    assert client.line() == b"+ idling\r\n"


def _done(client: RawImap) -> None:
    client.send(b"DONE\r\n")
    assert client.line() == b"I OK IDLE terminated\r\n"


def test_idle_sees_flags_and_expunges_of_another_session(
    pair: tuple[RawImap, RawImap],
) -> None:
    idler, actor = pair
    idler.command(b"S", b"SELECT INBOX")
    actor.command(b"S", b"SELECT INBOX")
    _idle(idler)
    assert actor.command(b"T", b"STORE 2 +FLAGS.SILENT (\\Flagged)") == [
        b"T OK STORE completed\r\n"
    ]
    assert idler.line() == b"* 2 FETCH (FLAGS (\\Flagged \\Recent))\r\n"
    actor.command(b"D", b"STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert idler.line() == b"* 1 FETCH (FLAGS (\\Deleted \\Recent))\r\n"
    actor.command(b"E", b"EXPUNGE")
    assert idler.line() == b"* 1 EXPUNGE\r\n"
    assert idler.line() == b"* 2 RECENT\r\n"  # its \\Recent message went (RFC 3501 7.3.2)
    actor.command(b"M", b"MOVE 2 Archive")  # the old message 3
    assert idler.line() == b"* 2 EXPUNGE\r\n"
    assert idler.line() == b"* 1 RECENT\r\n"
    _done(idler)
    assert idler.command(b"N", b"NOOP") == [b"N OK NOOP completed\r\n"]  # nothing told twice


def test_idle_under_qresync_sees_vanished_and_modseq(
    pair: tuple[RawImap, RawImap], imap_server: FakeMailServers
) -> None:
    idler, actor = pair
    idler.command(b"E", b"ENABLE QRESYNC")
    idler.command(b"S", b"SELECT INBOX")
    actor.command(b"S", b"SELECT INBOX")
    _idle(idler)
    actor.command(b"T", b"UID STORE 3 +FLAGS.SILENT (\\Seen)")
    modseq = imap_server.store.mailbox(ALICE, "INBOX").messages[2].modseq
    assert idler.line() == b"* 3 FETCH (FLAGS (\\Recent \\Seen) UID 3 MODSEQ (%d))\r\n" % modseq
    actor.command(b"D", b"STORE 1:2 +FLAGS.SILENT (\\Deleted)")
    assert idler.line().startswith(b"* 1 FETCH (FLAGS (\\Deleted")
    assert idler.line().startswith(b"* 2 FETCH (FLAGS (\\Deleted")
    actor.command(b"E", b"EXPUNGE")
    assert idler.line() == b"* VANISHED 1:2\r\n"
    assert idler.line() == b"* 1 RECENT\r\n"
    _done(idler)


def test_a_session_without_a_selected_mailbox_is_told_nothing(
    pair: tuple[RawImap, RawImap],
) -> None:
    idler, actor = pair
    _idle(idler)  # IDLE in the authenticated state: nothing to watch
    actor.command(b"S", b"SELECT INBOX")
    actor.command(b"D", b"STORE 1 +FLAGS.SILENT (\\Deleted)")
    actor.command(b"E", b"EXPUNGE")
    _done(idler)  # the first line after DONE is the tagged OK: no update came
