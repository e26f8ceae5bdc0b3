"""The response parser's two tokenizers agree: the common-shape split and the general pattern.

A line piece of the common shape (printable ASCII outside quoted strings, no
section spec, no escapes; RFC 3501 section 9) is cut by bytes operations; any
other piece by the general pattern. Whatever a piece holds, both must give the
same values, or the same RemoteProtocolError.
"""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refclient.protocol.errors import RemoteProtocolError
from refclient.protocol.imap.framing import Frame
from refclient.protocol.imap.parser import (
    _PLAIN_MIN,
    Tagged,
    Untagged,
    _plain_tokens,
    parse_frame,
    parse_values,
)
from tests.refclient.protocol.imap.reference_parse import NESTING, general, outcome, parsed

#: Pieces that make up lines: the common shape's parts and every way out of it.
_FRAGMENTS = st.sampled_from(
    [
        b" ",
        b"  ",
        b"(",
        b")",
        b"()",
        b"NIL",
        b"nil",
        b"Nil",
        b"NILS",
        b"UID",
        b"42",
        b"\\Seen",
        b"$Label",
        b"RFC822.SIZE",
        b"~",
        b'"',
        b'""',
        b'"a b"',
        b'"(x)"',
        b'"[list] hi"',
        b'"caf\xc3\xa9"',
        b'"q\\"q"',
        b'"b\\\\"',
        b'"cr\rx"',
        b"BODY[]",
        b"BODY[HEADER.FIELDS (TO)]<0>",
        b"[",
        b"]",
        b"{5}",
        b"{",
        b"\x00",
        b"\t",
        b"\x7f",
        b"\xc3\xa9",
        b"a(b",
        b'x"y"',
    ]
)


def padded(line: bytes) -> bytes:
    """``line`` made long enough for the common-shape path to be tried."""
    return line + b" " * max(0, _PLAIN_MIN - len(line))


@given(st.lists(_FRAGMENTS, max_size=40))
def test_both_tokenizers_give_the_same_values_or_error(fragments: list[bytes]) -> None:
    line = padded(b"".join(fragments))
    assert parsed(line) == outcome(general, line)


@given(st.binary(max_size=120))
def test_any_octets_give_the_same_values_or_error(data: bytes) -> None:
    line = padded(data.replace(b"\n", b" "))
    assert parsed(line) == outcome(general, line)


def test_common_shape_is_split_into_words_and_strings() -> None:
    piece = b'(UID 1 FLAGS (\\Seen) ENVELOPE (NIL "a (b) c" ((NIL NIL "x" "y.test"))))'
    plain = _plain_tokens(piece)
    assert plain is not None
    words, strings = plain
    assert words[:8] == ["(", "UID", "1", "FLAGS", "(", "\\Seen", ")", "ENVELOPE"]
    assert strings == [b"a (b) c", b"x", b"y.test"]
    assert parse_values(Frame((piece,), ()), max_nesting=NESTING) == [
        [
            "UID",
            "1",
            "FLAGS",
            ["\\Seen"],
            "ENVELOPE",
            [None, b"a (b) c", [[None, None, b"x", b"y.test"]]],
        ]
    ]


@pytest.mark.parametrize(
    "piece",
    [
        b'(X "escaped \\" quote" Y)',  # an escape: only the pattern reads it
        b"(BODY[HEADER] NIL NIL NIL NIL NIL NIL NIL NIL)",  # a section spec
        b'(X "unterminated)',  # an unterminated string: the pattern reports it
        b"(X \xc3\xa9 NIL NIL NIL NIL NIL NIL NIL NIL NIL)",  # a non-ASCII atom
        b"(X \t NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",  # a control character
        b"(X {5} NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",  # a brace inside a line
        b'(X "cr\rin string" NIL NIL NIL NIL NIL NIL)',  # CR in a quoted string
    ],
)
def test_other_shapes_are_left_to_the_general_pattern(piece: bytes) -> None:
    assert _plain_tokens(piece) is None


@pytest.mark.parametrize(
    ("piece", "message"),
    [
        (padded(b"(A (B) C))"), "unbalanced ')'"),
        (padded(b"((A (B) C)"), "unbalanced '('"),
        (padded(b"(" * (NESTING + 1) + b")" * (NESTING + 1)), "nested deeper than"),
        (padded(b'(A "b" "c)'), "unterminated quoted string"),
        (padded(b"(A ] B)"), "unexpected octet"),
    ],
)
def test_malformed_common_shapes_raise_as_before(piece: bytes, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=re.escape(message)):
        parse_values(Frame((piece,), ()), max_nesting=NESTING)


@pytest.mark.parametrize(
    "line",
    [
        b"* 12 FETCH (UID 7 FLAGS (\\Seen))",
        b"* 12  FETCH (UID 7 FLAGS (\\Seen))",
        b"* 12 fetch (UID 7 FLAGS (\\Seen))",
        b"* 12 Fetch  (UID 7 FLAGS (\\Seen))",
    ],
)
def test_fetch_responses_are_read_alike_however_spaced_or_cased(line: bytes) -> None:
    event = parse_frame(Frame((line,), ()), max_nesting=NESTING)
    assert event == Untagged("FETCH", 12, [["UID", "7", "FLAGS", ["\\Seen"]]])


@pytest.mark.parametrize(
    ("line", "name", "number"),
    [
        (b"* 12 FETCH", "FETCH", 12),
        (b"* 12 FETCHED (X)", "FETCHED", 12),
        (b"* 1x FETCH (X)", "1X", None),
        (b"* \xd9\xa3 FETCH (X)", "\ufffd\ufffd", None),
    ],
)
def test_other_numbered_lines_are_not_taken_for_fetch(
    line: bytes, name: str, number: int | None
) -> None:
    event = parse_frame(Frame((line,), ()), max_nesting=NESTING)
    assert isinstance(event, Untagged)
    assert (event.name, event.number) == (name, number)


def test_responses_stay_frozen_with_their_defaults() -> None:
    untagged = Untagged("EXISTS", 3)
    assert (untagged.values, untagged.code, untagged.text) == ([], None, "")
    assert untagged.values is not Untagged("EXISTS", 3).values
    assert untagged == Untagged(name="EXISTS", number=3, values=[], code=None, text="")
    assert dataclasses.replace(untagged, number=4).number == 4
    tagged = Tagged("A1", "OK", None, "done")
    assert tagged == Tagged("A1", "OK", None, "done")
    assert repr(tagged) == "Tagged(tag='A1', status='OK', code=None, text='done')"


def test_responses_refuse_assignment() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Untagged("EXISTS", 3).number = 4  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Tagged("A1", "OK", None, "done").status = "NO"  # type: ignore[misc]


def test_a_literal_closed_by_a_lone_parenthesis_ends_its_list() -> None:
    frame = Frame((b"* 1 FETCH (UID 1 BODY[] ", b")"), (b"abc",))
    assert parse_frame(frame, max_nesting=NESTING) == Untagged(
        "FETCH", 1, [["UID", "1", "BODY[]", b"abc"]]
    )


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ((b"* 1 FETCH UID 1 BODY[] ", b")"), "unbalanced ')'"),
        ((b"* 1 FETCH ((UID 1 BODY[] ", b")"), "unbalanced '('"),
    ],
)
def test_a_lone_closing_parenthesis_must_balance(lines: tuple[bytes, ...], message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=re.escape(message)):
        parse_frame(Frame(lines, (b"abc",)), max_nesting=NESTING)
