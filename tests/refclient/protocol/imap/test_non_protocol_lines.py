"""Lines that are no IMAP response at all: skipped with a finding, within a bound.

Exchange may send ``Server Unavailable.`` before its greeting (the fake
servers' ``bare-line`` quirk). RFC 3501 section 2.2.2 says every server
response starts with ``*``, ``+`` or a tag; a line starting with none of
them is skipped and reported, while a malformed response that does start
like one stays a protocol error, and a flood of garbage ends in one.
"""

from __future__ import annotations

import pytest

from refclient.protocol.errors import RemoteProtocolError
from refclient.protocol.imap import NEED_DATA, IMAPEngine, State, Tagged, Untagged
from refclient.protocol.imap.parser import Response


def drain(engine: IMAPEngine, data: bytes, *, chunk: int) -> list[Response]:
    found: list[Response] = []
    for start in range(0, len(data), chunk):
        engine.receive_data(data[start : start + chunk])
        while (event := engine.next_event()) is not NEED_DATA:
            assert isinstance(event, Tagged | Untagged)
            found.append(event)
    return found


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_a_bare_line_before_the_greeting_is_skipped_with_a_finding(chunk: int) -> None:
    engine = IMAPEngine()
    found = drain(engine, b"Server Unavailable.\r\n* OK ready\r\n", chunk=chunk)
    assert [(event.name, event.text) for event in found if isinstance(event, Untagged)] == [
        ("OK", "ready")
    ]
    assert engine.state is State.NOT_AUTHENTICATED
    (finding,) = engine.findings
    assert finding.id == "imap.non-protocol-line"
    assert finding.line == b"Server Unavailable."


def test_a_malformed_line_that_starts_like_a_response_stays_an_error() -> None:
    engine = IMAPEngine()
    drain(engine, b"* OK ready\r\n", chunk=64)
    tag, _ = engine.send("NOOP")
    with pytest.raises(RemoteProtocolError, match="tagged response with status"):
        drain(engine, tag.encode() + b" WHATEVER done\r\n", chunk=64)
    with pytest.raises(RemoteProtocolError, match="unbalanced"):
        drain(IMAPEngine(), b'* LIST (\\Noselect "/" x\r\n', chunk=64)


def test_a_long_line_without_a_tag_is_cut_in_its_finding() -> None:
    engine = IMAPEngine()
    drain(engine, b"garbage " + b"x" * 5000 + b"\r\n* OK ready\r\n", chunk=512)
    assert len(engine.findings[0].line) <= 200


def test_a_server_sending_only_garbage_ends_in_a_protocol_error() -> None:
    engine = IMAPEngine(max_skipped_lines=5)
    with pytest.raises(RemoteProtocolError, match="more than 5 lines"):
        drain(engine, b"no protocol here\r\n" * 6, chunk=64)
    assert len(engine.findings) == 5


def test_the_bound_is_per_connection_and_not_reached_by_fewer_lines() -> None:
    engine = IMAPEngine(max_skipped_lines=5)
    found = drain(engine, b"no protocol here\r\n" * 5 + b"* OK ready\r\n", chunk=64)
    assert len(found) == 1 and len(engine.findings) == 5


@pytest.mark.parametrize(
    "line",
    [b"HTTP/1.1 400 Bad Request", b"220 mail.example.test ESMTP", b"220-mail ESMTP", b"421"],
)
@pytest.mark.parametrize("chunk", [1, 4096])
def test_a_line_of_another_protocol_is_an_error_at_once(line: bytes, chunk: int) -> None:
    # A server speaking another protocol (ALPACA's cross-protocol attack) is not
    # skipped past: the client stops at its first line, without waiting for more.
    engine = IMAPEngine()
    with pytest.raises(RemoteProtocolError):
        drain(engine, line + b"\r\n", chunk=chunk)
    assert engine.findings == []


def test_a_number_that_is_no_reply_code_is_skipped() -> None:
    engine = IMAPEngine()
    found = drain(engine, b"2024 was a good year\r\n* OK ready\r\n", chunk=64)
    assert len(found) == 1 and engine.findings[0].id == "imap.non-protocol-line"
