"""Learnt line shapes give the values and errors of the word loop and the general pattern.

A FETCH line piece in the common shape is learnt by its shape (its octets
outside strings, digits aside) when seen a second time, and from then on
built by the shape's builder (parser.py, ``_shaped_values``). Whatever the
strings and numbers of a later piece of the same shape hold, and wherever
the piece stands (after open lists, before a literal), the values must be
those of the general pattern (RFC 3501 section 9), or the same
RemoteProtocolError.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refclient.protocol.errors import RemoteProtocolError
from refclient.protocol.imap.framing import Frame
from refclient.protocol.imap.parser import (
    _PLAIN_MIN,
    Untagged,
    parse_frame,
    parse_values,
)
from tests.refclient.protocol.imap.reference_parse import NESTING, general, outcome, parsed

#: Tokens of a skeleton: ``S`` is a quoted string and ``D`` a number, filled per line.
_TOKENS = st.sampled_from(
    [
        "(",
        ")",
        "()",
        "S",
        "D",
        "D",
        "NIL",
        "nil",
        "Nil",
        "UID",
        "FLAGS",
        "\\Seen",
        "RFC822.SIZE",
        "X-GM-MSGID",
        "None",
        "lambda",
        "__import__",
        "c",
        "s",
        "o",
        "a}b",
        "~",
        "BODY[]",
        "{5}",
        "\t",
        "\\u0041",
    ]
)
_GAPS = st.sampled_from([" ", " ", " ", "", "  "])
#: String contents: mostly plain, and every way out of the common shape.
_STRING = st.one_of(
    st.sampled_from([b"", b"a b", b"(x)", b"[list] hi", b"caf\xc3\xa9", b"\x00nul", b"s[0]"]),
    st.binary(max_size=6).filter(lambda data: b'"' not in data),
    st.sampled_from([b"q\\\\q", b"back\\", b"cr\rx", b"lf\nx"]),
)
_NUMBER = st.sampled_from([b"0", b"7", b"42", b"007", b"123456", b"9"])


def fill(skeleton: list[tuple[str, str]], strings: list[bytes], numbers: list[bytes]) -> bytes:
    """One line of ``skeleton`` with its ``S`` and ``D`` tokens taken from the lists."""
    out: list[bytes] = []
    take_string, take_number = iter(strings), iter(numbers)
    for gap, token in skeleton:
        out.append(gap.encode())
        if token == "S":
            out.append(b'"' + next(take_string, b"") + b'"')
        elif token == "D":
            out.append(next(take_number, b"1"))
        else:
            out.append(token.encode())
    line = b"".join(out)
    return line + b" " * max(0, _PLAIN_MIN - len(line))


@given(
    st.lists(st.tuples(_GAPS, _TOKENS), min_size=1, max_size=30),
    st.lists(st.tuples(st.lists(_STRING, max_size=8), st.lists(_NUMBER, max_size=8)), max_size=6),
)
def test_a_shape_gives_every_line_of_it_the_general_values(
    skeleton: list[tuple[str, str]], fillings: list[tuple[list[bytes], list[bytes]]]
) -> None:
    # Plain strings first, three times: seen, learnt, built; then every filling.
    plain = fill(skeleton, [b"x"] * 30, [b"1"] * 30)
    for _ in range(3):
        assert parsed(plain) == outcome(general, plain)
    for strings, numbers in fillings:
        line = fill(skeleton, strings, numbers)
        assert parsed(line) == outcome(general, line)


def fetch_line(uid: int, subject: bytes, size: int) -> bytes:
    return (
        b'* %d FETCH (UID %d FLAGS (\\Seen) ENVELOPE (NIL "%s" '
        b'((NIL NIL "bench" "example.test")) NIL NIL NIL NIL NIL NIL "<%d@x>") '
        b"RFC822.SIZE %d)"
    ) % (uid, uid, subject, uid, size)


def test_lines_of_one_shape_keep_their_own_strings_and_numbers() -> None:
    events = [
        parse_frame(Frame((fetch_line(uid, b"subject %d" % uid, uid * 7),), ()), max_nesting=50)
        for uid in range(10, 20)
    ]
    for uid, event in zip(range(10, 20), events, strict=True):
        assert isinstance(event, Untagged)
        items = event.values[0]
        assert isinstance(items, list)
        assert items[1] == str(uid)
        assert items[3] == ["\\Seen"]
        envelope = items[5]
        assert isinstance(envelope, list)
        assert envelope[1] == b"subject %d" % uid
        assert envelope[9] == b"<%d@x>" % uid
        assert items[7] == str(uid * 7)


@pytest.mark.parametrize(
    "subject",
    [b"esc\\\\aped", b"cr\rin", b"caf\xc3\xa9 [1] (2)", b"\x00", b"NIL", b"s[0]"],
)
def test_a_learnt_shape_with_other_strings_reads_them_as_the_pattern_does(
    subject: bytes,
) -> None:
    for uid in range(30, 33):
        parse_frame(Frame((fetch_line(uid, b"plain", 100),), ()), max_nesting=50)
    line = fetch_line(33, subject, 100)
    piece = line[len(b"* 33 FETCH ") :]
    assert parsed(piece) == outcome(general, piece)


def test_a_learnt_shape_after_open_lists_is_bounded_by_max_nesting() -> None:
    piece = b' (A ((B "x") C) "y" NIL 12)' + b" " * _PLAIN_MIN
    for _ in range(3):
        assert parse_values(Frame((piece,), ()), max_nesting=NESTING) == [
            ["A", [["B", b"x"], "C"], b"y", None, "12"]
        ]
    # Three lists open before the literal: 3 + 3 levels fit NESTING, 4 + 3 do not.
    fits = Frame((b"(((", piece + b")))"), (b"lit",))
    assert parse_values(fits, max_nesting=NESTING) == [
        [[[b"lit", ["A", [["B", b"x"], "C"], b"y", None, "12"]]]]
    ]
    deeper = Frame((b"((((", piece + b"))))"), (b"lit",))
    with pytest.raises(RemoteProtocolError, match=re.escape(f"nested deeper than {NESTING}")):
        parse_values(deeper, max_nesting=NESTING)


def test_a_learnt_shape_before_a_literal_keeps_the_literal_in_place() -> None:
    balanced = b' A "x" (NIL 5) B' + b" " * _PLAIN_MIN
    for _ in range(3):
        frame = Frame((b"(" + balanced, b")"), (b"lit",))
        assert parse_values(frame, max_nesting=NESTING) == [["A", b"x", [None, "5"], "B", b"lit"]]
    literal8 = Frame((balanced + b"~", b""), (b"bin",))
    assert parse_values(literal8, max_nesting=NESTING) == ["A", b"x", [None, "5"], "B", b"bin"]


@pytest.mark.parametrize(
    ("piece", "message"),
    [
        (b" (A (B) C))", "unbalanced ')'"),
        (b" ((A (B) C)", "unbalanced '('"),
        (b" (A ] B)", "unexpected octet"),
        (b' (A "b" "c)', "unterminated quoted string"),
    ],
)
def test_malformed_pieces_raise_however_often_seen(piece: bytes, message: str) -> None:
    line = piece + b" " * _PLAIN_MIN
    for _ in range(3):
        with pytest.raises(RemoteProtocolError, match=re.escape(message)):
            parse_values(Frame((line,), ()), max_nesting=NESTING)


def test_atoms_that_read_as_code_stay_atoms() -> None:
    piece = b" (None lambda __import__ c s o 0x10 -1 9.3e+06 007 nil)" + b" " * _PLAIN_MIN
    expected = [
        ["None", "lambda", "__import__", "c", "s", "o", "0x10", "-1", "9.3e+06", "007", None]
    ]
    for _ in range(3):
        assert parse_values(Frame((piece,), ()), max_nesting=NESTING) == expected


def test_distinct_long_lines_leave_bounded_memory_behind() -> None:
    """What is remembered between responses (learnt shapes, address lists) stays small.

    A hostile server sending ever new long FETCH lines, each twice so that
    its shape would be learnt, with long addresses: once the responses are
    dropped, well under the size of what was sent is still held.
    """
    import tracemalloc  # noqa: PLC0415

    from refclient.protocol.imap.structures import parse_fetch  # noqa: PLC0415

    def letters(number: int) -> bytes:
        return bytes(0x61 + (number // 26**place) % 26 for place in range(3))

    def line(number: int) -> bytes:
        name = b"n%d" % number + b"x" * 10_000
        atoms = b" ".join([b"A" + letters(number) + b"B"] * 3000)  # a shape of its own
        return (
            b'* 1 FETCH (UID 1 ENVELOPE (NIL "s" (("%s" NIL "u" "h")) NIL NIL NIL NIL NIL NIL NIL)'
            b" X (%s))" % (name, atoms)
        )

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        sent = 0
        for number in range(300):
            data = line(number)
            sent += 2 * len(data)
            for _ in range(2):
                response = parse_frame(Frame((data,), ()), max_nesting=NESTING)
                assert isinstance(response, Untagged)
                parse_fetch(1, response.values, [])
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert sent > 15_000_000
    assert held < 4_000_000, held
