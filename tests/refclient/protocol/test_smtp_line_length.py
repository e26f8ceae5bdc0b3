"""``lines_fit`` against the rule it implements (RFC 5321 section 4.5.3.1.6).

The function steps through the message a window at a time instead of
measuring each line; the property here is that it agrees with the plain
reading of the rule (every line at most ``limit`` octets with its LF, a last
line without one at most ``limit - 2`` since DATA adds CRLF) for any octets.
Small limits make lines around the limit, and windows that end just before,
on or after an LF, come up often.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from refclient.protocol.smtp.data import MAX_LINE, lines_fit, stuff


def _fits(message: bytes, limit: int) -> bool:
    """The rule, line by line."""
    *lines, last = message.split(b"\n")
    return all(len(line) + 1 <= limit for line in lines) and len(last) + 2 <= limit


_LINES = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=14),
        st.sampled_from([b"\r\n", b"\n", b"\r", b""]),
    ).map(lambda part: b"x" * part[0] + part[1]),
    max_size=30,
).map(b"".join)


@given(_LINES | st.binary(max_size=80), st.integers(min_value=3, max_value=12))
def test_agrees_with_the_rule_for_any_octets_and_limit(message: bytes, limit: int) -> None:
    assert lines_fit(message, limit) == _fits(message, limit)


def test_lines_of_998_octets_fit_and_of_999_do_not() -> None:
    fitting = (b"y" * 998 + b"\r\n") * 20
    assert lines_fit(fitting)
    assert lines_fit(fitting + b"z" * 998)  # DATA adds the CRLF: 1000 octets
    assert lines_fit(b"")
    assert max(len(line) for line in stuff(fitting).split(b"\n")) + 1 == MAX_LINE
    assert not lines_fit(fitting + b"z" * 999 + b"\r\n")
    assert not lines_fit(fitting + b"z" * 999)  # 1001 octets once DATA adds CRLF
    assert not lines_fit(b"z" * 999 + b"\r\n" + fitting)
    assert not lines_fit(b"z" * 5000)


def test_a_long_line_deep_in_a_large_message_is_found() -> None:
    lines = [b"line %d\r\n" % n for n in range(20000)]
    assert lines_fit(b"".join(lines))
    lines[15000] = b"w" * 1200 + b"\r\n"
    assert not lines_fit(b"".join(lines))
