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

Received pieces are kept as they came, not copied into a buffer first: a
piece is framed where it lies, a literal that goes on into later pieces is
gathered from them apart and joined once, and only an unfinished line is
copied so that the next piece can be added behind it. A body of 20 KB thus
costs one copy, where a growing line buffer cost three (in, out, compacted).

Memory is bounded: a line longer than ``max_line``, a literal announced
larger than ``max_literal``, or one response whose pieces add up to more than
``max_line + max_literal`` octets (many small literals) is a
:class:`RemoteProtocolError` at once, before the octets arrive. Scanning
resumes where it stopped, so a response trickled one octet at a time costs
linear time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from refclient.protocol.errors import RemoteProtocolError

#: Literals of this many octets or more are read into their own ``bytearray`` (see above).
LARGE_LITERAL = 1024 * 1024

#: Where a diverted large literal's octets go, piece by piece, in order (see
#: :meth:`ResponseFramer.divert_large_literals`).
LiteralSink = Callable[[memoryview], None]


class DivertedLiteral(bytes):
    """Stands in a frame for a large literal whose octets went to a sink, not to memory.

    It is empty (``len()`` 0, since it holds none of the octets) and says
    how many there were in :attr:`size`. Only a caller that diverted large
    literals ever sees one.
    """

    size: int

    def __new__(cls, size: int) -> DivertedLiteral:
        diverted = super().__new__(cls)
        diverted.size = size
        return diverted

    def __bool__(self) -> bool:
        # True like the literal it stands for (never empty: LARGE_LITERAL octets or more),
        # so that ``value or default`` keeps it.
        return True

    def __repr__(self) -> str:
        return f"DivertedLiteral(size={self.size})"


#: First lines that end in text, never in a literal announcement.
_TEXT_RESPONSE = re.compile(rb"\+|\* +(?:OK|NO|BAD|BYE|PREAUTH)(?: |$)|[^*+ ][^ ]* ", re.IGNORECASE)


class Frame(NamedTuple):
    """One whole response: ``lines[0] literals[0] lines[1] ... lines[-1]``.

    A named tuple rather than a dataclass: one is made per response, and a
    tuple is built in a third of the time (immutable all the same).
    """

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
        #: Received octets not yet framed start at ``_position``: the piece as received
        #: (``bytes``, not copied) until octets must be added behind an unfinished line.
        self._buffer: bytes | bytearray = b""
        self._position = 0  # start of the current, unfinished piece
        self._scanned = 0  # where the search for LF resumes
        self._lines: list[bytes] = []
        self._literals: list[bytes] = []
        self._pending_literal = -1  # octets still due for the current literal
        self._bare_lf = False
        self._large: bytearray | None = None  # a large literal being filled in place
        self._large_filled = 0
        #: Where large literals go instead of memory, while a caller wants that.
        self._sink: LiteralSink | None = None
        #: Octets of a diverted large literal still to come (-1: none is being diverted).
        self._diverting = -1
        #: A smaller literal that goes on in later pieces: its parts so far, and their size.
        self._literal_parts: list[bytes] | None = None
        self._literal_got = 0

    def feed(self, data: bytes) -> None:
        """Add received octets: a ``bytes`` piece is kept as it is, any other buffer copied."""
        if not isinstance(data, bytes):
            data = bytes(data)  # a buffer the caller may reuse
        if self._diverting > 0:
            count = min(len(data), self._diverting)
            self._divert(memoryview(data)[:count])
            if count < len(data):
                self._add(data[count:])
            return
        large = self._large
        if large is not None and self._large_filled < len(large):
            # Straight into the literal's own buffer (the line buffer is empty meanwhile).
            filled = self._large_filled
            count = min(len(data), len(large) - filled)
            with memoryview(data) as view:
                large[filled : filled + count] = view[:count]
            self._large_filled = filled + count
            if count < len(data):
                self._add(data[count:])
            return
        parts = self._literal_parts
        if parts is not None:
            # The rest of a literal: taken from the piece, not copied into the buffer first.
            need = self._pending_literal - self._literal_got
            if len(data) <= need:
                parts.append(data)
                self._literal_got += len(data)
                return
            parts.append(data[:need])
            self._literal_got += need
            self._buffer, self._position, self._scanned = data, need, need
            return
        self._add(data)

    def _add(self, data: bytes) -> None:
        if self._position >= len(self._buffer):
            # Everything before was framed: this piece becomes the buffer as it is.
            self._buffer, self._position, self._scanned = data, 0, 0
            return
        buffer = self._buffer
        if not isinstance(buffer, bytearray):
            # An unfinished line goes on in this piece: from here on, a buffer to grow.
            with memoryview(buffer) as view:
                buffer = bytearray(view[self._position :])
            self._scanned -= self._position
            self._position = 0
            self._buffer = buffer
        buffer += data

    def divert_large_literals(self, sink: LiteralSink | None) -> None:
        """Send the octets of literals of :data:`LARGE_LITERAL` octets or more to ``sink``.

        Each such literal's octets go to ``sink`` as they arrive, in order
        (each piece a view that is valid during the call only: it is released
        when the sink returns), and the frame holds a :class:`DivertedLiteral`
        for it; ``None`` keeps
        them in memory again (the default). A message saved to a file thus
        never sits whole in memory, and is written while the rest arrives.
        """
        self._sink = sink

    def _divert(self, view: memoryview) -> None:
        self._diverting -= len(view)
        if self._sink is not None and len(view):
            # Released when the sink returns, even if it kept the piece (a kept error's
            # traceback does): a live view would pin the buffer, which must grow later.
            with view:
                self._sink(view)

    @property
    def idle(self) -> bool:
        """Whether no part of a response is pending."""
        return not self._lines and self._position == len(self._buffer)

    def take_rest(self) -> bytes:
        """Everything received and not framed (for the STARTTLS injection check)."""
        rest = b"".join([*(self._literal_parts or ()), self._buffer[self._position :]])
        self._literal_parts = None
        self._literal_got = 0
        self._buffer = b""
        self._position = self._scanned = 0
        return rest

    def next_frame(self) -> Frame | None:
        """The next whole response, or None until more octets arrive."""
        while True:
            if self._pending_literal >= 0 and not self._take_literal():
                return None
            buffer, position = self._buffer, self._position
            end = buffer.find(b"\n", self._scanned)
            if end < 0 or end - position > self._max_line:
                if end >= 0 or len(buffer) - position > self._max_line:
                    raise RemoteProtocolError(
                        f"response line longer than {self._max_line} octets",
                        line=bytes(buffer[position : position + 200]),
                        reference="RFC 3501 section 2.2",
                    )
                self._scanned = len(buffer)
                self._compact()
                return None
            if end > position and buffer[end - 1] == 0x0D:
                line = buffer[position : end - 1]
            else:
                line = buffer[position:end]
                self._bare_lf = True
            if not isinstance(line, bytes):
                line = bytes(line)
            self._position = self._scanned = end + 1
            if line[-1:] == b"}":
                size = self._announced_literal(line)
                if size is not None:
                    self._grow(size + len(line), line)
                    head = line[: line.rindex(b"{")]
                    if not self._lines and size < LARGE_LITERAL:
                        frame = self._whole_in_piece(head, size)
                        if frame is not None:
                            return frame
                    self._lines.append(head)
                    self._pending_literal = size
                    continue
            lines, literals = self._lines, self._literals
            if lines:
                lines.append(line)
                frame = Frame(
                    tuple(lines),
                    tuple(literals),
                    self._bare_lf,
                    sum(map(len, lines)),
                    sum(map(len, literals)),
                )
                self._lines, self._literals = [], []
            else:
                frame = Frame((line,), (), self._bare_lf, len(line), 0)
            self._bare_lf = False
            self._response_size = 0
            return frame

    def _whole_in_piece(self, head: bytes, size: int) -> Frame | None:
        """The response ``head {size}`` literal closing-line, when all of it lies in the piece.

        The usual shape of a FETCH of one body (``* 1 FETCH (BODY[] {n}`` CRLF,
        n octets, ``)`` CRLF): framed in one step, without the pieces and
        lists the general path gathers. Anything else (the rest still to come,
        a closing line that announces another literal, ends in a bare LF or is
        too long) is None, for the general path.
        """
        buffer, start = self._buffer, self._position
        stop = start + size
        end = buffer.find(b"\n", stop)
        if (
            end < 0
            or not isinstance(buffer, bytes)
            or end - stop > self._max_line
            or buffer[end - 1] != 0x0D
            # An empty closing line, or an LF right after the literal (whose last octet
            # may be a CR, not the closing line's): left to the general path.
            or end - 1 <= stop
        ):
            return None
        tail = buffer[stop : end - 1]
        if tail[-1] == 0x7D:  # "}": maybe another literal
            return None
        self._position = self._scanned = end + 1
        self._response_size = 0
        frame = Frame(
            (head, tail), (buffer[start:stop],), self._bare_lf, len(head) + len(tail), size
        )
        self._bare_lf = False
        return frame

    def _announced_literal(self, line: bytes) -> int | None:
        """The size of the literal that ``line`` (ending in ``}``) announces, if any.

        The announcement is ``{`` 1 to 20 digits, an optional ``+`` and ``}`` at
        the line's end (RFC 3501 section 4.3, RFC 7888 section 3).
        """
        # "* 12 FETCH ..." (a numbered data response) is never text: no need to look.
        numbered = line[:2] == b"* " and line[2:3].isdigit()
        if not self._lines and not numbered and _TEXT_RESPONSE.match(line):
            return None
        brace = line.rfind(b"{")
        if brace < 0:
            return None
        digits = line[brace + 1 : -1]
        if digits[-1:] == b"+":
            digits = digits[:-1]
        if not (0 < len(digits) <= 20 and digits.isdigit()):
            return None
        size = int(digits)
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
        parts = self._literal_parts
        if parts is not None:
            if self._literal_got < self._pending_literal:
                return False
            self._literals.append(b"".join(parts))
            self._literal_parts = None
            self._literal_got = 0
            self._pending_literal = -1
            return True
        available = len(self._buffer) - self._position
        end = self._position + self._pending_literal
        buffer = self._buffer
        if isinstance(buffer, bytes):
            literal = buffer[self._position : end]  # one copy (none for the whole piece)
        else:
            # One copy: a bytearray slice would copy once more before bytes() (RFC 3501 4.3).
            with memoryview(buffer) as view:
                literal = view[self._position : end].tobytes()
        if available < self._pending_literal:
            # The rest comes in later pieces: gathered apart (feed), not behind this buffer.
            self._literal_parts = [literal]
            self._literal_got = available
            self._buffer = b""
            self._position = self._scanned = 0
            return False
        self._literals.append(literal)
        self._position = self._scanned = end
        self._pending_literal = -1
        return True

    def _take_large_literal(self) -> bool:
        if self._diverting >= 0 or (self._sink is not None and self._large is None):
            return self._take_diverted_literal()
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

    def _take_diverted_literal(self) -> bool:
        if self._diverting < 0:
            # Announced just now: what the buffer holds of it goes to the sink first.
            size = self._pending_literal
            self._diverting = size
            count = min(size, len(self._buffer) - self._position)
            with memoryview(self._buffer) as view:
                self._divert(view[self._position : self._position + count])
            self._position = self._scanned = self._position + count
            self._compact()
        if self._diverting > 0:
            return False
        self._literals.append(DivertedLiteral(self._pending_literal))
        self._diverting = -1
        self._pending_literal = -1
        return True

    def _compact(self) -> None:
        # Drop consumed octets once they dominate the buffer: amortised O(1) per octet.
        # (A piece kept as received is let go whole once framed, or copied from
        # _position on when more octets must follow it: see _add.)
        buffer = self._buffer
        if isinstance(buffer, bytearray) and self._position * 2 >= len(buffer) > 0:
            del buffer[: self._position]
            self._scanned -= self._position
            self._position = 0
