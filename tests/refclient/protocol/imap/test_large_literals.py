"""Large literals are read in place (framing.py): held once, handed on as a bytearray.

However the octets arrive (in one piece with what follows, in odd-sized
chunks, one octet at a time around the marker), the frame is the same as
for a small literal, the value equals the octets sent, and the surrounding
lines are intact; a literal below the threshold stays ``bytes``.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refclient.protocol.errors import RemoteProtocolError
from refclient.protocol.imap.engine import NEED_DATA, IMAPEngine
from refclient.protocol.imap.framing import LARGE_LITERAL, DivertedLiteral, ResponseFramer
from refclient.protocol.imap.parser import Untagged
from refclient.protocol.imap.structures import parse_fetch

BODY = bytes(range(1, 256)) * (LARGE_LITERAL // 255 + 3)
RESPONSE = b"* 1 FETCH (UID 7 BODY[] {%d}\r\n" % len(BODY) + BODY + b" FLAGS (\\Seen))\r\n"
AFTER = b"* 2 EXISTS\r\n"


def _frames(chunks: list[bytes]) -> list[tuple[tuple[bytes, ...], tuple[bytes, ...]]]:
    framer = ResponseFramer(max_line=4096, max_literal=4 * LARGE_LITERAL)
    frames = []
    for chunk in chunks:
        framer.feed(chunk)
        while (frame := framer.next_frame()) is not None:
            frames.append((frame.lines, frame.literals))
    assert framer.idle
    return frames


def _split(data: bytes, size: int) -> list[bytes]:
    return [data[start : start + size] for start in range(0, len(data), size)]


EXPECTED = [
    ((b"* 1 FETCH (UID 7 BODY[] ", b" FLAGS (\\Seen))"), (BODY,)),
    ((b"* 2 EXISTS",), ()),
]


@pytest.mark.parametrize("size", [len(RESPONSE) + len(AFTER), 65536, 4093, 1 << 20])
def test_a_large_literal_in_any_chunking_frames_the_same(size: int) -> None:
    frames = _frames(_split(RESPONSE + AFTER, size))
    assert frames == EXPECTED
    assert isinstance(frames[0][1][0], bytearray)


def test_octets_one_at_a_time_around_the_marker_and_the_end() -> None:
    head = RESPONSE.index(b"\r\n") + 2
    tail = head + len(BODY)
    data = RESPONSE + AFTER
    pieces = [data[i : i + 1] for i in range(head - 5)]
    pieces += [data[head - 5 : head + 10], data[head + 10 : tail - 3]]
    pieces += [data[i : i + 1] for i in range(tail - 3, len(data))]
    assert _frames(pieces) == EXPECTED


def test_a_literal_below_the_threshold_stays_bytes() -> None:
    small = b"x" * (LARGE_LITERAL - 1)
    response = b"* 1 FETCH (BODY[] {%d}\r\n" % len(small) + small + b")\r\n"
    [(_lines, literals)] = _frames(_split(response, 4093))
    assert literals == (small,) and type(literals[0]) is bytes


def test_the_typed_fetch_of_a_large_literal_equals_the_octets() -> None:
    engine = IMAPEngine(max_literal=4 * LARGE_LITERAL)
    engine.receive_data(b"* PREAUTH hi\r\n")
    engine.next_event()
    for chunk in _split(RESPONSE, 16384):
        engine.receive_data(chunk)
    event = engine.next_event()
    assert isinstance(event, Untagged) and event.number is not None
    data = parse_fetch(event.number, event.values, [])
    assert data.uid == 7 and data.flags == ("\\Seen",)
    assert data.body() == BODY
    assert engine.next_event() is NEED_DATA


def test_a_large_literal_over_max_literal_is_refused_before_its_octets() -> None:
    framer = ResponseFramer(max_line=4096, max_literal=LARGE_LITERAL)
    framer.feed(RESPONSE[: RESPONSE.index(b"\r\n") + 2])
    with pytest.raises(RemoteProtocolError, match="limit is"):
        framer.next_frame()


SMALL_RESPONSES = (
    b"".join(
        b"* %d FETCH (UID %d BODY[] {%d}\r\n" % (n, n, 300 + n) + bytes([n]) * (300 + n) + b")\r\n"
        for n in range(1, 6)
    )
    + b"a1 OK done {5}\r\n"
)
SMALL_EXPECTED = [
    ((b"* %d FETCH (UID %d BODY[] " % (n, n), b")"), (bytes([n]) * (300 + n),)) for n in range(1, 6)
] + [((b"a1 OK done {5}",), ())]


@given(st.lists(st.integers(min_value=1, max_value=700), max_size=40))
def test_small_literals_cut_anywhere_frame_the_same(cuts: list[int]) -> None:
    """Pieces kept as received and literals gathered apart (framing.feed) frame alike."""
    pieces, start = [], 0
    for size in cuts:
        pieces.append(SMALL_RESPONSES[start : start + size])
        start += size
    pieces.append(SMALL_RESPONSES[start:])
    assert _frames(pieces) == SMALL_EXPECTED


def test_a_reused_receive_buffer_does_not_change_what_was_framed() -> None:
    framer = ResponseFramer(max_line=4096, max_literal=4096)
    buffer = bytearray(b"* 1 EXI")
    framer.feed(buffer)  # type: ignore[arg-type]  # a caller passing its own buffer
    assert framer.next_frame() is None
    buffer[:] = b"XXXXXXX"  # the caller reuses its buffer
    framer.feed(b"STS\r\n")
    frame = framer.next_frame()
    assert frame is not None and frame.lines == (b"* 1 EXISTS",)


@pytest.mark.parametrize("size", [len(RESPONSE) + len(AFTER), 65536, 4093, 1])
def test_a_diverted_literal_goes_to_the_sink_in_order_and_the_frame_keeps_its_size(
    size: int,
) -> None:
    framer = ResponseFramer(max_line=4096, max_literal=4 * LARGE_LITERAL)
    sunk = bytearray()
    framer.divert_large_literals(sunk.extend)
    data = RESPONSE + AFTER
    frames = []
    pieces = _split(data, size) if size > 1 else [*_split(data[:100], 1), data[100:]]
    for piece in pieces:
        framer.feed(piece)
        while (frame := framer.next_frame()) is not None:
            frames.append(frame)
    assert sunk == BODY
    first, after = frames
    (diverted,) = first.literals
    assert isinstance(diverted, DivertedLiteral) and diverted.size == len(BODY)
    assert first.lines == EXPECTED[0][0] and after.lines == EXPECTED[1][0]
    assert framer.idle


def test_without_a_sink_nothing_is_diverted_and_small_literals_never_are() -> None:
    framer = ResponseFramer(max_line=4096, max_literal=4 * LARGE_LITERAL)
    sunk = bytearray()
    framer.divert_large_literals(sunk.extend)
    small = b"x" * (LARGE_LITERAL - 1)
    framer.feed(b"* 1 FETCH (BODY[] {%d}\r\n" % len(small) + small + b")\r\n")
    frame = framer.next_frame()
    assert frame is not None and frame.literals == (small,) and not sunk
    framer.divert_large_literals(None)
    assert _frames(_split(RESPONSE + AFTER, 65536)) == EXPECTED


@pytest.mark.parametrize(
    "line",
    [b"+ send {5}", b"* OK [ALERT] {5}", b"* BYE {5}", b"a1 NO {5}", b"a1 12 {5}", b"x 1 {5}"],
)
def test_a_text_response_ending_in_braces_announces_no_literal(line: bytes) -> None:
    """RFC 3501 section 9 (resp-text): the end of a status or continuation line is text."""
    assert _frames([line + b"\r\n"]) == [((line,), ())]


def test_a_numbered_data_response_ending_in_braces_announces_one() -> None:
    assert _frames([b"* 3 FETCH (BODY[] {5}\r\nhello)\r\n"]) == [
        ((b"* 3 FETCH (BODY[] ", b")"), (b"hello",))
    ]


@pytest.mark.parametrize(
    ("line", "literal"),
    [
        (b"* 1 FETCH (X 123}", None),
        (b"* 1 FETCH (X {}", None),
        (b"* 1 FETCH (X {+}", None),
        (b"* 1 FETCH (X {1a}", None),
        (b"* 1 FETCH (X {123456789012345678901}", None),
        (b"* 1 FETCH (X {3}", b"abc"),
        (b"* 1 FETCH (X {3+}", b"abc"),
    ],
)
def test_only_a_well_formed_announcement_starts_a_literal(
    line: bytes, literal: bytes | None
) -> None:
    """``{`` 1 to 20 digits, an optional ``+``, ``}`` at the line's end (RFC 3501 section 4.3)."""
    framer = ResponseFramer(max_line=4096, max_literal=4096)
    framer.feed(line + b"\r\nabc)\r\n")
    frame = framer.next_frame()
    assert frame is not None
    if literal is None:
        assert frame.lines == (line,) and frame.literals == ()
    else:
        assert frame.literals == (literal,) and frame.lines == (line[: line.rindex(b"{")], b")")


def test_a_sink_that_keeps_its_piece_does_not_pin_the_framer_buffer() -> None:
    """A piece handed to the sink is released when the sink returns.

    A sink that keeps it (a traceback kept with a disk error does) would
    otherwise pin the framer's own buffer, and the next octets could not be
    added behind an unfinished line (BufferError).
    """
    kept: list[memoryview] = []
    framer = ResponseFramer(max_line=4096, max_literal=4 * LARGE_LITERAL)
    framer.divert_large_literals(kept.append)
    size = LARGE_LITERAL
    framer.feed(b"* 1 FETCH (UID 7 BODY[] {")  # an unfinished line: the buffer will grow
    assert framer.next_frame() is None
    framer.feed(b"%d}\r\n" % size + b"x" * 1000)
    assert framer.next_frame() is None
    framer.feed(b"y" * (size - 1000) + b")\r\n* 2 EXI")
    assert framer.next_frame() is not None
    framer.feed(b"STS\r\n")
    frame = framer.next_frame()
    assert frame is not None and frame.lines == (b"* 2 EXISTS",)
    with pytest.raises(ValueError, match="released"):
        bytes(kept[0])
