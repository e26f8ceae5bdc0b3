"""The round-trip message and the trace-field splitter (no servers needed)."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from .messages import (
    ATTACHMENT,
    DOT_LINES,
    TRACE_FIELD_NAMES,
    message_bytes,
    round_trip_message,
    split_trace,
)

_VALUE = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=30
)
_TRACE_NAME = st.sampled_from(sorted(TRACE_FIELD_NAMES)).flatmap(
    lambda name: st.sampled_from([name, name.title(), name.upper()])
)
_OTHER_NAME = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,15}", fullmatch=True).filter(
    lambda name: name.lower() not in TRACE_FIELD_NAMES
)


@st.composite
def _field(draw: st.DrawFn, names: st.SearchStrategy[str]) -> bytes:
    """One header field, folded over 1-3 lines (RFC 5322 section 2.2.3)."""
    lines = draw(st.lists(_VALUE, min_size=1, max_size=3))
    folded = "\r\n\t".join(lines)
    return f"{draw(names)}: {folded}\r\n".encode("ascii")


@st.composite
def _message(draw: st.DrawFn) -> bytes:
    fields = draw(st.lists(_field(_OTHER_NAME), min_size=1, max_size=4))
    body = draw(st.binary(max_size=200))
    return b"".join(fields) + b"\r\n" + body


@given(trace=st.lists(_field(_TRACE_NAME), max_size=5), message=_message())
def test_split_trace_returns_the_message_unchanged(trace: list[bytes], message: bytes) -> None:
    names, rest = split_trace(b"".join(trace) + message)
    assert rest == message
    assert [name.lower() for name in names] == [
        field.split(b":", 1)[0].decode("ascii").lower() for field in trace
    ]


@given(message=_message())
def test_split_trace_keeps_fields_that_are_not_trace_fields(message: bytes) -> None:
    assert split_trace(message) == ([], message)


def test_split_trace_stops_at_the_first_other_field() -> None:
    raw = b"Received: a\r\nX-Received: b\r\nReceived: c\r\n\r\nbody\r\n"
    assert split_trace(raw) == (["Received"], b"X-Received: b\r\nReceived: c\r\n\r\nbody\r\n")


def test_round_trip_message_is_8bit_crlf_with_dot_lines_and_attachment() -> None:
    message = round_trip_message(
        sender="alice@example.test", recipient="bob@example.test", token="t1"
    )
    raw = message_bytes(message)
    assert message["Message-ID"] == "<t1@interop.example.test>"
    assert any(byte > 0x7F for byte in raw)  # 8-bit, not encoded (RFC 6152)
    assert re.search(rb"(?<!\r)\n", raw) is None  # no bare LF
    for line in DOT_LINES:
        assert f"\r\n{line}\r\n".encode() in raw
    attachment = next(iter(message.iter_attachments()))
    assert attachment.get_content() == ATTACHMENT


def test_round_trip_messages_differ_per_token() -> None:
    first, second = (
        round_trip_message(sender="a@example.test", recipient="b@example.test") for _ in range(2)
    )
    assert first["Message-ID"] != second["Message-ID"]
