"""The shared line splitter of the POP3 and SMTP engines."""

from __future__ import annotations

import pytest

from refclient.protocol.errors import RemoteProtocolError
from refclient.protocol.lines import LineBuffer


def test_lines_come_out_whole_and_bare_lf_is_flagged() -> None:
    lines = LineBuffer(max_line=100, reference="RFC x")
    for octet in b"+OK one\r\n-ERR two\nrest":
        lines.feed(bytes([octet]))
    assert lines.next_line() == (b"+OK one", False)
    assert lines.next_line() == (b"-ERR two", True)
    assert lines.next_line() is None
    assert lines.take_rest() == b"rest" and lines.buffer == bytearray()


def test_a_line_over_the_limit_fails_before_it_ends() -> None:
    lines = LineBuffer(max_line=10, reference="RFC 5321 section 4.5.3.1.5")
    lines.feed(b"x" * 11)
    with pytest.raises(RemoteProtocolError, match="longer than 10") as failure:
        lines.next_line()
    assert failure.value.reference == "RFC 5321 section 4.5.3.1.5"
