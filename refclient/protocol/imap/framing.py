"""Cut the server's byte stream into whole responses (RFC 3501 section 2.2).

A response is a line ending in CRLF; a line ending in ``{n}`` CRLF announces
a literal of exactly ``n`` octets, after which the same response goes on.
:class:`ResponseFramer` returns each response as a :class:`Frame`: its line
pieces and its literals, in order, with the literal markers removed.

Only data responses carry literals: a continuation request (``+``), a tagged
reply and an untagged status response (``* OK``, ``NO``, ``BAD``, ``BYE``,
``PREAUTH``) end in human-readable text (RFC 3501 section 9, ``resp-text``),
so a ``{5}`` at the end of such a line is text, not a literal announcement.

A literal of :data:`LARGE_LITERAL` octets or more (a message body) is read
straight into a ``bytearray`` of its announced size, never through the
framer's line buffer, and that very ``bytearray`` is handed on as the
literal's value: the octets are held once, not once in the buffer and once
more in a copy (a 50 MB message costs 50 MB, not 100). Smaller literals are
copied out once, as ``bytes``.

Memory is bounded: a line longer than ``max_line``, a literal announced
larger than ``max_literal``, or one response whose pieces add up to more than
``max_line + max_literal`` octets (many small literals) is a
:class:`RemoteProtocolError` at once, before the octets arrive. Scanning
resumes where it stopped, so a response trickled one octet at a time costs
linear time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from refclient.protocol.errors import RemoteProtocolError

#: Literals of this many octets or more are read into their own ``bytearray`` (see above).
LARGE_LITERAL = 1024 * 1024

_LITERAL = re.compile(rb"\{(\d{1,20})(\+?)\}$")
#: First lines that end in text, never in a literal announcement.
_TEXT_RESPONSE = re.compile(rb"\+|\* +(?:OK|NO|BAD|BYE|PREAUTH)(?: |$)|[^*+ ][^ ]* ", re.IGNORECASE)


@dataclass(frozen=True)
class Frame:
    """One whole response: ``lines[0] literals[0] lines[1] ... lines[-1]``."""

    lines: tuple[bytes, ...]
    #: ``bytes``, or a ``bytearray`` for a literal of :data:`LARGE_LITERAL` octets or more.
    literals: tuple[bytes, ...]
    #: Whether any line ended in a bare LF instead of CRLF.
    bare_lf: bool = False
    #: Octets of the response's lines (line ends and literal markers excluded).
    line_size: int = 0
    #: Octets of its literals.
    literal_size: int = 0

    @property
    def first_line(self) -> bytes:
        """The first line (enough to tell the kind of response)."""
        return self.lines[0]

    def raw_preview(self, limit: int = 200) -> bytes:
        """The start of the response, literals elided, for findings and errors."""
        pieces: list[bytes] = []
        for index, line in enumerate(self.lines):
            pieces.append(line)
            if index < len(self.literals):
                pieces.append(b"{%d}" % len(self.literals[index]))
        return b"".join(pieces)[:limit]


class ResponseFramer:
    """Incremental framer: feed bytes, take whole responses."""

    def __init__(self, *, max_line: int, max_literal: int) -> None:
        self._max_line = max_line
        self._max_literal = max_literal
        self._max_response = max_line + max_literal
        self._response_size = 0  # octets of the current response's finished pieces
        self._buffer = bytearray()
        self._position = 0  # start of the current, unfinished piece
        self._scanned = 0  # where the search for LF resumes
        self._lines: list[bytes] = []
        self._literals: list[bytes] = []
        self._pending_literal = -1  # octets still due for the current literal
        self._bare_lf = False
        self._large: bytearray | None = None  # a large literal being filled in place
        self._large_filled = 0

    def feed(self, data: bytes) -> None:
        """Add received octets."""
        large = self._large
        if large is not None and self._large_filled < len(large):
            # Straight into the literal's own buffer (the line buffer is empty meanwhile).
            filled = self._large_filled
            count = min(len(data), len(large) - filled)
            with memoryview(data) as view:
                large[filled : filled + count] = view[:count]
                self._large_filled = filled + count
                if count < len(data):
                    self._buffer += view[count:]
            return
        self._buffer += data

    @property
    def idle(self) -> bool:
        """Whether no part of a response is pending."""
        return not self._lines and self._position == len(self._buffer)

    def take_rest(self) -> bytes:
        """Everything received and not framed (for the STARTTLS injection check)."""
        rest = bytes(self._buffer[self._position :])
        self._buffer.clear()
        self._position = self._scanned = 0
        return rest

    def next_frame(self) -> Frame | None:
        """The next whole response, or None until more octets arrive."""
        while True:
            if self._pending_literal >= 0:
                if not self._take_literal():
                    return None
                continue
            end = self._buffer.find(b"\n", self._scanned)
            if end < 0:
                if len(self._buffer) - self._position > self._max_line:
                    raise RemoteProtocolError(
                        f"response line longer than {self._max_line} octets",
                        line=bytes(self._buffer[self._position : self._position + 200]),
                        reference="RFC 3501 section 2.2",
                    )
                self._scanned = len(self._buffer)
                self._compact()
                return None
            if end - self._position > self._max_line:
                raise RemoteProtocolError(
                    f"response line longer than {self._max_line} octets",
                    line=bytes(self._buffer[self._position : self._position + 200]),
                    reference="RFC 3501 section 2.2",
                )
            line_end = end
            if end > self._position and self._buffer[end - 1] == 0x0D:
                line_end = end - 1
            else:
                self._bare_lf = True
            line = bytes(self._buffer[self._position : line_end])
            self._position = self._scanned = end + 1
            size = self._announced_literal(line)
            if size is not None:
                self._grow(size + len(line), line)
                self._lines.append(line[: line.rindex(b"{")])
                self._pending_literal = size
                continue
            self._lines.append(line)
            lines = self._lines
            literals = self._literals
            frame = Frame(
                tuple(lines),
                tuple(literals),
                self._bare_lf,
                sum(map(len, lines)) if literals else len(line),
                sum(map(len, literals)) if literals else 0,
            )
            self._lines, self._literals, self._bare_lf = [], [], False
            self._response_size = 0
            return frame

    def _announced_literal(self, line: bytes) -> int | None:
        """The size of the literal that ``line`` announces, if it announces one."""
        if line[-1:] != b"}" or (not self._lines and _TEXT_RESPONSE.match(line)):
            return None
        marker = _LITERAL.search(line, max(0, line.rfind(b"{")))
        if marker is None:
            return None
        size = int(marker.group(1))
        if size > self._max_literal:
            raise RemoteProtocolError(
                f"literal of {size} octets announced; the limit is {self._max_literal}",
                line=line[:200],
                reference="RFC 3501 section 4.3",
            )
        return size

    def _grow(self, octets: int, line: bytes) -> None:
        # Many literals in one response must not add up to unbounded memory.
        self._response_size += octets
        if self._response_size > self._max_response:
            raise RemoteProtocolError(
                f"one response of more than {self._max_response} octets",
                line=line[:200],
                reference="RFC 3501 section 4.3",
            )

    def _take_literal(self) -> bool:
        if self._pending_literal >= LARGE_LITERAL:
            return self._take_large_literal()
        available = len(self._buffer) - self._position
        if available < self._pending_literal:
            self._compact()
            return False
        end = self._position + self._pending_literal
        # One copy: a bytearray slice would copy once more before bytes() (RFC 3501 4.3).
        with memoryview(self._buffer) as view:
            self._literals.append(view[self._position : end].tobytes())
        self._position = self._scanned = end
        self._pending_literal = -1
        return True

    def _take_large_literal(self) -> bool:
        large = self._large
        if large is None:
            # Announced just now: what the buffer holds of it moves into its own buffer.
            size = self._pending_literal
            large = self._large = bytearray(size)
            count = min(size, len(self._buffer) - self._position)
            with memoryview(self._buffer) as view:
                large[:count] = view[self._position : self._position + count]
            self._position = self._scanned = self._position + count
            self._large_filled = count
            self._compact()
        if self._large_filled < len(large):
            return False
        self._literals.append(large)  # type: ignore[arg-type]  # handed on as it is
        self._large = None
        self._large_filled = 0
        self._pending_literal = -1
        return True

    def _compact(self) -> None:
        # Drop consumed octets once they dominate the buffer: amortised O(1) per octet.
        if self._position and self._position * 2 >= len(self._buffer):
            del self._buffer[: self._position]
            self._scanned -= self._position
            self._position = 0
