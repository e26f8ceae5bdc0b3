"""POP3 command parsing and the maildrop's wire form (dot-stuffing, TOP)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fakeservers.pop3.command import (
    Command,
    CommandError,
    line_count,
    message_number,
    parse_command,
    split_arguments,
)
from fakeservers.pop3.maildrop import Maildrop, as_lines, multiline, top
from fakeservers.store import MailStore

# -- parse_command --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"stat\r\n", Command("STAT", "")),
        (b"LIST 2\r\n", Command("LIST", "2")),
        (b"TOP 1 10\n", Command("TOP", "1 10")),  # bare LF tolerated
        (b"utf8\r\n", Command("UTF8", "")),  # RFC 6856: a digit in the keyword
        (b"PASS secret with spaces\r\n", Command("PASS", "secret with spaces")),
        ("USER j\u00f6rg@example.test\r\n".encode(), Command("USER", "j\u00f6rg@example.test")),
    ],
)
def test_parse_valid_commands(line: bytes, expected: Command) -> None:
    assert parse_command(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        b"\r\n",
        b"ST\r\n",  # too short
        b"STATS\r\n",  # too long
        b" STAT\r\n",
        b"ST-T\r\n",
        b"USER \xff\xfe\r\n",  # not UTF-8
        b"USER a\x00b\r\n",  # control character
    ],
)
def test_parse_rejects_non_commands(line: bytes) -> None:
    with pytest.raises(CommandError):
        parse_command(line)


@given(st.binary(max_size=300))
def test_parse_never_raises_anything_but_command_error(line: bytes) -> None:
    try:
        command = parse_command(line)
    except CommandError:
        return
    assert command.keyword.isupper() and 3 <= len(command.keyword) <= 4


def test_split_arguments_counts_and_single_spaces() -> None:
    assert split_arguments("1 10", minimum=2, maximum=2) == ["1", "10"]
    assert split_arguments("", minimum=0, maximum=1) == []
    for bad in ("1  10", "1", "1 2 3", " 1 2"):
        with pytest.raises(CommandError):
            split_arguments(bad, minimum=2, maximum=2)


def test_message_numbers_and_line_counts() -> None:
    assert message_number("7") == 7
    assert line_count("0") == 0
    for bad in ("0", "-1", "x", "\u0661", "99999999999"):  # U+0661 is an Arabic-Indic digit
        with pytest.raises(CommandError):
            message_number(bad)
    with pytest.raises(CommandError):
        line_count("-1")


# -- wire form ------------------------------------------------------------------------


def test_multiline_dot_stuffs_every_line_start() -> None:
    data = b".first\r\nmid\r\n..two\r\n.\r\nlast\r\n"
    assert multiline(data) == b"..first\r\nmid\r\n...two\r\n..\r\nlast\r\n.\r\n"


def test_multiline_adds_crlf_only_when_missing() -> None:
    assert multiline(b"a\r\nb") == b"a\r\nb\r\n.\r\n"
    assert multiline(b"a\r\n") == b"a\r\n.\r\n"
    assert multiline(b"") == b".\r\n"


@given(st.binary(max_size=500))
def test_multiline_unstuffs_back_to_the_message(data: bytes) -> None:
    wire = multiline(data)
    assert wire.endswith(b".\r\n")
    body = wire[:-3]
    # Lines end in CRLF only (a bare LF goes as CRLF), and a client removes one
    # leading dot from each line (RFC 1939 section 3).
    assert re.search(rb"(?<!\r)\n", body) is None
    unstuffed = re.sub(rb"(?m)^\.", b"", body)
    lines = as_lines(data)
    expected = lines if lines.endswith(b"\r\n") or not lines else lines + b"\r\n"
    assert unstuffed == expected
    # and the terminator cannot appear earlier
    assert b"\r\n.\r\n" not in b"\r\n" + body


def test_top_keeps_header_blank_line_and_n_body_lines() -> None:
    data = b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n"
    assert top(data, 0) == b"A: 1\r\nB: 2\r\n\r\n"
    assert top(data, 2) == b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n"
    assert top(data, 99) == data
    assert top(b"A: 1\r\nB: 2\r\n", 1) == b"A: 1\r\nB: 2\r\n"  # header only


# -- maildrop -------------------------------------------------------------------------


@pytest.fixture
def store() -> MailStore:
    store = MailStore()
    store.add_account("alice@example.test", "pw")
    for body in (b"one\r\n", b"two\r\n", b"three\r\n"):
        store.deliver("alice@example.test", body)
    return store


def test_maildrop_numbers_are_fixed_and_deletion_waits_for_commit(store: MailStore) -> None:
    drop = Maildrop(store, "alice@example.test")
    assert drop.delete(2) and not drop.delete(2)
    assert drop.get(2) is None and drop.get(3) is not None
    assert [n for n, _ in drop.listing()] == [1, 3]
    assert len(store.mailbox("alice@example.test", "INBOX").messages) == 3
    assert drop.commit() == 1
    remaining = [m.data for m in store.mailbox("alice@example.test", "INBOX").messages]
    assert remaining == [b"one\r\n", b"three\r\n"]


def test_maildrop_reset_and_bounds(store: MailStore) -> None:
    drop = Maildrop(store, "alice@example.test")
    drop.delete(1)
    drop.reset()
    assert drop.commit() == 0
    assert drop.get(0) is None and drop.get(4) is None and not drop.delete(4)


def test_maildrop_ignores_mail_arriving_during_the_session(store: MailStore) -> None:
    drop = Maildrop(store, "alice@example.test")
    store.deliver("alice@example.test", b"four\r\n")
    assert len(drop.listing()) == 3
    assert Maildrop(store, "alice@example.test").get(4) is not None
