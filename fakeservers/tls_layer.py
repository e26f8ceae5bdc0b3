"""The fake servers' own server-side TLS: ``ssl.MemoryBIO`` under an asyncio protocol.

Why not asyncio's TLS (``ssl=`` on ``loop.create_server``, ``loop.start_tls``):

- With ``ssl=`` the handshake of an implicit-TLS port (RFC 8314 section 3:
  imaps, pop3s, submissions) runs before the server's protocol exists, so no
  fault rule can act on the connection before or instead of the handshake
  (the ``corrupt_tls`` action; a ``connect`` rule's delay holding the
  ServerHello back). Here the server accepts plain TCP and starts TLS itself.
- asyncio's ``SSLProtocol`` keeps a 256 KB read buffer per connection for
  its lifetime; a thousand idle IMAPS sessions then cost a quarter of a
  gigabyte. Here nothing is kept between reads: ciphertext waits in a memory
  BIO only until it is decrypted, and plaintext is taken one TLS record's
  worth at a time (at most 2^14 octets, RFC 8446 section 5.1).

The design is sans-IO in spirit: received octets are fed into an
``ssl.SSLObject`` (``SSLContext.wrap_bio``), which yields plaintext and the
octets to send. :class:`TLSLayer` is the ``asyncio.Protocol`` of the TCP
transport; it presents the TLS session to the server's own protocol as
:class:`TLSTransport`, an ordinary ``asyncio.Transport`` (with the
``ssl_object``, ``sslcontext``, ``peercert``, ``cipher`` and ``compression``
extra info asyncio's TLS transport has). Only the public transport and
protocol API is used, so the selector and the proactor (Windows) loops
behave alike.

Flow control passes straight through: the server protocol pausing reading
pauses the TCP transport (what was received stays encrypted in the BIO until
reading resumes); the TCP transport's ``pause_writing`` reaches the server
protocol. Written plaintext is encrypted :data:`WRITE_CHUNK` octets at a time
and handed to the TCP transport while it takes more; once it asks to pause,
the rest of a large write waits as plaintext (a view of the caller's bytes,
not a copy) and is encrypted as the transport drains, so that ciphertext of
at most about one chunk beyond the TCP transport's high-water mark is ever
held. The server protocol is told to resume writing only when that backlog
is gone too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import deque
from collections.abc import Callable
from typing import Any, cast

logger = logging.getLogger(__name__)

#: Plaintext taken from the TLS object per read: one full TLS record (RFC 8446 section 5.1,
#: RFC 5246 section 6.2.1: at most 2^14 octets of plaintext per record).
READ_CHUNK = 16 * 1024
#: Plaintext encrypted per step of a large write, so that the outgoing BIO never holds
#: much more than the TCP transport is about to take anyway.
WRITE_CHUNK = 64 * 1024
#: Ciphertext held before the handshake starts (normally a ClientHello, a few hundred
#: octets); beyond this the TCP transport stops reading until the handshake begins.
PENDING_LIMIT = 64 * 1024

#: What the layer reports as TLS facts; every other extra-info name is the TCP transport's.
_TLS_EXTRA = frozenset({"ssl_object", "sslcontext", "peercert", "cipher", "compression"})


def _buffer_calls(
    app: asyncio.Protocol,
) -> tuple[Callable[[], memoryview | None], Callable[[int], None]] | None:
    """The server protocol's ``receive_buffer`` and ``buffer_filled``, where it has them.

    A protocol that has them may offer, before each read, a buffer to decrypt
    into (``receive_buffer`` returning a writable memoryview, or None for an
    ordinary ``data_received``); ``buffer_filled`` then says how many octets
    went there. This is asyncio's ``BufferedProtocol`` idea, asked per read, so
    that a server reads most data as ``bytes`` and a large literal in place.
    """
    space = getattr(app, "receive_buffer", None)
    filled = getattr(app, "buffer_filled", None)
    return None if space is None or filled is None else (space, filled)


class TLSLayer(asyncio.Protocol):
    """Server-side TLS between a TCP transport and a server protocol.

    Life cycle: :meth:`attach` puts the layer under a TCP transport (what
    arrives is kept, not decrypted); :meth:`handshake` runs the TLS handshake
    with a deadline; from then on plaintext goes to the server protocol's
    ``data_received`` and :attr:`transport` encrypts what it writes.
    ``on_secure`` is called once, right after the handshake and before any
    plaintext is delivered, so that the server can switch to the TLS transport
    without a window in which application data could arrive unseen.
    """

    def __init__(
        self,
        context: ssl.SSLContext,
        app: asyncio.Protocol,
        *,
        on_secure: Callable[[], None] | None = None,
    ) -> None:
        self._context = context
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._app = app
        self._into = _buffer_calls(app)
        self._on_secure = on_secure
        self._raw: asyncio.Transport | None = None
        #: ``new`` (attached, no handshake yet), ``handshake``, ``open``, ``closing``, ``closed``.
        self._state = "new"
        self._waiter: asyncio.Future[None] | None = None
        #: Plaintext the server wrote before the handshake completed (a connect rule's text).
        self._early: list[bytes] = []
        #: Plaintext written while the TCP transport asked to pause: encrypted as it drains.
        self._backlog: deque[memoryview] = deque()
        self._backlog_size = 0
        self._raw_write_paused = False
        self._app_write_paused = False
        #: close() came while a backlog was left: close once it has been sent.
        self._close_after_backlog = False
        self._app_paused = False
        self._raw_paused = False
        self._delivery_scheduled = False
        self._error: Exception | None = None
        self.transport = TLSTransport(self)

    # -- facts ----------------------------------------------------------------------

    @property
    def raw_transport(self) -> asyncio.Transport | None:
        """The TCP transport under the layer (for octets that must bypass TLS)."""
        return self._raw

    @property
    def secure(self) -> bool:
        """Whether the handshake has completed and the session is not closed."""
        return self._state == "open"

    @property
    def started(self) -> bool:
        """Whether :meth:`handshake` has been called."""
        return self._state != "new"

    @property
    def backlog_size(self) -> int:
        """Plaintext octets written but not yet encrypted (TCP asked to pause)."""
        return self._backlog_size

    @property
    def closing(self) -> bool:
        """Whether the layer is closing or closed (or will close once its backlog is sent)."""
        return self._state in ("closing", "closed") or self._close_after_backlog

    def extra(self, name: str, default: Any = None) -> Any:
        """``get_extra_info`` of the TLS transport: TLS facts once secure, else the TCP's."""
        if name in _TLS_EXTRA:
            if name == "sslcontext":
                return self._context
            if self._state != "open":
                return default
            if name == "ssl_object":
                return self._tls
            if name == "peercert":
                return self._tls.getpeercert()
            if name == "cipher":
                return self._tls.cipher()
            return self._tls.compression()
        if self._raw is None:
            return default
        return self._raw.get_extra_info(name, default)

    # -- set-up ---------------------------------------------------------------------

    def attach(self, raw: asyncio.Transport) -> None:
        """Become the protocol of ``raw``; what it receives from now on is TLS."""
        self._raw = raw
        raw.set_protocol(self)

    async def handshake(self, timeout: float) -> None:
        """Run the server side of the TLS handshake; at most ``timeout`` seconds.

        Raises ``ssl.SSLError`` when the client's handshake is refused,
        ``ConnectionResetError`` when the client left, ``ConnectionAbortedError``
        when the deadline passed (the connection is then dropped).
        """
        if self._state != "new":
            if self.closing:
                raise ConnectionResetError("the connection closed before the TLS handshake")
            raise RuntimeError("the TLS handshake has already begun")
        loop = asyncio.get_running_loop()
        self._state = "handshake"
        self._waiter = waiter = loop.create_future()
        self._resume_raw()
        self._advance()  # the ClientHello may be here already
        timer = loop.call_later(timeout, self._handshake_timed_out, timeout)
        try:
            await waiter
        except asyncio.CancelledError:
            self.abort()
            raise
        finally:
            timer.cancel()

    def _handshake_timed_out(self, timeout: float) -> None:
        if self._state == "handshake":
            message = f"TLS handshake not completed within {timeout:g} s"
            self._fail(ConnectionAbortedError(message))

    # -- asyncio.Protocol (the TCP side) --------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Unused: the layer is attached to a live transport with :meth:`attach`."""

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self._incoming.write(data)
        if self._state == "new":
            if self._incoming.pending > PENDING_LIMIT:
                self._pause_raw()
            return
        self._advance()

    def eof_received(self) -> bool | None:
        # A TCP FIN without close_notify: a truncation (RFC 8446 section 6.1); TLS has
        # no half-close, so the connection ends here either way.
        if self._state in ("new", "handshake"):
            self._settle(ConnectionResetError("the client closed during the TLS handshake"))
        elif self._state == "open":
            self._state = "closing"
            self._app.eof_received()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._state = "closed"
        self._settle(exc or ConnectionResetError("the connection closed during the TLS handshake"))
        self._early.clear()
        self._drop_backlog()
        self._app.connection_lost(self._error or exc)

    def pause_writing(self) -> None:
        if self._state != "closed":
            self._raw_write_paused = True
            self._tell_app_writing()

    def resume_writing(self) -> None:
        if self._state != "closed":
            self._raw_write_paused = False
            self._send_backlog()
            self._tell_app_writing()

    def _tell_app_writing(self) -> None:
        """Pause the server protocol's writing while TCP is paused or a backlog waits."""
        wanted = self._raw_write_paused or bool(self._backlog)
        if wanted and not self._app_write_paused:
            self._app_write_paused = True
            self._app.pause_writing()
        elif not wanted and self._app_write_paused:
            self._app_write_paused = False
            self._app.resume_writing()

    # -- the TLS engine -------------------------------------------------------------

    def _advance(self) -> None:
        """Drive the handshake, then hand the plaintext received to the server protocol."""
        if self._state == "handshake":
            try:
                self._tls.do_handshake()
            except ssl.SSLWantReadError:
                self._flush()
                return
            except (ssl.SSLError, ValueError) as error:
                self._flush()  # the alert that says why
                self._fail(error)
                return
            self._flush()
            self._state = "open"
            early, self._early = self._early, []
            for data in early:
                self._encrypt(data)
            if self._on_secure is not None:
                self._on_secure()
            self._settle(None)
        if self._state == "open":
            self._deliver()

    def _deliver(self) -> None:
        while self._state == "open" and not self._app_paused:
            into = self._into
            try:
                if into is not None and (space := into[0]()) is not None:
                    # Straight into the server protocol's buffer (a literal's own): no copy.
                    # With a buffer, read returns the count (typeshed says bytes).
                    count = cast(int, self._tls.read(len(space), space))
                    if count:
                        into[1](count)
                        continue
                    data = b""
                else:
                    data = self._tls.read(READ_CHUNK)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                data = b""
            except ssl.SSLError as error:
                self._flush()
                self._fail(error)
                return
            if not data:
                # close_notify (RFC 8446 section 6.1; SSLObject.read returns no octets, or
                # raises SSLZeroReturnError): the client is done; answer it and close.
                self._app.eof_received()
                self.close()
                return
            self._app.data_received(data)
        self._flush()  # reading may have produced octets to send (a KeyUpdate answer)

    def _encrypt(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        if self._backlog:
            self._keep(view)  # behind what already waits, in order
        else:
            self._encrypt_view(view)
        self._tell_app_writing()

    def _encrypt_view(self, view: memoryview) -> bool:
        """Encrypt ``view`` chunk by chunk while TCP takes it; keep the rest. True if all went."""
        start = 0
        try:
            while start < len(view):
                if self._raw_write_paused:
                    self._keep(view[start:])
                    return False
                self._tls.write(view[start : start + WRITE_CHUNK])
                self._flush()  # may pause writing (the TCP transport calls back at once)
                start += WRITE_CHUNK
        except ssl.SSLError as error:
            self._flush()
            self._fail(error)
        return True

    def _keep(self, view: memoryview) -> None:
        """Put plaintext in the backlog; a view of a mutable buffer is copied first."""
        if not isinstance(view.obj, bytes):
            view = memoryview(bytes(view))  # the caller may reuse its buffer
        self._backlog.append(view)
        self._backlog_size += len(view)

    def _send_backlog(self) -> None:
        """Encrypt what waits, while TCP takes it; then a close that waited for it."""
        while self._backlog and not self._raw_write_paused and self._state == "open":
            view = self._backlog.popleft()
            self._backlog_size -= len(view)
            if not self._encrypt_view(view):
                # What was kept went to the end of the backlog: move it back to the front.
                self._backlog.rotate(1)
                break
        if self._close_after_backlog and not self._backlog:
            self._close_after_backlog = False
            self.close()

    def _drop_backlog(self) -> None:
        self._backlog.clear()
        self._backlog_size = 0
        self._close_after_backlog = False

    def _flush(self) -> None:
        """Hand the TCP transport every octet the TLS object produced."""
        if self._outgoing.pending:
            data = self._outgoing.read()
            if self._raw is not None and not self._raw.is_closing():
                self._raw.write(data)

    def _settle(self, error: Exception | None) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)

    def _fail(self, error: Exception) -> None:
        """A fatal TLS error: drop the connection (what was flushed, an alert, still goes)."""
        logger.debug("TLS session failed: %s", error)
        if self._error is None:
            self._error = error
        self._settle(error)
        if self._state != "closed":
            self._state = "closing"
        if self._raw is not None:
            self._raw.abort()

    def _pause_raw(self) -> None:
        if not self._raw_paused and self._raw is not None:
            self._raw_paused = True
            self._raw.pause_reading()

    def _resume_raw(self) -> None:
        if self._raw_paused and self._raw is not None:
            self._raw_paused = False
            self._raw.resume_reading()

    def _scheduled_delivery(self) -> None:
        self._delivery_scheduled = False
        if self._state == "open" and not self._app_paused:
            self._deliver()

    # -- the TLS transport's operations ---------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Encrypt and send ``data``; before the handshake completes, keep it until then.

        ``data`` is encrypted at once (views are not copied first); only what
        must wait for the handshake is copied, since the caller may reuse it.
        """
        if self.closing or not data:
            return
        if self._state != "open":
            self._early.append(bytes(data))
            return
        self._encrypt(data)

    def pause_reading(self) -> None:
        """Stop handing plaintext up; what arrives stays encrypted in the TCP buffers."""
        self._app_paused = True
        self._pause_raw()

    def resume_reading(self) -> None:
        """Hand plaintext up again, first what was already received."""
        if not self._app_paused:
            return
        self._app_paused = False
        if self._state == "new":
            return  # reading starts with the handshake
        self._resume_raw()
        if self._incoming.pending and not self._delivery_scheduled:
            # Not from within the caller (it may be in the middle of reading its buffer).
            self._delivery_scheduled = True
            asyncio.get_running_loop().call_soon(self._scheduled_delivery)

    def is_reading(self) -> bool:
        """Whether plaintext is being handed up."""
        return not self._app_paused and not self.closing

    def close(self) -> None:
        """Send close_notify (RFC 8446 section 6.1) when the session is up, then close TCP.

        Plaintext still waiting in the backlog is sent first, as a TCP
        transport's close sends what it has buffered.
        """
        if self.closing:
            return
        if self._state == "open" and self._backlog:
            self._close_after_backlog = True
            return
        if self._state == "open":
            # SSLWantReadError: our close_notify is out; the client's is not awaited.
            with contextlib.suppress(ssl.SSLError):
                self._tls.unwrap()
            self._flush()
        self._state = "closing"
        self._early.clear()
        if self._raw is not None:
            self._raw.close()

    def abort(self) -> None:
        """Drop the connection at once, sending nothing more."""
        if self._state != "closed":
            self._state = "closing"
        self._early.clear()
        self._drop_backlog()
        if self._raw is not None:
            self._raw.abort()

    def set_app(self, app: asyncio.Protocol) -> None:
        """Hand plaintext and events to ``app`` from now on."""
        self._app = app
        self._into = _buffer_calls(app)

    @property
    def app(self) -> asyncio.Protocol:
        """The server protocol the plaintext goes to."""
        return self._app


class TLSTransport(asyncio.Transport):
    """A :class:`TLSLayer` seen from the server protocol: an ordinary asyncio transport.

    TLS has no half-close, so ``can_write_eof`` is False, as on asyncio's own
    TLS transport; the write buffer is the TCP transport's.
    """

    def __init__(self, layer: TLSLayer) -> None:
        super().__init__()
        self._layer = layer

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._layer.extra(name, default)

    def is_closing(self) -> bool:
        return self._layer.closing

    def close(self) -> None:
        self._layer.close()

    def abort(self) -> None:
        self._layer.abort()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._layer.write(data)

    def can_write_eof(self) -> bool:
        return False

    def write_eof(self) -> None:
        raise NotImplementedError("TLS has no half-close")

    def pause_reading(self) -> None:
        self._layer.pause_reading()

    def resume_reading(self) -> None:
        self._layer.resume_reading()

    def is_reading(self) -> bool:
        return self._layer.is_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        raw = self._layer.raw_transport
        if raw is not None:
            raw.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        raw = self._layer.raw_transport
        buffered = raw.get_write_buffer_size() if raw is not None else 0
        return buffered + self._layer.backlog_size

    def get_write_buffer_limits(self) -> tuple[int, int]:
        raw = self._layer.raw_transport
        return raw.get_write_buffer_limits() if raw is not None else (0, 0)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        if not isinstance(protocol, asyncio.Protocol):
            raise TypeError("a TLS transport serves an asyncio.Protocol")
        self._layer.set_app(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._layer.app
