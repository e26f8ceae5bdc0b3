"""The DATA payload (RFC 5321 section 4.5.2): dot-stuffing, the final ``.``, line length."""

from __future__ import annotations

from collections.abc import Iterator

#: Octets of the message per piece :func:`stuffed_pieces` yields (about; cut at line ends):
#: few enough to stay in the processor's cache while each is searched, copied and sent.
PIECE_SIZE = 256 * 1024

#: Stuffing (section 4.5.2) adds a dot after every CRLF that a dot follows.
_LINE_DOT = b"\r\n."
_LINE_DOTS = b"\r\n.."

#: RFC 5321 section 4.5.3.1.6: a text line is at most 1000 octets, its CRLF included.
MAX_LINE = 1000


def lines_fit(message: bytes, limit: int = MAX_LINE) -> bool:
    """Whether every line of ``message`` is at most ``limit`` octets as DATA sends it.

    A line is counted up to and including its LF; a last line without one
    gets CRLF from :func:`stuff`, so it may have ``limit - 2`` octets. A line
    over the limit cannot travel by DATA (RFC 5321 section 4.5.3.1.6): some
    servers refuse it, others break it in two, damaging the message.

    The message is stepped through a window of ``limit`` octets at a time:
    the last LF in the window ends every line that starts in it but the last,
    and the next window starts after that LF, so a message of short lines
    takes one memrchr call per ``limit`` octets or so (about 55,000 for
    50 MB) rather than one per line, and a window without an LF is a line
    that does not fit.
    """
    rfind = message.rfind
    size = len(message)
    start = 0  # where a line starts; every line before it fits
    while size - start > limit:
        start = rfind(b"\n", start, start + limit) + 1
        if not start:
            return False
    # What is left is at most ``limit`` octets: only an unterminated last line can be too long.
    return size - max(start, rfind(b"\n", start) + 1) <= limit - 2


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
