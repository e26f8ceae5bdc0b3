"""A server-side connection for the line-based fake servers (IMAP and POP3).

Why not ``asyncio.StreamReader``: after STARTTLS the server must throw away
every clear-text byte the client sent after the STARTTLS command (RFC 2595
section 3.1, RFC 3207 section 4.2; CVE-2011-0411 is the bug that happens
otherwise), and a StreamReader keeps its buffer across ``start_tls`` with no
public way to empty it. This :class:`asyncio.Protocol` owns its buffer, so
:meth:`Connection.start_tls` can discard it.

TLS, implicit (RFC 8314 section 3) and after STARTTLS, runs through the fake
servers' own :class:`~fakeservers.tls_layer.TLSLayer`, not asyncio's: on an
implicit-TLS port the connection is accepted as plain TCP and starts TLS
itself, so that the ``connect`` rules act before the handshake (a delay holds
it back, ``corrupt_tls`` replaces it), and an idle TLS session keeps no large
read buffer. The layer only uses public transport and protocol calls, so the
selector and the proactor loop behave alike.

Reads are bounded: a line longer than the limit is consumed and reported as
:class:`LineTooLong` without being kept; reading pauses the transport when the
buffer grows past a high-water mark, so a client cannot make the server buffer
without bound. Every read waits at most ``idle_timeout`` seconds.

Large transfers are made with few copies. A literal (its size bounded by the
caller) is not gathered in the line buffer: :meth:`Connection.read_exactly`
sets up one buffer of the literal's size, which becomes the very ``bytes``
object the caller keeps (``io.BytesIO.getvalue`` hands its buffer over
without a copy once no view of it is left). Under TLS the layer decrypts
straight into that buffer (:meth:`Connection.receive_buffer`); in clear text
each piece received is copied into it once. A 50 MB APPEND is thus held
once, not once as pieces and once more joined. A large response goes out
with :meth:`Connection.write_pieces`: each piece (a memoryview into a stored
message, say) in slices, each after the transport drained, so that neither
the transport's buffer nor the TLS layer ever holds the whole of it.
"""

from __future__ import annotations

import asyncio
import io
import ssl
import zlib
from collections.abc import Callable, Sequence
from typing import cast

from fakeservers.rules import Event, SessionRules, Wire
from fakeservers.rules.wire import LARGE_WRITE, write_paced
from fakeservers.tls_layer import TLSLayer

_HIGH_WATER = 256 * 1024
#: A literal at least this large is gathered as received pieces, not in the line buffer.
_SINK_MIN = 64 * 1024

Octets = bytes | memoryview


class ConnectionClosed(Exception):
    """The client closed the connection (or it broke) before the read completed."""


class LineTooLong(Exception):
    """A line exceeded the limit; it has been consumed up to and including its LF."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"line longer than {limit} octets")
        self.limit = limit


class IdleTimeout(Exception):
    """The client sent nothing for ``idle_timeout`` seconds."""


class Connection(asyncio.Protocol):
    """One client connection with bounded line and exact-length reads."""

    def __init__(
        self,
        *,
        idle_timeout: float,
        rules: SessionRules | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        tls_handshake_timeout: float = 10.0,
    ) -> None:
        self.idle_timeout = idle_timeout
        #: The context of an implicit-TLS port (imaps, pop3s); None where TLS comes by STARTTLS.
        self.implicit_tls = implicit_tls
        self.tls_handshake_timeout = tls_handshake_timeout
        self._tls: TLSLayer | None = None
        #: Applies the fault rules to this connection; None when no rule concerns it.
        self.wire = (
            Wire(rules, lambda: self._transport, encode=self._encode, drain=self._writable)
            if rules
            else None
        )
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._eof = False
        self._closed = asyncio.get_running_loop().create_future()
        self._data_waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._paused = False
        #: The literal being read (:meth:`read_exactly`), while one is.
        self._sink: _Sink | None = None
        self._on_connect: Callable[[Connection], None] | None = None
        # COMPRESS=DEFLATE (RFC 4978): raw deflate both ways once started.
        self._deflate: zlib._Compress | None = None
        self._inflate: zlib._Decompress | None = None

    @classmethod
    def factory(
        cls,
        on_connect: Callable[[Connection], None],
        *,
        idle_timeout: float,
        rules: Callable[[], SessionRules] | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        tls_handshake_timeout: float = 10.0,
    ) -> Callable[[], Connection]:
        """A protocol factory for ``loop.create_server`` calling ``on_connect`` per client.

        ``rules`` gives each new connection its session's fault rules. With
        ``implicit_tls`` every connection begins TLS when accepted; the caller
        completes it with :meth:`accept_tls` before serving.
        """

        def build() -> Connection:
            connection = cls(
                idle_timeout=idle_timeout,
                rules=rules() if rules else None,
                implicit_tls=implicit_tls,
                tls_handshake_timeout=tls_handshake_timeout,
            )
            connection._on_connect = on_connect
            return connection

        return build

    # -- asyncio.Protocol -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        raw = cast(asyncio.Transport, transport)
        if self.implicit_tls is not None:
            # RFC 8314 section 3: TLS from the first octet. What the server writes before
            # the handshake completes (a connect rule's text) waits for it, encrypted.
            self._tls = TLSLayer(self.implicit_tls, self, on_secure=self._on_secure)
            self._tls.attach(raw)
            self._transport = self._tls.transport
        else:
            self._transport = raw
        if self.wire is not None:
            self.wire.on_event(Event.CONNECT)  # before any TLS handshake
        if self._on_connect is not None:
            self._on_connect(self)

    def data_received(self, data: bytes) -> None:
        if self.wire is not None:
            if self.wire.stalled:
                return
            watched = self.wire.rules.watches(Event.BYTES)
            if watched and self.wire.on_event(Event.BYTES, data).ending is not None:
                return  # the octets that end the connection are not served
        if self._inflate is not None:
            inflated = self._inflated(data)
            if inflated is None:
                return
            data = inflated
        sink = self._sink
        if sink is not None and not self._buffer:
            data = sink.take(data)
            if not data:
                if sink.full or self.wire is not None:
                    self._wake()  # with rules, every arrival counts (idle rules)
                return
        self._buffer += data
        if len(self._buffer) > _HIGH_WATER and not self._paused and self._transport:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def receive_buffer(self) -> memoryview | None:
        """Where the TLS layer may decrypt the next octets to, if anywhere.

        While a large literal is read (and nothing else waits in the line
        buffer, no deflate or rule needs to see the octets first), its own
        buffer: the octets are then never copied after decryption.
        """
        sink = self._sink
        if sink is None or sink.full or self._buffer or self._inflate is not None:
            return None
        if self.wire is not None:
            return None  # rules see every arrival (data_received)
        return sink.space()

    def buffer_filled(self, count: int) -> None:
        """``count`` octets were written into :meth:`receive_buffer`'s space."""
        sink = self._sink
        if sink is not None:
            sink.filled(count)
            if sink.full:
                self._wake()

    def eof_received(self) -> bool | None:
        # The client closed its side; ours stays open (TCP half-close, RFC 9293 section
        # 3.6) so that commands it sent before are still answered: the session reads them
        # from the buffer, then meets ConnectionClosed and closes. Under TLS the layer
        # ends the connection itself and does not look at this answer.
        self._eof = True
        self._wake()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._wake()
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)
        if not self._closed.done():
            self._closed.set_result(None)

    def pause_writing(self) -> None:
        if self._drain_waiter is None or self._drain_waiter.done():
            self._drain_waiter = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    # -- facts ------------------------------------------------------------------

    @property
    def peer(self) -> str:
        """The client's address as ``host:port`` for logs."""
        peer = self._transport.get_extra_info("peername") if self._transport else None
        if isinstance(peer, tuple) and len(peer) >= 2:
            return f"{peer[0]}:{peer[1]}"
        return str(peer)

    @property
    def is_tls(self) -> bool:
        """Whether the connection is protected by TLS now."""
        return self.ssl_object is not None

    @property
    def ssl_object(self) -> ssl.SSLObject | None:
        """The TLS object once TLS is up (version, cipher, ALPN), else None."""
        if self._transport is None:
            return None
        return cast("ssl.SSLObject | None", self._transport.get_extra_info("ssl_object"))

    @property
    def closed(self) -> bool:
        """Whether the transport is gone."""
        return self._closed.done()

    # -- reading ----------------------------------------------------------------

    async def read_line(self, limit: int) -> bytes:
        """The next line, with its line ending, at most ``limit`` octets.

        Raises :class:`LineTooLong` (after skipping the rest of the line),
        :class:`ConnectionClosed` or :class:`IdleTimeout`. The whole line must
        arrive within ``idle_timeout``: a client trickling one octet at a time
        (slowloris) is timed out like a silent one.
        """
        deadline = asyncio.get_running_loop().time() + self.idle_timeout
        searched = 0
        while True:
            end = self._buffer.find(b"\n", searched)
            if end >= 0:
                if end + 1 > limit:
                    self._consume(end + 1)
                    raise LineTooLong(limit)
                return self._consume(end + 1)
            if len(self._buffer) > limit:
                await self._skip_line()
                raise LineTooLong(limit)
            searched = len(self._buffer)
            await self._wait_for_data(deadline)

    async def read_exactly(self, count: int) -> bytes:
        """Exactly ``count`` octets (a literal); the caller bounds ``count``.

        A large literal is taken as it arrives straight from the transport into
        one buffer of its size (the line buffer stays empty, so reading never
        pauses; under TLS it is decrypted right there, see
        :meth:`receive_buffer`). The idle timeout applies to silence: a
        literal that keeps arriving is read however long it takes.
        """
        if len(self._buffer) >= count:
            return self._consume(count)
        if count < _SINK_MIN:
            received = bytearray()
            while len(received) < count:
                if not self._buffer:
                    await self._wait_for_data()
                    continue
                taken = min(count - len(received), len(self._buffer))
                received += self._buffer[:taken]
                del self._buffer[:taken]
                self._resume_if_paused()
            return bytes(received)
        sink = _Sink(count)
        if self._buffer:
            sink.take(self._buffer)
            self._buffer.clear()
            self._resume_if_paused()
        self._sink = sink
        try:
            while not sink.full:
                before = sink.received
                try:
                    await self._wait_for_data()
                except IdleTimeout:
                    if sink.received == before:
                        raise
        finally:
            self._sink = None
        return sink.joined()

    def discard_buffer(self) -> int:
        """Drop everything received but not yet read; returns how many octets."""
        dropped = len(self._buffer)
        self._buffer.clear()
        self._resume_if_paused()
        return dropped

    async def _skip_line(self) -> None:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                self._consume(end + 1)
                return
            self._buffer.clear()
            self._resume_if_paused()
            await self._wait_for_data()

    def _consume(self, count: int) -> bytes:
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        self._resume_if_paused()
        return data

    def _resume_if_paused(self) -> None:
        if self.wire is not None and self.wire.stalled:
            return
        if self._paused and len(self._buffer) <= _HIGH_WATER // 2 and self._transport:
            self._paused = False
            self._transport.resume_reading()

    async def _wait_for_data(self, deadline: float | None = None) -> None:
        if self._eof:
            raise ConnectionClosed("client closed the connection")
        loop = asyncio.get_running_loop()
        self._data_waiter = loop.create_future()
        wait = self.idle_timeout if deadline is None else max(0.0, deadline - loop.time())
        idle_ms = self.wire.rules.idle_ms if self.wire is not None else None
        try:
            if idle_ms is not None and idle_ms / 1000 < wait:
                # An ``idle`` rule acts after its silence; the wait then goes on.
                done, _ = await asyncio.wait([self._data_waiter], timeout=idle_ms / 1000)
                if not done and self.wire is not None:
                    self.wire.on_event(Event.IDLE)
                    wait -= idle_ms / 1000
            await asyncio.wait_for(self._data_waiter, wait)
        except TimeoutError:
            raise IdleTimeout(f"no complete command within {self.idle_timeout:g} s") from None
        finally:
            self._data_waiter = None

    def _wake(self) -> None:
        if self._data_waiter is not None and not self._data_waiter.done():
            self._data_waiter.set_result(None)

    # -- writing ----------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Queue ``data`` for the client (ignored once the connection is gone).

        With fault rules, the data goes through the :class:`Wire`, which may
        delay, rewrite or replace it.
        """
        if self.wire is not None:
            self.wire.write(data)  # the wire compresses what it finally writes
        else:
            self._send(data)

    async def write_pieces(self, pieces: Sequence[Octets]) -> None:
        """Send one response given as pieces, in order, without joining them.

        Under :data:`LARGE_WRITE` octets the pieces are joined and written as
        one; above it each piece goes in slices of :data:`WRITE_SLICE`, each
        after the transport drained (the pieces must not change meanwhile:
        bytes, or views of bytes). With fault rules the response is joined,
        so that the rules see it whole, and the wire paces it.
        """
        total = sum(len(piece) for piece in pieces)
        if total < LARGE_WRITE or self.wire is not None:
            self.write(b"".join(pieces))
            return
        await write_paced(pieces, self._send, self._writable, stopped=self._not_writing)

    def _send(self, data: Octets) -> None:
        """``data`` to the transport, encoded (no fault rules), unless it is going away."""
        if not self._not_writing():
            assert self._transport is not None
            self._transport.write(self._encode(data))

    def _not_writing(self) -> bool:
        return self._transport is None or self._transport.is_closing()

    def _encode(self, data: Octets) -> Octets:
        """``data`` as it goes on the wire: deflated once COMPRESS=DEFLATE is on (RFC 4978)."""
        if self._deflate is None:
            return data
        return self._deflate.compress(data) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its high-water mark.

        A client that stops reading would hold the session here forever; after
        ``idle_timeout`` the connection is dropped instead.
        """
        if self.wire is not None:
            await self.wire.flush()
        await self._writable()

    async def _writable(self) -> None:
        """Wait while the transport has asked to pause writing (at most ``idle_timeout``)."""
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            try:
                await asyncio.wait_for(asyncio.shield(waiter), self.idle_timeout)
            except TimeoutError:
                self.abort()
                raise IdleTimeout(f"client read nothing for {self.idle_timeout:g} s") from None

    async def start_tls(self, context: ssl.SSLContext, *, timeout: float) -> int:
        """Upgrade to TLS as the server; returns how many clear-text octets were discarded.

        Discarding is required: bytes pipelined after STARTTLS must not be
        executed as if they had come over TLS (RFC 2595 section 3.1). Raises
        ``ssl.SSLError`` or ``ConnectionError`` when the handshake fails.
        """
        if self._transport is None:
            raise ConnectionClosed("no transport")
        if self._tls is not None:
            raise ConnectionClosed("TLS is already active")
        dropped = self.discard_buffer()
        # From here every octet received goes to the TLS layer, never to our buffer:
        # the ClientHello is not discarded with the pipelined clear text, even while
        # delayed output is still being written below.
        self._tls = TLSLayer(context, self, on_secure=self._on_secure)
        self._tls.attach(self._transport)
        await self._handshake(self._tls, timeout)
        return dropped

    async def accept_tls(self) -> None:
        """Complete the implicit-TLS handshake this connection began when accepted.

        The ``connect`` rules act first: their delay holds the handshake back and
        ``corrupt_tls`` sends garbage in its place (then :class:`ConnectionClosed`).
        Raises ``ssl.SSLError`` or ``ConnectionError`` when the handshake fails,
        ``ConnectionAbortedError`` after ``tls_handshake_timeout``.
        """
        if self._tls is None or self._tls.started:
            raise RuntimeError("no implicit TLS handshake is pending on this connection")
        await self._handshake(self._tls, self.tls_handshake_timeout)

    async def _handshake(self, layer: TLSLayer, timeout: float) -> None:
        if self.wire is not None and not await self.wire.before_handshake(layer.raw_transport):
            raise ConnectionClosed("TLS handshake corrupted by a rule")
        await layer.handshake(timeout)

    def _on_secure(self) -> None:
        """The handshake completed (called before any plaintext is delivered)."""
        if self._tls is not None:
            self._transport = self._tls.transport
        if self.wire is not None:
            self.wire.on_event(Event.TLS)

    def start_compression(self) -> None:
        """Deflate (RFC 1951, no zlib header) both ways from now on: COMPRESS, RFC 4978.

        Call after the reply that starts it has been written and drained. Octets
        already received after the command are compressed ones and are inflated now.
        """
        self._deflate = zlib.compressobj(wbits=-15)
        self._inflate = zlib.decompressobj(wbits=-15)
        pending = bytes(self._buffer)
        self._buffer.clear()
        if pending:
            self._buffer += self._inflated(pending) or b""

    def _inflated(self, data: bytes) -> bytes | None:
        """``data`` inflated; None, with the connection dropped, if it is no deflate stream.

        A corrupt stream cannot be resynchronised (RFC 4978 section 4): nothing
        after it can be read, so the connection ends and the session meets
        :class:`ConnectionClosed` on its next read.
        """
        assert self._inflate is not None
        try:
            return self._inflate.decompress(data)
        except zlib.error:
            self.abort()
            return None

    async def close(self) -> None:
        """Close the connection and wait (briefly) until it is gone."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()
        try:
            await asyncio.wait_for(asyncio.shield(self._closed), 2.0)
        except TimeoutError:
            if self._transport is not None:
                self._transport.abort()

    def abort(self) -> None:
        """Drop the connection at once without flushing."""
        if self._transport is not None:
            self._transport.abort()


class _Sink:
    """One literal's octets, filled in place up to its announced size.

    The buffer is a :class:`io.BytesIO` grown to the full size at once, so
    that :meth:`joined` returns its own ``bytes`` without copying them (the
    CPython ``getvalue`` shares the buffer when no view is exported; where an
    implementation copies instead, the result is the same octets).
    """

    def __init__(self, count: int) -> None:
        self.count = count
        self.received = 0
        self._file = io.BytesIO()
        if count:
            self._file.seek(count - 1)
            self._file.write(b"\0")  # the buffer at its full size, in one allocation
        self._view: memoryview | None = self._file.getbuffer()

    @property
    def full(self) -> bool:
        """Whether every octet of the literal has arrived."""
        return self.received >= self.count

    def space(self) -> memoryview:
        """Where the next octets go (for a reader that writes into it: the TLS layer)."""
        assert self._view is not None, "the literal has been handed over"
        return self._view[self.received :]

    def filled(self, count: int) -> None:
        """``count`` octets were written into :meth:`space`."""
        self.received += count

    def take(self, data: bytes | bytearray) -> bytes:
        """Copy what ``data`` holds of the literal; returns the octets after it."""
        wanted = min(self.count - self.received, len(data))
        with memoryview(data) as view:
            self.space()[:wanted] = view[:wanted]
            rest = bytes(view[wanted:]) if wanted < len(data) else b""
        self.received += wanted
        return rest

    def joined(self) -> bytes:
        """The literal as one bytes object (the buffer itself, handed over)."""
        if self._view is not None:
            self._view.release()
            self._view = None
        return self._file.getvalue()
