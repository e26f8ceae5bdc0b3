"""``needs_binarymime`` against the definition it implements (RFC 3030 section 3).

The function looks at the NUL, CR and LF octets apart from the rest, then at
each CR, instead of searching line by line; the property here is that it
agrees with the plain reading of the rule (a NUL, a CR not followed by LF, or
an LF not preceded by CR) for any octets, with the line-ending octets made
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


def test_body_types_of_plain_examples() -> None:
    assert body_type(b"Subject: x\r\n\r\nbody\r\n") == "7BIT"
    assert body_type("Subject: ä\r\n\r\nbödy\r\n".encode()) == "8BITMIME"
    assert body_type("ä\rb\r\n".encode()) == "BINARYMIME"  # 8-bit and a bare CR
    assert body_type(b"\xff\x00\r\n") == "BINARYMIME"
