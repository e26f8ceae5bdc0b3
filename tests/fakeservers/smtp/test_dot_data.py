"""The bulk DATA decoder (RFC 5321 4.1.1.4 and 4.5.2), fed whole, in pieces and byte by byte.

The reference is the client's own dot-stuffing (``refclient.protocol.smtp.data``):
whatever it encodes, the decoder gives back exactly, however the octets are
split, and never takes an octet past the end line.
"""

from __future__ import annotations

import asyncio
import io
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fakeservers.smtp.dot_data import CountedChunk, DataSink, DotDataDecoder, Outcome
from refclient.protocol.smtp.data import stuff

LINE_LIMIT = 1000

_TEXT = st.lists(
    st.sampled_from([b"\r\n", b".", b"..", b"a", b"\r", b"\n", b"\xc3\xa4", b".\r\n", b" "]),
    max_size=30,
).map(b"".join)


def _crlf_message(text: bytes) -> bytes:
    """``text`` as CRLF lines (what DATA can carry: no bare CR or LF)."""
    return text.replace(b"\r", b"").replace(b"\n", b"\r\n")


def _decode(pieces: list[bytes], *, size_limit: int | None = None) -> tuple[DotDataDecoder, int]:
    decoder = DotDataDecoder(size_limit=size_limit, line_limit=LINE_LIMIT)
    taken = 0
    for piece in pieces:
        taken += decoder.feed(piece)
    return decoder, taken


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@given(_TEXT, st.lists(st.integers(min_value=0), max_size=8), st.binary(max_size=12))
def test_any_split_gives_the_message_back_and_stops_at_the_end(
    text: bytes, cuts: list[int], after: bytes
) -> None:
    message = _crlf_message(text)
    wire = stuff(message)
    decoder, taken = _decode(_split(wire + after, cuts))
    assert decoder.done and decoder.outcome is Outcome.RECEIVED
    assert taken == len(wire)  # what follows the end line is the next command's
    # The client ends the last line with CRLF; an empty message goes as one empty line.
    expected = message if message.endswith(b"\r\n") else message + b"\r\n"
    assert decoder.message() == expected


@pytest.mark.parametrize(
    "message",
    [b"\r\n", b".\r\n", b"..\r\n", b"a\r\n.\r\nb\r\n", b"\r\n\r\n", b"x.\r\n", b".a\r\n.b\r\n"],
)
def test_byte_by_byte(message: bytes) -> None:
    wire = stuff(message)
    decoder, taken = _decode([bytes([octet]) for octet in wire + b"QUIT\r\n"])
    assert taken == len(wire)
    assert decoder.message() == message


def test_an_end_line_first_is_an_empty_message() -> None:
    decoder, taken = _decode([b".\r\nQUIT\r\n"])
    assert decoder.done and taken == 3 and decoder.message() == b""


def test_without_the_end_line_it_is_not_done() -> None:
    for unfinished in (b"a\r\n", b"a\r\n.", b"a\r\n.\r", b"a.\r\n", b"a\r\n..\r\n"):
        decoder, taken = _decode([unfinished])
        assert not decoder.done and taken == len(unfinished)


def test_a_message_over_the_size_limit_is_read_to_its_end_and_not_kept() -> None:
    decoder, _ = _decode([stuff(b"0123456789\r\n")], size_limit=12)
    assert decoder.outcome is Outcome.RECEIVED and decoder.message() == b"0123456789\r\n"
    decoder, taken = _decode([stuff(b"0123456789a\r\n"), b"QUIT\r\n"], size_limit=12)
    assert decoder.done and taken == len(stuff(b"0123456789a\r\n"))
    assert decoder.outcome is Outcome.TOO_MUCH and decoder.message() == b""


@pytest.mark.parametrize("pieces", [1, 7, 1000])
def test_a_line_over_the_limit_is_refused_however_it_arrives(pieces: int) -> None:
    fits = b"x" * (LINE_LIMIT - 2) + b"\r\n"
    wire = stuff(fits + b"y" * (LINE_LIMIT - 1) + b"\r\n")
    size = -(-len(wire) // pieces)
    decoder, _ = _decode([wire[i : i + size] for i in range(0, len(wire), size)])
    assert decoder.done and decoder.outcome is Outcome.TOO_LONG
    decoder, _ = _decode([stuff(fits * 3)])
    assert decoder.outcome is Outcome.RECEIVED


@pytest.mark.parametrize("message", [b"", b"\r\n", b".\r\n", b"a\r\n.b\r\n"])
def test_the_prefix_comes_first_and_the_end_line_never_cuts_into_it(message: bytes) -> None:
    prefix = b"Received: by test\r\n"
    decoder = DotDataDecoder(size_limit=None, line_limit=LINE_LIMIT, prefix=prefix)
    decoder.feed(stuff(message))
    expected = message if message.endswith(b"\r\n") else message + b"\r\n"
    assert decoder.done and decoder.message() == prefix + expected


def test_over_the_size_limit_the_prefix_is_let_go_too() -> None:
    decoder = DotDataDecoder(size_limit=4, line_limit=LINE_LIMIT, prefix=b"Received: x\r\n")
    decoder.feed(stuff(b"0123456789\r\n"))
    assert decoder.outcome is Outcome.TOO_MUCH and decoder.message() == b""


@pytest.mark.parametrize("size", [1, 5, 64, 2**16])
def test_the_sink_gives_what_follows_the_end_line_back_to_the_stream(size: int) -> None:
    message = b"first\r\n.dot\r\n" + b"z" * 300 + b"\r\n"
    after = b"MAIL FROM:<a@example.test>\r\nQUIT\r\n"
    wire = stuff(message) + after

    async def scenario() -> tuple[bool, DotDataDecoder, bytes]:
        reader = asyncio.StreamReader()
        decoder = DotDataDecoder(size_limit=None, line_limit=LINE_LIMIT)
        sink = DataSink(decoder, reader)
        for at in range(0, len(wire), size):
            if sink.receiving:
                sink.feed(wire[at : at + size])
            else:  # as the connection does once the data has ended
                reader.feed_data(wire[at : at + size])
        reader.feed_eof()
        return await sink.finished, decoder, await reader.read()

    finished, decoder, rest = asyncio.run(scenario())
    assert finished and decoder.message() == message
    assert rest == after


def test_the_sink_reports_a_client_that_left_inside_the_data() -> None:
    async def scenario() -> bool:
        decoder = DotDataDecoder(size_limit=None, line_limit=LINE_LIMIT)
        sink = DataSink(decoder, asyncio.StreamReader())
        sink.feed(b"half a message\r\n")
        sink.lost()
        return await sink.finished

    assert asyncio.run(scenario()) is False


@given(
    st.lists(st.integers(min_value=0, max_value=12), max_size=12),
    st.lists(st.integers(min_value=0), max_size=8),
    st.integers(min_value=3, max_value=10),
)
def test_the_line_limit_holds_for_any_lines_and_split(
    lengths: list[int], cuts: list[int], limit: int
) -> None:
    message = b"".join(b"x" * length + b"\r\n" for length in lengths)
    wire = stuff(message)
    decoder = DotDataDecoder(size_limit=None, line_limit=limit)
    for piece in _split(wire, cuts):
        decoder.feed(piece)
    longest = max(len(line) + 1 for line in wire.split(b"\n")[:-1])  # CRLF included
    assert decoder.done
    assert (decoder.outcome is Outcome.TOO_LONG) == (longest > limit)


def test_an_end_line_first_leaves_the_prefix_alone() -> None:
    decoder = DotDataDecoder(size_limit=None, line_limit=LINE_LIMIT, prefix=b"R: x\r\n")
    assert decoder.feed(b".\r\nQUIT\r\n") == 3
    assert decoder.message() == b"R: x\r\n"


@pytest.mark.parametrize("keep", [True, False])
def test_a_counted_chunk_takes_exactly_its_size(keep: bool) -> None:
    into = io.BytesIO() if keep else None
    chunk = CountedChunk(10, into)
    assert chunk.feed(b"0123") == 4 and not chunk.done
    assert chunk.feed(b"456789BDAT") == 6 and chunk.done
    assert chunk.feed(b"more") == 0
    assert (into.getvalue() if into is not None else None) == (b"0123456789" if keep else None)
