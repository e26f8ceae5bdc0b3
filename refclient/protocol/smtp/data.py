"""The DATA payload (RFC 5321 section 4.5.2): dot-stuffing and the final ``.``."""

from __future__ import annotations

from collections.abc import Iterator

#: Octets of the message per piece :func:`stuffed_pieces` yields (about; cut at line ends):
#: few enough to stay in the processor's cache while each is searched, copied and sent.
PIECE_SIZE = 256 * 1024

#: Stuffing (section 4.5.2) adds a dot after every CRLF that a dot follows.
_LINE_DOT = b"\r\n."
_LINE_DOTS = b"\r\n.."


def stuff(message: bytes) -> bytes:
    """``message`` dot-stuffed and terminated with ``CRLF . CRLF``.

    Lines are taken as they are (the caller provides CRLF line ends); a
    message that does not end in CRLF gets one, as RFC 5321 requires the
    terminator on a line of its own.
    """
    body = message if message.endswith(b"\r\n") else message + b"\r\n"
    if body.startswith(b"."):
        body = b"." + body
    return body.replace(_LINE_DOT, _LINE_DOTS) + b".\r\n"


def stuffed_pieces(message: bytes, piece_size: int = PIECE_SIZE) -> Iterator[bytes]:
    """:func:`stuff` of ``message`` in consecutive pieces; joined, they are exactly it.

    A large message is sent piece by piece, so that it is never copied whole:
    each piece is cut after a line feed (where a line may start with a dot),
    is copied once (its slice of ``message``), and is searched for a dot once
    at memchr speed; only a piece with a dot is searched for lines that start
    with one, and only a piece with such lines is stuffed. The terminator
    goes with the last piece, so that a small message is one piece.
    """
    size = len(message)
    terminator = (b"" if message.endswith(b"\r\n") else b"\r\n") + b".\r\n"
    if not size:
        yield terminator
        return
    start = 0
    while start < size:
        end = start + piece_size
        if end >= size:
            end = size
        else:
            cut = message.rfind(b"\n", start, end)
            end = cut + 1 if cut >= 0 else (message.find(b"\n", end) + 1 or size)
        piece = message[start:end]
        if message.find(b".", start, end) >= 0:
            piece = piece.replace(_LINE_DOT, _LINE_DOTS)
            # A piece starts a line when the message does, or after a CRLF: a dot
            # there is doubled like any other line's first dot (section 4.5.2).
            line_start = start == 0 or message.startswith(b"\r\n", start - 2)
            if line_start and message.startswith(b".", start):
                piece = b"." + piece
        yield piece + terminator if end == size else piece
        start = end


def unstuff(payload: bytes) -> bytes:
    """The message ``stuff`` encoded (inverse, for tests and servers' views)."""
    if payload.endswith(b".\r\n"):
        payload = payload[:-3]
    if payload.startswith(b".."):
        payload = payload[1:]
    return payload.replace(b"\r\n..", b"\r\n.")
