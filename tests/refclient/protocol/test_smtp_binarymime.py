"""``body_type`` and ``needs_binarymime`` against the definitions they implement.

RFC 3030 section 3 and RFC 6152: the functions scan the message in pieces
with the standard library's newline decoder instead of searching line by
line; the properties here are that they agree with the plain reading of the
rules (a NUL, a CR not followed by LF, or an LF not preceded by CR; an octet
over 127) and with the translate-based implementation they replaced, for any
octets and wherever the pieces are cut, with the line-ending octets made
frequent so that the edge cases come up.
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from refclient.protocol.smtp import body_type, needs_binarymime

_RULE = re.compile(rb"\x00|\r(?!\n)|(?<!\r)\n")

_OCTETS = st.lists(
    st.sampled_from([b"\r", b"\n", b"\r\n", b"\x00", b"a", b"\xc3\xa4", b"."]), max_size=40
).map(b"".join) | st.binary(max_size=64)


@given(_OCTETS)
def test_agrees_with_the_rule(message: bytes) -> None:
    assert needs_binarymime(message) == (_RULE.search(message) is not None)


def test_crlf_text_travels_by_data_and_bare_endings_do_not() -> None:
    assert not needs_binarymime(b"Subject: x\r\n\r\nbody\r\n")
    assert not needs_binarymime(b"")
    for bad in (
        b"a\rb\r\n",
        b"a\nb\r\n",
        b"a\r\n\n",
        b"\r",
        b"\r\r\n",
        b"a\r\n\x00\r\n",
        b"a\rb\nc",
    ):
        assert needs_binarymime(bad), bad


_RULE_8BIT = re.compile(rb"[\x80-\xff]")


@given(_OCTETS)
def test_the_body_type_agrees_with_both_rules(message: bytes) -> None:
    expected = (
        "BINARYMIME"
        if _RULE.search(message)
        else "8BITMIME"
        if _RULE_8BIT.search(message)
        else "7BIT"
    )
    assert body_type(message) == expected


_SEVEN_BIT_TEXT = bytes(octet for octet in range(128) if octet not in b"\0\r\n")
_CR_NOT_LF = re.compile(rb"\r[^\n]")


def _previous_body_type(message: bytes) -> str:
    """The implementation ``body_type`` replaced: a translate pass and a CR search."""
    kept = message.translate(None, _SEVEN_BIT_TEXT)
    eight_bit = not kept.isascii()
    endings = kept.translate(None, bytes(range(128, 256))) if eight_bit else kept
    if endings != b"\r\n" * (len(endings) // 2) or _CR_NOT_LF.search(message) is not None:
        return "BINARYMIME"
    return "8BITMIME" if eight_bit else "7BIT"


#: Hostile octets: line-ending runs, NUL and 8-bit next to them, every octet value.
_HOSTILE = st.lists(
    st.sampled_from([b"\r", b"\n", b"\r\n", b"\n\r", b"\x00", b"\xff", b"\x80", b"\x0d\x0d", b"a"])
    | st.binary(max_size=4),
    max_size=60,
).map(b"".join)


@given(_OCTETS | _HOSTILE, st.integers(min_value=1, max_value=9))
def test_the_body_type_is_the_same_wherever_the_pieces_are_cut(
    message: bytes, piece_size: int
) -> None:
    # A CR at the end of one piece and its LF at the start of the next are still CR LF.
    expected = _previous_body_type(message)
    assert body_type(message, piece_size=piece_size) == expected
    assert body_type(message) == expected


def test_a_crlf_split_between_pieces_is_one_line_end_and_a_final_cr_is_bare() -> None:
    assert body_type(b"ab\r\ncd\r\n", piece_size=3) == "7BIT"  # pieces "ab\r", "\ncd", "\r\n"
    assert body_type(b"ab\r", piece_size=3) == "BINARYMIME"
    assert body_type(b"ab\rcd\r\n", piece_size=3) == "BINARYMIME"
    assert body_type(b"\xffb\r\n\x00", piece_size=4) == "BINARYMIME"  # NUL in the last piece
    assert body_type(b"ab\r\n\xff", piece_size=4) == "8BITMIME"  # 8-bit in the last piece


def test_body_types_of_plain_examples() -> None:
    assert body_type(b"Subject: x\r\n\r\nbody\r\n") == "7BIT"
    assert body_type("Subject: ä\r\n\r\nbödy\r\n".encode()) == "8BITMIME"
    assert body_type("ä\rb\r\n".encode()) == "BINARYMIME"  # 8-bit and a bare CR
    assert body_type(b"\xff\x00\r\n") == "BINARYMIME"
