"""DATA read in bulk: the dot-terminated mail data of RFC 5321 section 4.1.1.4.

aiosmtpd reads DATA one line at a time, which costs seconds for a message
of tens of megabytes. :class:`DotDataDecoder` is a sans-IO decoder of the
same text: it takes octets in pieces of any size, finds the end-of-data line
``CRLF . CRLF`` (whose first CRLF may be the one that ended the DATA
command), removes the transparency dots of section 4.5.2, counts the octets
against the message size limit and the longest line against the line
limit, and keeps nothing once a limit is passed (aiosmtpd's own rules:
read to the end, then answer 552 or 500). :func:`receive` feeds it the
pieces the connection receives (:class:`DataSink`), not through aiosmtpd's
stream, and gives back to that stream what follows the end line, so that
commands pipelined after the data (RFC 2920) stay for the command loop.
BDAT chunks (RFC 3030) are read the same way, by a :class:`CountedChunk`
that takes exactly the announced size.

Copies are kept few, since a message may be tens of megabytes: the decoder
copies each piece it is given once, into the buffer that becomes the message
handed to the handler (a piece loses its transparency dots only where it has
some)."""

from __future__ import annotations

import asyncio
import enum
import io
from collections.abc import Callable
from typing import Any, Protocol

#: The end of the mail data, RFC 5321 section 4.1.1.4.
END = b"\r\n.\r\n"


class Outcome(enum.Enum):
    """What the data amounted to, once its end was read."""

    RECEIVED = "received"
    TOO_MUCH = "too much mail data"  # over the size limit: 552 (RFC 5321 4.5.3.1.10)
    TOO_LONG = "line too long"  # over the line limit: 500 (RFC 5321 4.5.3.1.6)


class DotDataDecoder:
    """Dot-terminated mail data in, the message out; pieces of any size, one pass.

    ``feed`` returns how many of the given octets belong to the data: all of
    them until the end line is complete, then the count up to and including
    it (the rest is the next command).
    """

    def __init__(self, *, size_limit: int | None, line_limit: int, prefix: bytes = b"") -> None:
        self.size_limit = size_limit
        self.line_limit = line_limit
        self.outcome = Outcome.RECEIVED
        self.done = False
        #: Octets of the data as sent (stuffing included), the size SIZE limits.
        self.size = 0
        self._prefix_size = len(prefix)
        #: ``prefix`` and the message so far. Each piece is copied in as it arrives (while
        #: the processor's cache still holds it, and its memory can serve the next piece),
        #: and ``getvalue`` hands the buffer over as the message without a copy; keeping
        #: the pieces and joining them at the end took twice as long for 50 MB.
        self._kept = io.BytesIO()
        self._kept.write(prefix)
        #: How many octets of END the data ends with; it starts after a CRLF.
        self._matched = 2
        self._line = 0  # length of the line being read, so far
        self._raw_tail = b"\r\n"  # the last two octets as sent

    def feed(self, data: bytes) -> int:
        """Take octets of the data; returns how many belong to it."""
        if self.done or not data:
            return 0
        # Both the end line and transparency dots need a dot: one memchr-speed look
        # for any dot spares the two slower searches in most pieces of most messages.
        dotted = b"." in data
        end = self._end_in(data, dotted)
        piece = data if end is None else data[:end]
        self.size += len(piece)
        self._track_lines(piece)
        # The end line's ".\r\n" is not data (aiosmtpd counts the same way).
        if self.outcome is Outcome.RECEIVED and self.size_limit and self.size - 3 > self.size_limit:
            self.outcome = Outcome.TOO_MUCH
        if self.outcome is Outcome.RECEIVED:
            self._keep(piece, dotted)
        elif self._kept.tell():
            self._kept = io.BytesIO()  # nothing is kept once the data cannot be delivered
        if end is not None:
            self.done = True
            # The end line's dot went as stuffing; its CRLF ends no line of the message.
            self._drop_tail(2)
        return len(piece)

    def message(self) -> bytes:
        """The ``prefix`` given, then the message without the end line and transparency dots.

        Meaningful once ``done`` with the outcome RECEIVED. The buffer is
        handed over and let go, so the message is held only once; the
        ``prefix`` (the trace fields of the stored copy) costs no further copy.
        """
        kept, self._kept = self._kept, io.BytesIO()
        return kept.getvalue()

    def _drop_tail(self, count: int) -> None:
        """Remove the last ``count`` octets kept (never the prefix)."""
        end = max(self._prefix_size, self._kept.tell() - count)
        self._kept.truncate(end)
        self._kept.seek(end)

    def _keep(self, piece: bytes, dotted: bool) -> None:
        """Append ``piece`` without the dot that starts each line (section 4.5.2).

        The data began after a CRLF, so a dot first in it is stuffing too; a
        CRLF-dot split between two pieces is recognised by the octets sent
        before (not by those kept, which lost their dots). ``dotted``: whether
        the piece may hold a dot at all.
        """
        before = self._raw_tail
        self._raw_tail = piece[-2:] if len(piece) > 1 else before[-1:] + piece
        skip = 0
        if before == b"\r\n" and piece.startswith(b"."):
            skip = 1
        elif before.endswith(b"\r") and piece.startswith(b"\n."):
            self._kept.write(b"\n")
            skip = 2
        if dotted and piece.find(b"\r\n.", skip) >= 0:
            piece = piece[skip:].replace(b"\r\n.", b"\r\n")
            skip = 0
        self._kept.write(memoryview(piece)[skip:] if skip else piece)

    def _end_in(self, data: bytes, dotted: bool) -> int | None:
        """The index just past the end line in ``data``, if it completes there.

        ``dotted``: whether ``data`` holds a dot (without one, no end line is in it).
        """
        matched = self._matched
        if matched:
            # Continue a partial end line across the piece boundary. END's only
            # border is "\r", which a continuation of "\r\n.\r" covers too.
            wanted = END[matched:]
            if data[: len(wanted)] == wanted:
                return len(wanted)
            if len(data) < len(wanted) and wanted.startswith(data):
                self._matched = matched + len(data)
                return None
        found = data.find(END) if dotted else -1
        if found >= 0:
            return found + len(END)
        self._matched = _partial_end(data)
        return None

    def _track_lines(self, piece: bytes) -> None:
        """Note a line longer than the limit, its CRLF included (as aiosmtpd measures it).

        Jumps from the last LF within reach to the next, so the cost is a few
        C-level searches per piece, not one step per line.
        """
        if self.outcome is not Outcome.RECEIVED:
            return
        reach = self.line_limit  # a line of at most this many octets, LF included
        start = -self._line  # where the current line began, relative to the piece
        while True:
            window_end = start + reach
            if window_end >= len(piece):
                break  # every line from here ends beyond the piece or fits so far
            last = piece.rfind(b"\n", max(start, 0), window_end)
            if last < 0:
                self.outcome = Outcome.TOO_LONG
                return
            start = last + 1
        last = piece.rfind(b"\n", max(start, 0))
        self._line = len(piece) - last - 1 if last >= 0 else len(piece) - start
        if self._line > reach:
            self.outcome = Outcome.TOO_LONG


def _partial_end(data: bytes) -> int:
    """How many octets of END ``data`` ends with (0 to 4)."""
    if data[-1:] not in (b"\r", b"\n", b"."):
        return 0  # most pieces: one look at the last octet
    for length in range(min(len(END) - 1, len(data)), 0, -1):
        if data.endswith(END[:length]):
            return length
    return 0


class Decoder(Protocol):
    """What a :class:`DataSink` feeds: the dot-terminated data, or a BDAT chunk of known size."""

    @property
    def done(self) -> bool:
        """Whether the data has ended."""
        ...

    def feed(self, data: bytes) -> int:
        """Take octets; returns how many belong to the data (all, until it ends)."""
        ...


class CountedChunk:
    """Exactly ``size`` octets: a BDAT chunk (RFC 3030 section 2), the size says where it ends.

    Each piece goes into ``into`` as it arrives (None: the chunk is read and dropped).
    """

    def __init__(self, size: int, into: io.BytesIO | None) -> None:
        self.remaining = size
        self._into = into

    @property
    def done(self) -> bool:
        """Whether every octet of the chunk has been read."""
        return not self.remaining

    def feed(self, data: bytes) -> int:
        """Take octets of the chunk; returns how many belong to it."""
        taken = min(len(data), self.remaining)
        if self._into is not None and taken:
            self._into.write(data if taken == len(data) else memoryview(data)[:taken])
        self.remaining -= taken
        return taken


class DataSink:
    """The mail data straight from the connection, past aiosmtpd's stream.

    aiosmtpd's ``StreamReader`` copies every octet in and out again and pauses
    the connection each time it holds twice its line limit; for a message of
    tens of megabytes that costs more than the TLS decryption. While DATA is
    read, the connection's ``data_received`` hands each decrypted piece here
    instead (:meth:`feed`), and the decoder keeps it as it is. What follows
    the end line (commands pipelined after the data, RFC 2920 section 3.1)
    goes back into the stream, in order, for aiosmtpd's command loop.

    ``finished`` resolves to True at the end line, to False if the client
    left first (:meth:`lost`). ``on_progress()`` (activity for an idle timer)
    is called for the first piece and then for the first piece after each
    ``progress_interval`` seconds: rescheduling a timer for each of the
    thousands of TLS records of a large message costs more than reading them.
    """

    def __init__(
        self,
        decoder: Decoder,
        reader: asyncio.StreamReader,
        *,
        on_progress: Callable[[], object] | None = None,
        progress_interval: float = 1.0,
    ) -> None:
        self._decoder = decoder
        self._reader = reader
        self._on_progress = on_progress
        self._interval = progress_interval
        self._loop = asyncio.get_running_loop()
        self._next_progress = self._loop.time()
        self.finished: asyncio.Future[bool] = self._loop.create_future()

    @property
    def receiving(self) -> bool:
        """Whether the data has not ended yet (the connection feeds the sink, not the stream)."""
        return not self.finished.done()

    def feed(self, data: bytes) -> None:
        """A piece received from the client while :attr:`receiving`."""
        taken = self._decoder.feed(data)
        if not self._decoder.done:
            if self._on_progress is not None and self._loop.time() >= self._next_progress:
                self._next_progress = self._loop.time() + self._interval
                self._on_progress()
            return
        self.finished.set_result(True)
        if taken < len(data):
            self._reader.feed_data(memoryview(data)[taken:])

    def lost(self) -> None:
        """The client closed or the connection broke inside the data."""
        if not self.finished.done():
            self.finished.set_result(False)


def _buffered(reader: asyncio.StreamReader) -> bytes:
    """What ``reader`` holds and nobody has read yet (a copy; nothing is consumed).

    ``StreamReader`` has no public way to look at its buffer without
    waiting for more; aiosmtpd itself empties ``_buffer`` for STARTTLS.
    """
    buffer: bytearray = getattr(reader, "_buffer")  # noqa: B009
    return bytes(buffer)


async def receive(server: Any, decoder: Decoder) -> bool:
    """Feed ``decoder`` the data up to its end; False if the client left first.

    ``server`` is the :class:`~fakeservers.smtp.server.SubmissionSMTP` whose
    ``data_sink`` the connection feeds. Octets that came with the command
    (pipelined, or sent before a 354 reply) are already in aiosmtpd's
    stream: they are decoded first, and only as many are taken from the
    stream as belong to the data. The rest comes through a
    :class:`DataSink`, never through the stream.
    """
    reader: asyncio.StreamReader = server._reader
    early = _buffered(reader)
    if early:
        taken = decoder.feed(early)
        await reader.read(taken)  # buffered: returns at once, exactly these octets
    if decoder.done:
        return True
    if reader.at_eof() or reader.exception() is not None:
        return False
    # aiosmtpd's idle timer (its private ``_timeout_duration``) is rescheduled often
    # enough that an active client is never taken for an idle one.
    interval = min(1.0, server._timeout_duration / 10)
    sink = DataSink(decoder, reader, on_progress=server._reset_timeout, progress_interval=interval)
    server.data_sink = sink
    try:
        return await sink.finished
    finally:
        server.data_sink = None


async def serve_data(server: Any, arg: str | None) -> None:
    """aiosmtpd's DATA command (its checks and replies), with the data read in bulk.

    ``server`` is aiosmtpd's ``SMTP``; as in aiosmtpd, a message over the size
    limit is answered 552 and a line over the line limit 500, both after the
    data has been read to its end (RFC 5321 section 4.2.5), and the data is
    handed to the handler's ``handle_DATA`` as ``envelope.content`` and
    ``envelope.original_content``, undecoded (the fake server's
    ``decode_data`` is off).

    A handler with ``trace_fields(session, envelope)`` (the submission
    handler) stores the message with trace fields first (RFC 5321 section
    4.4): they are asked for first and the message is written behind them
    into one buffer, handed on as a memoryview of that stored copy, so that
    it is never copied again.
    """
    if await server.check_helo_needed() or await server.check_auth_needed("DATA"):
        return
    if not server.envelope.rcpt_tos:
        await server.push("503 Error: need RCPT command")
        return
    if arg:
        await server.push("501 Syntax: DATA")
        return
    await server.push("354 End data with <CR><LF>.<CR><LF>")
    # A handler with trace fields has them first in the stored copy: known before the
    # data (the session and envelope are), they start the buffer the message goes to.
    trace = getattr(server.event_handler, "trace_fields", None)
    prefix: bytes = trace(server.session, server.envelope) if trace is not None else b""
    decoder = DotDataDecoder(
        size_limit=server.data_size_limit, line_limit=server.line_length_limit, prefix=prefix
    )
    if not await receive(server, decoder):
        return  # the client went away inside the data; nothing is delivered
    if decoder.outcome is not Outcome.RECEIVED:
        server._set_post_data_state()
        if decoder.outcome is Outcome.TOO_LONG:
            await server.push("500 Line too long (see RFC5321 4.5.3.1.6)")
        else:
            await server.push("552 Error: Too much mail data")
        return
    stored = decoder.message()
    content = memoryview(stored)[len(prefix) :] if prefix else stored
    server.envelope.content = server.envelope.original_content = content
    status = await server._call_handler_hook("DATA")
    server._set_post_data_state()
    await server.push(status)
