"""SEARCH criteria against known messages: every RFC 3501 key matches and misses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fakeservers.imap.reader import Reader, SyntaxProblem
from fakeservers.imap.search import BadCharset, Candidate, parse_criteria
from fakeservers.store import Message

FIRST = Message(
    uid=10,
    data=(
        b"From: Alice <alice@example.test>\r\n"
        b"To: bob@example.test\r\n"
        b"Cc: carol@example.test\r\n"
        b"Bcc: dave@example.test\r\n"
        b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= from Alice\r\n"
        b"Date: Tue, 5 Mar 2024 23:30:00 -0800\r\n"
        b"X-Tracking: abc-123\r\n"
        b"\r\n"
        b"The quarterly NUMBERS are in.\r\n"
    ),
    internal_date=datetime(2024, 3, 6, 9, 0, tzinfo=UTC),
    flags={"\\Seen", "\\Answered", "$Work"},
)
SECOND = Message(
    uid=20,
    data=b"From: bob@example.test\r\nSubject: short\r\n\r\nhi\r\n",
    internal_date=datetime(2024, 3, 1, 12, 0, tzinfo=UTC),
    flags={"\\Deleted", "\\Flagged", "\\Draft"},
)
RECENT_UIDS = {20}


def _search(criteria: bytes) -> list[int]:
    """UIDs of FIRST (number 1) and SECOND (number 2) that match."""
    matches = parse_criteria(Reader(criteria))
    found = []
    for number, message in enumerate((FIRST, SECOND), start=1):
        flags = set(message.flags) | ({"\\Recent"} if message.uid in RECENT_UIDS else set())
        if matches(Candidate(message, number, frozenset(flags), 2, 20)):
            found.append(message.uid)
    return found


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        (b"ALL", [10, 20]),
        (b"ANSWERED", [10]),
        (b"UNANSWERED", [20]),
        (b"DELETED", [20]),
        (b"UNDELETED", [10]),
        (b"DRAFT", [20]),
        (b"UNDRAFT", [10]),
        (b"FLAGGED", [20]),
        (b"UNFLAGGED", [10]),
        (b"SEEN", [10]),
        (b"UNSEEN", [20]),
        (b"RECENT", [20]),
        (b"NEW", [20]),
        (b"OLD", [10]),
        (b"KEYWORD $Work", [10]),
        (b"UNKEYWORD $Work", [20]),
        (b"FROM alice", [10]),
        (b'FROM "BOB@"', [20]),
        (b"TO bob", [10]),
        (b"CC carol", [10]),
        (b"BCC dave", [10]),
        (b"BCC nobody", []),
        (b"SUBJECT short", [20]),
        (b"CHARSET UTF-8 SUBJECT {6}\r\ngr\xc3\xbc\xc3\x9f", [10]),  # decoded encoded word
        (b"HEADER X-Tracking abc", [10]),
        (b'HEADER X-Tracking ""', [10]),  # empty string: the field is present
        (b"BODY numbers", [10]),
        (b"BODY alice", []),  # not in the body, only in the header
        (b"TEXT alice", [10]),
        (b"LARGER 100", [10]),
        (b"SMALLER 100", [20]),
        (b"BEFORE 6-Mar-2024", [20]),
        (b"ON 6-Mar-2024", [10]),
        (b'SINCE "2-Mar-2024"', [10]),
        (b"SENTON 5-Mar-2024", [10]),  # the Date header's own day, not UTC's
        (b"SENTBEFORE 5-Mar-2024", [20]),  # no Date header: falls back to the internal date
        (b"SENTSINCE 5-Mar-2024", [10]),
        (b"UID 20", [20]),
        (b"UID 15:*", [20]),
        (b"2", [20]),
        (b"1:*", [10, 20]),
        (b"NOT SEEN", [20]),
        (b"OR SEEN DELETED", [10, 20]),
        (b"OR (SEEN FLAGGED) (UNSEEN FLAGGED)", [20]),
        (b"SEEN ANSWERED", [10]),
        (b"SEEN DELETED", []),
    ],
)
def test_search_key(criteria: bytes, expected: list[int]) -> None:
    assert _search(criteria) == expected


@pytest.mark.parametrize(
    "criteria",
    [b"", b"FROM", b"LARGER x", b"BEFORE 6-Mrz-2024", b"OR SEEN", b"(SEEN", b"UID", b"NOT"],
)
def test_malformed_criteria(criteria: bytes) -> None:
    with pytest.raises(SyntaxProblem):
        parse_criteria(Reader(criteria))


def test_unknown_charset() -> None:
    with pytest.raises(BadCharset):
        parse_criteria(Reader(b"CHARSET ISO-2022-JP ALL"))


def test_us_ascii_refuses_8bit_strings() -> None:
    with pytest.raises(SyntaxProblem, match="not valid US-ASCII"):
        parse_criteria(Reader(b"SUBJECT {2}\r\n\xc3\xbc"))


@given(st.binary(max_size=120))
def test_arbitrary_criteria_parse_or_fail_cleanly(data: bytes) -> None:
    try:
        matches = parse_criteria(Reader(data))
    except (SyntaxProblem, BadCharset):
        return
    matches(Candidate(FIRST, 1, frozenset(FIRST.flags), 2, 20))
