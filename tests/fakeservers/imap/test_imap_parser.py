"""The IMAP command grammar: valid commands, malformed ones, and arbitrary bytes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fakeservers.imap import utf7
from fakeservers.imap.dates import DateError, format_date_time, parse_date, parse_date_time
from fakeservers.imap.dispatch import COMMANDS
from fakeservers.imap.parser import (
    Append,
    Authenticate,
    Copy,
    Expunge,
    Fetch,
    FetchItem,
    ListMailboxes,
    Login,
    NoArguments,
    ParseError,
    Rename,
    Section,
    Select,
    Status,
    Store,
    parse_command,
)
from fakeservers.imap.sequences import STAR, SequenceSet, SequenceSetError, format_uid_set

# -- valid commands ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "name", "args"),
    [
        (b"a1 CAPABILITY", "CAPABILITY", NoArguments()),
        (b"a1 noop", "NOOP", NoArguments()),
        (b'a2 LOGIN alice "pa ss\\"wo\\\\rd"', "LOGIN", Login("alice", 'pa ss"wo\\rd')),
        (b"a2 LOGIN {5}\r\nalice {4}\r\npass", "LOGIN", Login("alice", "pass")),
        (b"a2 LOGIN {5+}\r\nalice pass", "LOGIN", Login("alice", "pass")),
        (b"a3 AUTHENTICATE PLAIN", "AUTHENTICATE", Authenticate("PLAIN", None)),
        (b"a3 AUTHENTICATE plain AGFAYg==", "AUTHENTICATE", Authenticate("PLAIN", b"AGFAYg==")),
        (b"a3 AUTHENTICATE XOAUTH2 =", "AUTHENTICATE", Authenticate("XOAUTH2", b"=")),
        (b"a4 SELECT inbox", "SELECT", Select("INBOX")),
        (b'a4 EXAMINE "Entw&APw-rfe"', "EXAMINE", Select("Entw\u00fcrfe")),
        (b"a5 RENAME a b/c", "RENAME", Rename("a", "b/c")),
        (b'a6 LIST "" "*"', "LIST", ListMailboxes("", "*", ("*",))),
        (b"a6 LSUB Work/ %", "LSUB", ListMailboxes("Work/", "%", ("%",))),
        (b"a7 STATUS INBOX (MESSAGES UNSEEN)", "STATUS", Status("INBOX", ("MESSAGES", "UNSEEN"))),
        (b"a8 EXPUNGE", "EXPUNGE", Expunge(None)),
        (b"a8 UID EXPUNGE 3:5", "EXPUNGE", Expunge(SequenceSet(((3, 5),)))),
        (
            b"a9 UID COPY 1,4:* Archive",
            "COPY",
            Copy(SequenceSet(((1, 1), (4, STAR))), "Archive", uid=True),
        ),
        (
            b"b1 STORE 2 +FLAGS.SILENT (\\Seen $Label)",
            "STORE",
            Store(SequenceSet(((2, 2),)), "add", True, ("\\Seen", "$Label"), uid=False),
        ),
        (
            b"b1 STORE 2 FLAGS \\Deleted",
            "STORE",
            Store(SequenceSet(((2, 2),)), "replace", False, ("\\Deleted",), uid=False),
        ),
    ],
)
def test_valid_commands(data: bytes, name: str, args: object) -> None:
    command = parse_command(data)
    assert (command.name, command.args) == (name, args)


def test_append_with_flags_date_and_literal() -> None:
    command = parse_command(b'A APPEND Sent (\\Seen) " 5-Mar-2024 07:08:09 -0530" {3}\r\nabc')
    when = datetime(2024, 3, 5, 7, 8, 9, tzinfo=timezone(-timedelta(hours=5, minutes=30)))
    assert command.args == Append("Sent", ("\\Seen",), when, b"abc")


def test_fetch_items_with_sections_and_partial() -> None:
    command = parse_command(
        b"t UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From to)]<0.100> BODY[1.2.MIME]"
        b" BODY[] RFC822.SIZE BODY[2.TEXT])"
    )
    assert command.args == Fetch(
        SequenceSet(((1, STAR),)),
        (
            FetchItem("FLAGS"),
            FetchItem("BODY", Section((), "HEADER.FIELDS", ("FROM", "TO")), (0, 100), peek=True),
            FetchItem("BODY", Section((1, 2), "MIME")),
            FetchItem("BODY", Section((), "")),
            FetchItem("RFC822.SIZE"),
            FetchItem("BODY", Section((2,), "TEXT")),
        ),
        uid=True,
    )


@pytest.mark.parametrize(
    ("macro", "names"),
    [
        ("FAST", ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]),
        ("all", ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"]),
        ("FULL", ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"]),
    ],
)
def test_fetch_macros(macro: str, names: list[str]) -> None:
    command = parse_command(b"t FETCH 1 " + macro.encode())
    assert isinstance(command.args, Fetch)
    assert [item.name for item in command.args.items] == names


def test_section_echo_form() -> None:
    assert Section((1, 2), "HEADER.FIELDS", ("FROM", "TO")).render() == (
        b"[1.2.HEADER.FIELDS (FROM TO)]"
    )
    assert Section((), "").render() == b"[]"
    quoted = parse_command(b'a FETCH 1 BODY[HEADER.FIELDS ("X Odd" {3}\r\nA]B)]')
    assert isinstance(quoted.args, Fetch)
    section = quoted.args.items[0].section
    assert section is not None
    assert section.render() == b'[HEADER.FIELDS ("X ODD" "A]B")]'


# -- malformed commands ------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "tag", "fragment"),
    [
        (b"a1 FROBNICATE", "a1", "unknown command FROBNICATE"),
        (b"a1 LOGIN alice", "a1", "expected a space"),
        (b"a1 LOGIN alice pass extra", "a1", "expected end of command"),
        (b"a1 LOGIN \xff\xfe pass", "a1", "expected an atom or string"),
        (b'a1 LOGIN "\xff\xfe" pass', "a1", "not valid UTF-8"),
        (b"a1 SELECT &Jjo!", "a1", "must start a shifted run"),
        (b"a1 SELECT &AGE-", "a1", "canonical modified UTF-7"),
        (b"a1 FETCH 0 FLAGS", "a1", "bad sequence number"),
        (b"a1 FETCH 1 BODY[0]", "a1", "part numbers start at 1"),
        (b"a1 FETCH 1 BODY[MIME]", "a1", "bad section"),
        (b"a1 FETCH 1 BODY[]<5.0>", "a1", "at least 1"),
        (b"a1 FETCH 1 (FLAGS", "a1", "expected a space"),
        (b"a1 FETCH 1 BOGUS", "a1", "a FETCH data item"),
        (b"a1 STORE 1 +FLAGS (\\*)", "a1", "expected an atom"),
        (b"a1 UID NOOP", "a1", "UID NOOP is not a command"),
        (b"a1 LOGIN {10}\r\nshort", "a1", "shorter than announced"),
        (b"a1 APPEND INBOX (\\Seen) abc", "a1", "the message as a literal"),
        (b'a1 APPEND INBOX "32-Jan-2024 00:00:00 +0000" {1}\r\nx', "a1", "day is out of range"),
        (b"a1 STATUS INBOX (SIZES)", "a1", "unknown status item SIZES"),
        (b"a1 SEARCH FROB", "a1", "unknown search key FROB"),
        (b"a1 SEARCH " + b"NOT " * 60 + b"ALL", "a1", "nested deeper"),
        (b"+tag NOOP", None, "may not contain '+'"),
        (b"", None, "expected a tag"),
        (b"\xffNOOP", None, "expected a tag"),
    ],
)
def test_malformed_commands_raise_parse_error_with_a_reason(
    data: bytes, tag: str | None, fragment: str
) -> None:
    with pytest.raises(ParseError) as raised:
        parse_command(data)
    assert raised.value.tag == tag
    assert raised.value.status == "BAD"
    assert fragment in raised.value.text


def test_unknown_search_charset_is_a_no_with_badcharset() -> None:
    with pytest.raises(ParseError) as raised:
        parse_command(b"a SEARCH CHARSET KOI8-R FROM x")
    assert (raised.value.status, raised.value.code) == ("NO", "BADCHARSET (US-ASCII UTF-8)")


def test_known_search_charset_parses() -> None:
    assert parse_command(b"a SEARCH CHARSET utf-8 SUBJECT {3}\r\n\xc3\xa9t").name == "SEARCH"


@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_parse_error(data: bytes) -> None:
    try:
        command = parse_command(data)
    except ParseError as error:
        assert error.status in ("BAD", "NO") and error.text
    else:
        assert command.name in COMMANDS


_TOKENS = st.sampled_from(
    [b"a1", b" ", b"FETCH", b"UID", b"SEARCH", b"STORE", b"APPEND", b"LOGIN", b"(", b")",
     b"[", b"]", b"<", b">", b".", b"1:*", b"*", b"{3}\r\nabc", b"{5+}\r\n", b'"q\\"',
     b"BODY", b"PEEK", b"HEADER.FIELDS", b"NOT", b"OR", b"CHARSET", b"\\Seen", b"+FLAGS",
     b"\r\n", b"\xff", b"0", b"4294967296", b"INBOX", b"&-", b"&AAA-", b"NIL", b"-"]
)  # fmt: skip


@given(st.lists(_TOKENS, max_size=30).map(b"".join))
def test_command_shaped_noise_raises_only_parse_error(data: bytes) -> None:
    try:
        command = parse_command(data)
    except ParseError as error:
        assert error.text  # every refusal says what was wrong
    else:
        assert command.name in COMMANDS


# -- sequence sets ------------------------------------------------------------------


def test_sequence_set_star_means_the_largest_number() -> None:
    numbers = SequenceSet.parse(b"2,4:*")
    assert numbers.select(range(1, 7), largest=6) == [2, 4, 5, 6]
    # RFC 3501 section 6.4.8: n:* includes the largest even when n is larger.
    assert SequenceSet.parse(b"10:*").select([1, 2, 3], largest=3) == [3]


@pytest.mark.parametrize("text", [b"", b"0", b"1:", b":1", b"1:2:3", b"01", b"a", b"4294967296"])
def test_sequence_set_rejects(text: bytes) -> None:
    with pytest.raises(SequenceSetError):
        SequenceSet.parse(text)


@given(st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, unique=True))
def test_uid_set_format_round_trips(uids: list[int]) -> None:
    ordered = sorted(uids)
    parsed = SequenceSet.parse(format_uid_set(ordered))
    assert parsed.select(ordered, largest=ordered[-1]) == ordered
    assert not parsed.contains(ordered[-1] + 1, largest=ordered[-1] + 1)


# -- modified UTF-7 --------------------------------------------------------------------


def test_utf7_matches_rfc3501_example() -> None:
    name = "~peter/mail/\u53f0\u5317/\u65e5\u672c\u8a9e"
    assert utf7.encode(name) == b"~peter/mail/&U,BTFw-/&ZeVnLIqe-"
    assert utf7.decode(b"~peter/mail/&U,BTFw-/&ZeVnLIqe-") == name


@given(st.text(max_size=40))
def test_utf7_round_trips(name: str) -> None:
    encoded = utf7.encode(name)
    assert encoded.isascii()
    assert utf7.decode(encoded) == name


@pytest.mark.parametrize(
    "octets", [b"a&b", b"&AGE-", b"&-&-x&AAA", b"\xc3\xa9", b"&U,BTFw", b"a\tb"]
)
def test_utf7_rejects_non_canonical_or_invalid(octets: bytes) -> None:
    with pytest.raises(utf7.MailboxNameError):
        utf7.decode(octets)


# -- dates ------------------------------------------------------------------------------


def test_date_time_round_trips_with_space_padded_day() -> None:
    moment = datetime(2024, 3, 5, 7, 8, 9, tzinfo=UTC)
    text = format_date_time(moment)
    assert text == b'" 5-Mar-2024 07:08:09 +0000"'
    assert parse_date_time(text.strip(b'"')) == moment


@pytest.mark.parametrize("text", [b"5-Mar-2024", b"05-Foo-2024 00:00:00 +0000", b"x"])
def test_date_time_rejects(text: bytes) -> None:
    with pytest.raises(DateError):
        parse_date_time(text)


def test_search_date() -> None:
    assert parse_date(b"1-feb-1999").isoformat() == "1999-02-01"
    with pytest.raises(DateError):
        parse_date(b"30-Feb-1999")
