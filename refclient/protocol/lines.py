"""Received octets cut into CRLF lines, with a bound on line length (POP3 and SMTP replies).

The search for the line end resumes where it stopped, so a reply trickled one
octet at a time costs linear time; a line longer than ``max_line`` is a
:class:`RemoteProtocolError` as soon as that many octets are buffered, before
the rest arrives. A line ended by a bare LF is accepted and reported.
"""

from __future__ import annotations

from refclient.protocol.errors import RemoteProtocolError


class LineBuffer:
    """An incremental line splitter; ``buffer`` holds what is not consumed yet."""

    def __init__(self, *, max_line: int, reference: str) -> None:
        self.buffer = bytearray()
        self._max_line = max_line
        self._reference = reference
        self._scanned = 0

    def feed(self, data: bytes) -> None:
        """Add received octets."""
        self.buffer += data

    def next_line(self) -> tuple[bytes, bool] | None:
        """The next line without its ending, and whether it ended in a bare LF; or None."""
        end = self.buffer.find(b"\n", self._scanned)
        if end < 0:
            if len(self.buffer) > self._max_line:
                raise RemoteProtocolError(
                    f"reply line longer than {self._max_line} octets",
                    line=bytes(self.buffer[:200]),
                    reference=self._reference,
                )
            self._scanned = len(self.buffer)
            return None
        line = bytes(self.buffer[:end])
        self.consume(end + 1)
        if line.endswith(b"\r"):
            return line[:-1], False
        return line, True

    def consume(self, count: int) -> None:
        """Drop ``count`` octets from the front (after a block read of ``buffer``)."""
        del self.buffer[:count]
        self._scanned = 0

    def remember_scanned(self, position: int) -> None:
        """Block readers: where a search of ``buffer`` may resume."""
        self._scanned = position

    @property
    def scanned(self) -> int:
        return self._scanned

    def take_rest(self) -> bytes:
        """Everything not consumed (for the STARTTLS injection check)."""
        rest = bytes(self.buffer)
        self.consume(len(self.buffer))
        return rest
