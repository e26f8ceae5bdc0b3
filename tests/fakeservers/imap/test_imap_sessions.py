"""Several sessions on one mailbox: untagged updates, \\Recent ownership, IDLE."""

from __future__ import annotations

import pytest

from fakeservers.controller import FakeMailServers
from tests.fakeservers.imap.imap_raw_client import RawFactory, RawImap

ALICE = "alice@example.test"


def _selected(raw_imap: RawFactory, verb: bytes = b"SELECT") -> RawImap:
    client = raw_imap()
    client.login()
    assert client.command(b"S", verb + b" INBOX")[-1].startswith(b"S OK")
    return client


@pytest.fixture
def two(raw_imap: RawFactory, imap_server: FakeMailServers) -> tuple[RawImap, RawImap]:
    imap_server.store.deliver(ALICE, b"Subject: one\r\n\r\n1\r\n")
    imap_server.store.deliver(ALICE, b"Subject: two\r\n\r\n2\r\n")
    return _selected(raw_imap), _selected(raw_imap)


def test_new_message_is_announced_to_the_other_session(two: tuple[RawImap, RawImap]) -> None:
    first, second = two
    first.send(b"A APPEND INBOX {14}\r\n")
    assert first.line() == b"+ Ready for literal data\r\n"
    first.send(b"Subject: 3\r\n\r\n\r\n")
    first_lines = first.until_tagged(b"A")
    # The first session selected first: \Recent of all three messages is its own.
    assert first_lines[:2] == [b"* 3 EXISTS\r\n", b"* 3 RECENT\r\n"]
    assert second.command(b"N", b"NOOP") == [
        b"* 3 EXISTS\r\n",
        b"* 0 RECENT\r\n",  # the first session took \Recent
        b"N OK NOOP completed\r\n",
    ]
    assert second.command(b"N", b"NOOP") == [b"N OK NOOP completed\r\n"]  # told only once


def test_expunge_is_announced_to_the_other_session(two: tuple[RawImap, RawImap]) -> None:
    first, second = two
    assert first.command(b"D", b"STORE 1 +FLAGS.SILENT (\\Deleted)") == [
        b"D OK STORE completed\r\n"
    ]
    assert first.command(b"E", b"EXPUNGE") == [
        b"* 1 EXPUNGE\r\n",
        b"* 1 RECENT\r\n",  # the expunged message was one of its \\Recent ones
        b"E OK EXPUNGE completed\r\n",
    ]
    assert second.command(b"N", b"NOOP") == [
        b"* 1 EXPUNGE\r\n",  # its \Deleted flag change is not worth a FETCH any more
        b"N OK NOOP completed\r\n",
    ]
    assert second.command(b"F", b"FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")[-1] == (
        b"F OK FETCH completed\r\n"
    )


def test_expunge_waits_during_fetch_but_not_during_uid_fetch(
    two: tuple[RawImap, RawImap],
) -> None:
    first, second = two
    first.command(b"D", b"STORE 2 +FLAGS.SILENT (\\Deleted)")
    first.command(b"E", b"EXPUNGE")
    lines = second.command(b"F", b"FETCH 2 (UID)")
    assert b"* 2 EXPUNGE\r\n" not in lines  # RFC 3501 section 7.4.1
    assert lines[0] == b"* 2 FETCH (UID 2)\r\n"  # still served from the session's view
    assert second.command(b"U", b"UID FETCH 1 (UID)")[-2:] == [
        b"* 2 EXPUNGE\r\n",
        b"U OK UID FETCH completed\r\n",
    ]


def test_flag_changes_are_announced_to_the_other_session(two: tuple[RawImap, RawImap]) -> None:
    first, second = two
    assert first.command(b"T", b"STORE 2 +FLAGS (\\Flagged)") == [
        b"* 2 FETCH (FLAGS (\\Flagged \\Recent))\r\n",
        b"T OK STORE completed\r\n",
    ]
    assert second.command(b"N", b"NOOP") == [
        b"* 2 FETCH (FLAGS (\\Flagged))\r\n",
        b"N OK NOOP completed\r\n",
    ]
    assert first.command(b"N", b"NOOP") == [b"N OK NOOP completed\r\n"]  # no echo of its own


def test_recent_belongs_to_the_first_read_write_session(
    raw_imap: RawFactory, imap_server: FakeMailServers
) -> None:
    imap_server.store.deliver(ALICE, b"Subject: r\r\n\r\nr\r\n")
    examiner = _selected(raw_imap, b"EXAMINE")  # EXAMINE does not take \Recent
    first = _selected(raw_imap)
    second = _selected(raw_imap)
    assert examiner.command(b"R", b"SEARCH RECENT")[0] == b"* SEARCH 1\r\n"
    assert first.command(b"R", b"SEARCH RECENT")[0] == b"* SEARCH 1\r\n"
    assert second.command(b"R", b"SEARCH RECENT")[0] == b"* SEARCH\r\n"
    assert b"* 0 RECENT\r\n" in second.command(b"S", b"SELECT INBOX")


def test_idle_pushes_new_messages(raw_imap: RawFactory, imap_server: FakeMailServers) -> None:
    idler = _selected(raw_imap)
    idler.send(b"I IDLE\r\n")
    assert idler.line() == b"+ idling\r\n"
    imap_server.store.deliver(ALICE, b"Subject: pushed\r\n\r\n!\r\n")
    assert idler.line() == b"* 1 EXISTS\r\n"
    assert idler.line() == b"* 1 RECENT\r\n"
    idler.send(b"DONE\r\n")
    assert idler.line() == b"I OK IDLE terminated\r\n"


def test_idle_ended_by_anything_but_done_is_bad(raw_imap: RawFactory) -> None:
    idler = _selected(raw_imap)
    idler.send(b"I IDLE\r\n")
    assert idler.line() == b"+ idling\r\n"
    idler.send(b"NOOP\r\n")
    assert idler.line() == b"I BAD Expected DONE\r\n"
    assert idler.command(b"N", b"NOOP") == [b"N OK NOOP completed\r\n"]
