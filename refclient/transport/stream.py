"""A byte stream to a server: connect, read, write, upgrade to TLS, record all of it.

The reference client's sessions pump bytes between a :class:`Stream` and a
sans-IO engine. The stream owns its receive buffer (an :class:`asyncio.Protocol`
rather than a ``StreamReader``) for one reason: when STARTTLS is started, any
clear-text byte already received is a response-injection attempt by a
man-in-the-middle (RFC 2595 section 3.1, RFC 3207 section 4.2; CVE-2011-0411
and the 2021 "NO STARTTLS" study), and :meth:`Stream.start_tls` must see and
refuse it rather than let it surface later as if it had come over TLS.

Every byte in either direction goes to the connection's
:class:`~refclient.transcript.Transcript`, and so do the TLS events.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from refclient.transcript import Transcript
from refclient.transport.compress import Deflate

_HIGH_WATER = 1024 * 1024
#: A piece larger than this is written in slices of this size, with flow control between.
_WRITE_SLICE = 1024 * 1024


class InjectedBytes(Exception):
    """Clear-text bytes arrived before the TLS handshake of STARTTLS started."""

    def __init__(self, data: bytes) -> None:
        super().__init__(f"{len(data)} octets received after the STARTTLS reply, before TLS")
        self.data = data


@dataclass(frozen=True, kw_only=True)
class TLSInfo:
    """What was negotiated, for reports and expectations."""

    version: str
    cipher: str
    bits: int
    alpn: str | None
    server_hostname: str | None
    #: The peer certificate as decoded by :meth:`ssl.SSLObject.getpeercert` (empty if unverified).
    certificate: dict[str, Any]
    #: The peer certificate in DER form (None if the server sent none).
    certificate_der: bytes | None
    starttls: bool

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (the DER is left out)."""
        return {
            "version": self.version,
            "cipher": self.cipher,
            "bits": self.bits,
            "alpn": self.alpn,
            "server_hostname": self.server_hostname,
            "certificate": _jsonable(self.certificate),
            "starttls": self.starttls,
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return value


class _Receiver(asyncio.Protocol):
    """Buffers what the server sends and wakes the reader."""

    def __init__(self) -> None:
        #: Received chunks not yet taken, and their total size.
        self.buffer: list[bytes] = []
        self.size = 0
        self.eof = False
        self.error: Exception | None = None
        self.transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._drain: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer.append(data)
        self.size += len(data)
        if self.size > _HIGH_WATER and not self._paused and self.transport:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool | None:
        self.eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake()
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def pause_writing(self) -> None:
        self._drain = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def take(self) -> bytes:
        # One chunk (the common case) is handed on as is, without a copy.
        chunks = self.buffer
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self.buffer = []
        self.size = 0
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    async def wait(self, timeout: float) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a cancellation
            # (Ctrl-C) that arrives as the data does, and the session would run on.
            async with asyncio.timeout(timeout):
                await self._waiter
        finally:
            self._waiter = None

    async def drained(self) -> None:
        if self._drain is not None and not self._drain.done():
            await self._drain

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class Stream:
    """One connection to a server, clear text or TLS, with its transcript."""

    def __init__(self, receiver: _Receiver, transcript: Transcript, *, tls: TLSInfo | None) -> None:
        self._receiver = receiver
        self.transcript = transcript
        self.tls = tls
        #: Set by :meth:`start_deflate` (IMAP COMPRESS=DEFLATE).
        self.deflate: Deflate | None = None

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        transcript: Transcript,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        timeout: float = 30.0,
    ) -> Stream:
        """Open a TCP connection (with implicit TLS when ``ssl_context`` is given).

        Raises :class:`OSError`, :class:`ssl.SSLError` or :class:`TimeoutError`.
        """
        loop = asyncio.get_running_loop()
        transcript.event(
            f"connecting to {host}:{port}" + (" (implicit TLS)" if ssl_context else "")
        )
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a cancellation
        # (Ctrl-C) that arrives as the connection completes, and the run would go on.
        async with asyncio.timeout(timeout):
            _transport, receiver = await loop.create_connection(
                _Receiver,
                host,
                port,
                ssl=ssl_context,
                server_hostname=(server_hostname or host) if ssl_context else None,
                ssl_handshake_timeout=timeout if ssl_context else None,
            )
        stream = cls(receiver, transcript, tls=None)
        transcript.event("connected")
        if ssl_context is not None:
            stream.tls = stream._tls_info(starttls=False, server_hostname=server_hostname or host)
            transcript.event(stream._describe_tls())
        return stream

    # -- I/O ----------------------------------------------------------------------

    async def read(self, timeout: float) -> bytes:
        """What the server sent since the last read; ``b""`` once it closed.

        Waits at most ``timeout`` seconds for the first octet, then raises
        :class:`TimeoutError`.
        """
        receiver = self._receiver
        if self.deflate is not None:
            return await self._read_inflated(self.deflate, timeout)
        if not receiver.buffer and not receiver.eof:
            await receiver.wait(timeout)
        data = receiver.take()
        if data:
            self.transcript.server(data)
        elif receiver.eof:
            self.transcript.event("server closed the connection")
        return data

    async def _read_inflated(self, deflate: Deflate, timeout: float) -> bytes:
        # Under COMPRESS (RFC 4978) the transcript shows the inflated octets; a
        # partial deflate block yields nothing yet, so keep reading.
        receiver = self._receiver
        while True:
            if not deflate.pending and not receiver.buffer and not receiver.eof:
                await receiver.wait(timeout)
            data = deflate.decompress(receiver.take())
            if data:
                self.transcript.server(data)
                return data
            if receiver.eof and not receiver.buffer and not deflate.pending:
                self.transcript.event("server closed the connection")
                return b""

    def write(self, data: bytes, *, shown: bytes | None = None) -> None:
        """Send ``data``; ``shown`` is what the transcript records instead (secrets)."""
        transport = self._receiver.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("connection is closed")
        self.transcript.client(data, shown=shown)
        transport.write(data if self.deflate is None else self.deflate.compress(data))

    async def write_pieces(self, pieces: Sequence[bytes], *, shown: bytes | None = None) -> None:
        """Send ``pieces`` in order, each as it is (a 50 MB literal is not copied to be sent).

        ``shown`` is what the transcript records instead of all of them (secrets).
        A piece over :data:`_WRITE_SLICE` octets goes out in slices of that size
        with :meth:`drain` between them, so the TLS layer never holds more than a
        slice or two of it at once (its own buffer, encrypted copy, socket buffer).
        """
        transport = self._receiver.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("connection is closed")
        if shown is not None:
            self.transcript.client(b"", shown=shown)
        for piece in pieces:
            if shown is None:
                self.transcript.client(piece)
            if self.deflate is not None:
                transport.write(self.deflate.compress(piece))
            elif len(piece) <= _WRITE_SLICE:
                transport.write(piece)
            else:
                view = memoryview(piece)
                for start in range(0, len(piece), _WRITE_SLICE):
                    transport.write(view[start : start + _WRITE_SLICE])
                    await self.drain()
                    if transport.is_closing():
                        raise ConnectionResetError("connection closed while sending")

    def start_deflate(self) -> None:
        """Compress both directions from now on (RFC 4978 section 4); see :mod:`.compress`."""
        self.deflate = Deflate()
        self.transcript.event("COMPRESS DEFLATE active: the transcript shows inflated octets")

    async def drain(self) -> None:
        """Wait until the write buffer is below its high-water mark."""
        await self._receiver.drained()

    @property
    def at_eof(self) -> bool:
        """Whether the server closed its side and every octet has been read."""
        return self._receiver.eof and not self._receiver.buffer

    # -- TLS ----------------------------------------------------------------------

    async def start_tls(
        self, ssl_context: ssl.SSLContext, *, server_hostname: str, timeout: float = 30.0
    ) -> TLSInfo:
        """Upgrade the connection to TLS (STARTTLS / STLS).

        Call this right after the server's positive reply, once every octet
        read so far has been consumed. Raises :class:`InjectedBytes` when the
        server (or a man-in-the-middle) sent anything after that reply.
        """
        leftover = self._receiver.take()
        if leftover:
            self.transcript.server(leftover)
            self.transcript.event("clear-text bytes after the STARTTLS reply: refusing TLS upgrade")
            raise InjectedBytes(leftover)
        transport = self._receiver.transport
        if transport is None:
            raise ConnectionResetError("connection is closed")
        self.transcript.event("starting TLS handshake")
        loop = asyncio.get_running_loop()
        new_transport = await loop.start_tls(
            transport,
            self._receiver,
            ssl_context,
            server_hostname=server_hostname,
            ssl_handshake_timeout=timeout,
        )
        if new_transport is None:
            raise ConnectionResetError("TLS handshake did not complete")
        self._receiver.transport = new_transport
        self.tls = self._tls_info(starttls=True, server_hostname=server_hostname)
        self.transcript.event(self._describe_tls())
        return self.tls

    def _tls_info(self, *, starttls: bool, server_hostname: str) -> TLSInfo:
        transport = self._receiver.transport
        ssl_object = cast(
            "ssl.SSLObject | None", transport.get_extra_info("ssl_object") if transport else None
        )
        if ssl_object is None:
            raise ConnectionResetError("no TLS session")
        name, _version, bits = ssl_object.cipher() or ("", "", 0)
        return TLSInfo(
            version=ssl_object.version() or "",
            cipher=name,
            bits=bits or 0,
            alpn=ssl_object.selected_alpn_protocol(),
            server_hostname=server_hostname,
            certificate=dict(ssl_object.getpeercert() or {}),
            certificate_der=ssl_object.getpeercert(binary_form=True),
            starttls=starttls,
        )

    def _describe_tls(self) -> str:
        info = self.tls
        if info is None:
            return "no TLS"
        alpn = f", ALPN {info.alpn}" if info.alpn else ""
        return f"TLS established: {info.version} {info.cipher} ({info.bits} bits){alpn}"

    # -- closing ------------------------------------------------------------------

    async def close(self) -> None:
        """Close the connection (at most a second's wait for a TLS close_notify)."""
        transport = self._receiver.transport
        if transport is None or transport.is_closing():
            return
        transport.close()
        for _ in range(10):
            if self._receiver.eof or transport.is_closing():
                break
            await asyncio.sleep(0.1)
        self.transcript.event("connection closed")

    def abort(self) -> None:
        """Drop the connection at once."""
        transport = self._receiver.transport
        if transport is not None:
            transport.abort()
