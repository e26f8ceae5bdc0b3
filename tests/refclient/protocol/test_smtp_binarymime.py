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

from refclient.protocol.smtp import needs_binarymime

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
