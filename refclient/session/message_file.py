"""A fetched message written to a file while it arrives (``IMAPSession.save_message``).

The IMAP engine hands the octets of a large literal (1 MiB or more) to
:meth:`MessageFile.write` piece by piece as they are received (see
:meth:`~refclient.protocol.imap.framing.ResponseFramer.divert_large_literals`),
so a 50 MB message never sits whole in the client's memory and is on disk
as soon as its last octet is. A smaller message is written whole at the end.

Each piece is one network read (at most a few hundred KiB) written to the
operating system's file cache, which takes microseconds; writing it from
the event loop costs less than handing it to a thread. A write that fails
(disk full) is kept, not raised from inside the engine: the response is
still read to its end, so the session stays in step with the server, and
the error is raised once the command is complete. Whatever goes wrong, the
partial file is removed.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from refclient.protocol.imap.framing import DivertedLiteral


class MessageFile:
    """The file one message is saved to; opened at once, binary on every platform."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self._file = target.open("wb")  # no newline translation anywhere (RFC 5322 CRLF)
        #: Octets handed to :meth:`write` so far.
        self.received = 0
        self._error: OSError | None = None

    def write(self, piece: memoryview) -> None:
        """Write one piece of a diverted literal (called by the engine, in order)."""
        self.received += len(piece)
        if self._error is None:
            try:
                self._file.write(piece)
            except OSError as error:
                self._error = error

    def finish(self, octets: bytes | bytearray) -> int:
        """Complete the file with the fetched body; returns its size.

        ``octets`` is what the FETCH returned: a
        :class:`~refclient.protocol.imap.framing.DivertedLiteral` when the
        body came through :meth:`write`, else the body itself. Raises the
        kept :class:`OSError`, or :class:`ValueError` when the octets written
        are not exactly the body's (the server sent another large literal in
        the same command); the file is removed either way.
        """
        try:
            if self._error is not None:
                raise self._error
            if isinstance(octets, DivertedLiteral):
                size = octets.size
                if self.received != size:
                    raise ValueError(
                        f"{self.received} octets of large literals arrived for a body of {size}"
                    )
            else:
                if self.received:
                    raise ValueError(f"{self.received} octets of another large literal arrived")
                self._file.write(octets)
                size = len(octets)
            self._file.close()
        except BaseException:
            self.discard()
            raise
        return size

    def discard(self) -> None:
        """Close and remove the file (the message stays on the server)."""
        self._file.close()
        with contextlib.suppress(OSError):
            self.target.unlink()
