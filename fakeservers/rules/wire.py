"""Carrying out what rules decide, on a live asyncio transport, in order.

One :class:`Wire` per connection sits between a server and its transport.
Output goes through :meth:`Wire.write`: with no rule firing it is written at
once; otherwise the actions (delay, chunks, truncation, endings) run on one
task that keeps every later write queued behind them, so the client sees the
bytes in the order the server produced them. :meth:`Wire.flush` waits for
that queue; servers call it where they would wait for the transport to drain.

Large output (a FETCH of a message of tens of megabytes) is written in
slices of :data:`WRITE_SLICE` octets, each after the transport has drained
(the ``drain`` the server gives), so that neither the transport's buffer nor
a TLS layer's ciphertext ever holds a whole copy of it. The rules still see
the response whole, as one event.

The wire only touches the public asyncio transport API (``write``,
``close``, ``abort``, ``pause_reading``, ``write_eof``, the ``socket`` extra
info), so it serves aiosmtpd's protocol and the IMAP/POP3 connection alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from fakeservers.rules.engine import Fired, SessionRules
from fakeservers.rules.model import Ending, Event

logger = logging.getLogger(__name__)

#: What a corrupted TLS handshake sends: a TLS record header announcing a
#: handshake of impossible length, then octets that are no handshake message.
CORRUPT_HANDSHAKE = b"\x16\x03\x03\xff\xff" + b"\x00not a TLS handshake\x00" * 4

TransportGetter = Callable[[], asyncio.BaseTransport | None]
Octets = bytes | memoryview

#: Output at least this large is written in slices, waiting for the transport to drain.
LARGE_WRITE = 1024 * 1024
#: The slice of large output handed to the transport at a time.
WRITE_SLICE = 256 * 1024


async def write_paced(
    pieces: Sequence[Octets],
    write: Callable[[Octets], None],
    writable: Callable[[], Awaitable[None]],
    *,
    stopped: Callable[[], bool],
) -> None:
    """Write ``pieces`` in order, in slices of :data:`WRITE_SLICE`, each after ``writable()``.

    Neither the transport's buffer nor a copy of a large response grows: each
    slice is a view of the caller's octets (which must not change meanwhile).
    Stops as soon as ``stopped()`` says the connection is going away.
    """
    for piece in pieces:
        view = memoryview(piece)
        for start in range(0, len(view), WRITE_SLICE):
            if stopped():
                return
            write(view[start : start + WRITE_SLICE])
            await writable()


def _linger_off() -> bytes:
    """``struct linger`` with l_onoff=1, l_linger=0: close() then sends RST.

    Windows declares both members ``u_short``; POSIX systems ``int``.
    """
    return struct.pack("HH", 1, 0) if sys.platform == "win32" else struct.pack("ii", 1, 0)


class Wire:
    """Applies the rules of one session to what the server writes and experiences."""

    def __init__(
        self,
        rules: SessionRules,
        transport: TransportGetter,
        *,
        encode: Callable[[Octets], Octets] | None = None,
        drain: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.rules = rules
        self._transport = transport
        #: Applied to every octet written, after the rules (IMAP COMPRESS=DEFLATE):
        #: rules see and inject protocol text, never compressed octets.
        self._encode = encode
        #: Waits until the transport's write buffer is below its high-water mark
        #: (never for the wire's own queue); large output is paced by it.
        self._drain = drain
        self._pending: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._runner: asyncio.Task[None] | None = None
        self._greeted = False
        self._corrupt_next_tls = False
        #: Set once a rule ended the connection; later output is dropped.
        self.ending: Ending | None = None

    # -- facts ----------------------------------------------------------------------

    @property
    def stalled(self) -> bool:
        """Whether a rule stopped this connection (no reading, no writing)."""
        return self.ending is Ending.STALL

    @property
    def tls(self) -> bool:
        """Whether the connection is under TLS now."""
        transport = self._transport()
        return transport is not None and transport.get_extra_info("ssl_object") is not None

    def take_corrupt_tls(self) -> bool:
        """Whether the next TLS handshake must be corrupted (asked once, by the server)."""
        corrupt, self._corrupt_next_tls = self._corrupt_next_tls, False
        return corrupt

    async def before_handshake(self, raw: asyncio.BaseTransport | None) -> bool:
        """Wait out the queued output (a connect rule's delay), then play ``corrupt_tls``.

        ``raw`` is the TCP transport under a TLS layer whose handshake has not
        begun. Returns whether the handshake may go on (False: garbage was sent
        in its place and the connection closed).
        """
        await self.flush()
        if self.take_corrupt_tls():
            self.corrupt_handshake(raw)
            return False
        return True

    # -- output ---------------------------------------------------------------------

    def write(self, data: bytes, **fields: str) -> None:
        """Send server output, through the ``greeting`` or ``response`` rules."""
        event = Event.RESPONSE if self._greeted else Event.GREETING
        self._greeted = True
        fired = self.rules.fire(event, data=data, tls=self.tls) if self.rules else Fired()
        idle = not self._pending and self._runner is None
        paced = self._drain is not None and len(data) >= LARGE_WRITE
        if idle and fired.instant and not paced:
            # Nothing to wait for: write now, so that no await opens a window in which
            # the client's next octets (a TLS ClientHello after STARTTLS) could arrive.
            self._raw(fired.before + fired.rewrite(data, **fields) + fired.after)
            return
        self._queue(lambda: self._perform(fired, data, fields))

    async def flush(self) -> None:
        """Wait until every queued output (with its delays) has been written."""
        while self._runner is not None:
            await asyncio.shield(self._runner)

    def _raw(self, data: Octets) -> None:
        transport = self._transport()
        writable = isinstance(transport, asyncio.WriteTransport) and not transport.is_closing()
        if data and self.ending is None and writable:
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(self._encode(data) if self._encode is not None else data)

    def _queue(self, step: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._pending.append(step)
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            while self._pending:
                step = self._pending.pop(0)
                try:
                    await step()
                except (ConnectionError, OSError) as error:
                    logger.debug("rule action failed on a broken connection: %s", error)
        finally:
            self._runner = None

    async def _perform(self, fired: Fired, data: bytes, fields: dict[str, str]) -> None:
        """Delay, before, the (rewritten, chunked) output, after, then the ending."""
        if fired.delay:
            await asyncio.sleep(fired.delay)
        self._raw(fired.before)
        output = fired.rewrite(data, **fields)
        chunks = fired.chunks
        if chunks is None or chunks.size <= 0:
            await self._paced(output)
        else:
            for start in range(0, len(output), chunks.size):
                if start and chunks.delay:
                    await asyncio.sleep(chunks.delay)
                self._raw(output[start : start + chunks.size])
        self._raw(fired.after)
        if fired.ending is not None:
            self.end(fired.ending)

    async def _paced(self, data: bytes) -> None:
        """Write ``data``; when large, slice by slice, each after the transport drained."""
        if self._drain is None or len(data) < LARGE_WRITE:
            self._raw(data)
            return
        await write_paced([data], self._raw, self._drain, stopped=lambda: self.ending is not None)

    # -- events ---------------------------------------------------------------------

    async def command(self, verb: str, line: bytes) -> Fired:
        """Fire the ``command`` rules; performs their delay and ``send_before``.

        The caller then runs the command unless :attr:`Fired.replacement` is
        set (then it sends :meth:`replace_command` instead), and finally
        calls :meth:`conclude`.
        """
        fired = self.rules.fire(Event.COMMAND, data=line, verb=verb.upper(), tls=self.tls)
        if fired:
            await self.flush()
            if fired.delay:
                await asyncio.sleep(fired.delay)
            self._raw(fired.before)
            if fired.corrupt_tls:
                self._corrupt_next_tls = True
        return fired

    def replace_command(self, fired: Fired, **fields: str) -> None:
        """Send a ``command`` rule's ``send`` text in place of the command's response."""
        self._raw(fired.rewrite(b"", **fields))

    async def conclude(self, fired: Fired) -> None:
        """After a command: its rules' ``send_after`` and ending."""
        if fired:
            await self.flush()
            self._raw(fired.after)
            if fired.ending is not None:
                self.end(fired.ending)

    def on_event(self, event: Event, data: bytes = b"") -> Fired:
        """Fire ``connect``, ``tls``, ``idle`` or ``bytes`` rules and queue their actions.

        A ``corrupt_tls`` action marks the next handshake for corruption: on an
        implicit-TLS port a ``connect`` rule's is the first one (RFC 8314 section 3).
        """
        fired = self.rules.fire(event, data=data, tls=self.tls) if self.rules else Fired()
        if fired.corrupt_tls:
            self._corrupt_next_tls = True
        if fired:
            self._queue(lambda: self._perform(fired, b"", {}))
        return fired

    # -- endings --------------------------------------------------------------------

    def end(self, ending: Ending) -> None:
        """End the connection the way a rule asked."""
        transport = self._transport()
        if transport is None or self.ending is not None:
            return
        self.ending = ending
        if ending is Ending.CLOSE:
            transport.close()
        elif ending is Ending.RESET:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _linger_off())
            if isinstance(transport, asyncio.Transport):
                transport.abort()
            else:
                transport.close()
        elif ending is Ending.STALL:
            if isinstance(transport, asyncio.ReadTransport):
                transport.pause_reading()
        elif ending is Ending.CLOSE_WRITE:
            if isinstance(transport, asyncio.WriteTransport) and transport.can_write_eof():
                transport.write_eof()
            else:
                transport.close()

    def corrupt_handshake(self, transport: asyncio.BaseTransport | None = None) -> None:
        """Send garbage where the server's TLS handshake should be, then close.

        ``transport`` is where the garbage goes when it is not the wire's own: the
        TCP transport under a TLS layer whose handshake has not begun (implicit TLS).
        """
        if transport is None:
            transport = self._transport()
        if isinstance(transport, asyncio.WriteTransport) and not transport.is_closing():
            transport.write(CORRUPT_HANDSHAKE)
            transport.close()
        self.ending = Ending.CLOSE
