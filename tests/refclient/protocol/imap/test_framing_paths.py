"""The framer's one-step path for a whole one-literal response equals the general path.

A response such as ``* 1 FETCH (BODY[] {n}`` CRLF, n octets, ``)`` CRLF that
lies whole in one received piece is framed in one step
(``ResponseFramer._whole_in_piece``); the same octets fed one at a time go
through the general path, which gathers lines and literals piece by piece.
Both must give the same frames, the same bare-LF flags and the same errors,
whatever the closing line holds (nothing, a bare LF, another literal's
announcement, too many octets).
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from refclient.protocol.errors import RemoteProtocolError
from refclient.protocol.imap.framing import Frame, ResponseFramer

MAX_LINE = 64

_closings = st.sampled_from(
    [
        b")\r\n",
        b" FLAGS (\\Seen))\r\n",
        b"\r\n",  # an empty closing line
        b")\n",  # a bare LF
        b"\n",
        b" BODY[1] {3}\r\nabc)\r\n",  # another literal follows
        b" X {2}\r\n",  # another literal announced, never sent
        b" " + b"x" * MAX_LINE + b")\r\n",  # a closing line too long
        b")\r",  # cut before its LF
        b"",
    ]
)
_heads = st.sampled_from(
    [b"* 1 FETCH (UID 1 BODY[] {%d}\r\n", b"* 2 FETCH (BODY[] {%d}\n", b"a1 OK done {%d}\r\n"]
)


def _frame_all(chunks: list[bytes]) -> tuple[list[Frame], str | None, bool]:
    framer = ResponseFramer(max_line=MAX_LINE, max_literal=1024)
    frames: list[Frame] = []
    try:
        for chunk in chunks:
            framer.feed(chunk)
            while (frame := framer.next_frame()) is not None:
                frames.append(frame)
    except RemoteProtocolError as error:
        return frames, str(error), framer.idle
    return frames, None, framer.idle


#: Literals, some ending in CR: its closing line's LF must not be taken for the end of a CRLF.
_literals = st.one_of(
    st.binary(max_size=80), st.binary(max_size=8).map(lambda octets: octets + b"\r")
)


@given(_heads, _literals, _closings, st.sampled_from([b"", b"* 3 EXISTS\r\n"]))
@example(b"* 1 FETCH (UID 1 BODY[] {%d}\r\n", b"\r", b"\n", b"")
def test_whole_and_octet_by_octet_frame_alike(
    head: bytes, literal: bytes, closing: bytes, after: bytes
) -> None:
    stream = head % len(literal) + literal + closing + after
    whole = _frame_all([stream])
    octets = _frame_all([stream[index : index + 1] for index in range(len(stream))])
    assert whole == octets


def test_a_whole_response_in_one_piece_is_one_frame_with_its_literal() -> None:
    frames, error, idle = _frame_all([b"* 1 FETCH (UID 1 BODY[] {5}\r\nhello)\r\n"])
    assert error is None and idle
    assert frames == [Frame((b"* 1 FETCH (UID 1 BODY[] ", b")"), (b"hello",), False, 25, 5)]


def test_a_literal_ending_in_cr_before_a_bare_lf_is_framed_not_crashed_on() -> None:
    # The CR is the literal's last octet, the LF alone is the closing line (a bare LF).
    frames, error, idle = _frame_all([b"* 1 FETCH (UID 1 BODY[] {2}\r\nx\r\n"])
    assert error is None and idle
    assert frames == [Frame((b"* 1 FETCH (UID 1 BODY[] ", b""), (b"x\r",), True, 24, 2)]


def test_a_closing_line_too_long_is_refused_in_one_piece_too() -> None:
    frames, error, _idle = _frame_all(
        [b"* 1 FETCH (BODY[] {1}\r\nx" + b"y" * (MAX_LINE + 1) + b")\r\n"]
    )
    assert frames == [] and error is not None and "longer than" in error
