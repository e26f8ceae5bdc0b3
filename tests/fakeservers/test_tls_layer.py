"""The fake servers' TLS layer on real loopback sockets with real TLS (the test PKI).

Each test runs an asyncio server whose protocol puts a :class:`TLSLayer`
under itself when a TCP connection arrives, and a client from the standard
library: a blocking ``ssl`` socket in a thread (so that close_notify and a
truncation can be told apart) or an asyncio TLS stream.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from fakeservers.pki import TestPKI
from fakeservers.tls_layer import TLSLayer, TLSTransport

HOST = "127.0.0.1"
MB = 1024 * 1024


class Recorder(asyncio.Protocol):
    """A server protocol that starts TLS on accept and records what the layer hands it."""

    def __init__(self, context: ssl.SSLContext, accepted: asyncio.Queue[Recorder]) -> None:
        self.context = context
        self.accepted = accepted
        self.layer: TLSLayer | None = None
        self.data = bytearray()
        self.eof = False
        self.lost = asyncio.get_running_loop().create_future()
        self.secure_when_told: list[bool] = []
        self.paused_writing = 0
        self.resumed_writing = 0
        #: The write buffer when the transport paused us (later, it may have drained).
        self.buffered_at_pause = 0
        self.arrived = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.layer = TLSLayer(self.context, self, on_secure=self._secure)
        self.layer.attach(transport)
        self.accepted.put_nowait(self)

    def _secure(self) -> None:
        assert self.layer is not None
        ssl_object = self.layer.transport.get_extra_info("ssl_object")
        self.secure_when_told.append(ssl_object is not None and not self.data)

    def data_received(self, data: bytes) -> None:
        self.data += data
        self.arrived.set()

    def eof_received(self) -> bool | None:
        self.eof = True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)

    def pause_writing(self) -> None:
        self.paused_writing += 1
        self.buffered_at_pause = self.tls.get_write_buffer_size()

    def resume_writing(self) -> None:
        self.resumed_writing += 1

    @property
    def tls(self) -> TLSTransport:
        assert self.layer is not None
        return self.layer.transport


@asynccontextmanager
async def tls_server(pki: TestPKI) -> AsyncIterator[tuple[int, asyncio.Queue[Recorder]]]:
    """A listening socket on port 0; each accepted connection's :class:`Recorder` is queued."""
    accepted: asyncio.Queue[Recorder] = asyncio.Queue()
    context = pki.server_context()

    opened: list[Recorder] = []

    def build() -> Recorder:
        recorder = Recorder(context, accepted)
        opened.append(recorder)
        return recorder

    server = await asyncio.get_running_loop().create_server(build, HOST, 0)
    try:
        yield server.sockets[0].getsockname()[1], accepted
    finally:
        server.close()
        for recorder in opened:
            if recorder.layer is not None:
                recorder.tls.abort()


def _run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 60))


def _client(pki: TestPKI, port: int) -> ssl.SSLSocket:
    """A verified blocking TLS client that reports a truncation as an error."""
    sock = socket.create_connection((HOST, port), timeout=10)
    return pki.client_context().wrap_socket(sock, server_hostname=HOST, suppress_ragged_eofs=False)


@asynccontextmanager
async def connected(pki: TestPKI) -> AsyncIterator[tuple[Recorder, ssl.SSLSocket]]:
    """A server protocol whose layer finished its handshake, and the client's socket."""
    async with tls_server(pki) as (port, accepted):
        client_task = asyncio.create_task(asyncio.to_thread(_client, pki, port))
        server = await accepted.get()
        assert server.layer is not None
        await server.layer.handshake(10)
        yield server, await client_task


def _read_to_end(client: ssl.SSLSocket) -> bytes:
    received = b""
    while chunk := client.recv(65536):
        received += chunk
    return received


# -- handshake, plaintext both ways -------------------------------------------------------


def test_a_verified_client_exchanges_plaintext(mail_pki: TestPKI) -> None:
    async def test() -> None:
        async with connected(mail_pki) as (server, client):
            assert server.secure_when_told == [True]
            await asyncio.to_thread(client.sendall, b"a NOOP\r\n")
            await server.arrived.wait()
            assert bytes(server.data) == b"a NOOP\r\n"
            server.tls.write(b"a OK done\r\n")
            assert await asyncio.to_thread(client.recv, 100) == b"a OK done\r\n"
            client.close()

    _run(test)


def test_a_client_that_does_not_trust_the_server_fails_the_handshake(mail_pki: TestPKI) -> None:
    untrusting = ssl.create_default_context()  # the system's CAs, not the test CA

    def connect(port: int) -> None:
        with socket.create_connection((HOST, port), timeout=10) as sock:
            untrusting.wrap_socket(sock, server_hostname=HOST)

    async def test() -> None:
        async with tls_server(mail_pki) as (port, accepted):
            client_task = asyncio.create_task(asyncio.to_thread(connect, port))
            server = await accepted.get()
            assert server.layer is not None
            with pytest.raises((ssl.SSLError, ConnectionError)):
                await server.layer.handshake(10)
            with pytest.raises(ssl.SSLCertVerificationError):
                await client_task
            assert server.tls.get_extra_info("ssl_object") is None
            assert server.secure_when_told == []

    _run(test)


def test_garbage_instead_of_a_client_hello_fails_the_handshake(mail_pki: TestPKI) -> None:
    async def test() -> None:
        async with tls_server(mail_pki) as (port, accepted):
            _, writer = await asyncio.open_connection(HOST, port)
            writer.write(b"a LOGIN alice secret\r\n" * 4)
            server = await accepted.get()
            assert server.layer is not None
            with pytest.raises(ssl.SSLError):
                await server.layer.handshake(10)
            await server.lost
            assert server.data == b""  # nothing of it reached the protocol
            writer.close()

    _run(test)


def test_a_silent_client_is_dropped_at_the_handshake_deadline(mail_pki: TestPKI) -> None:
    async def test() -> None:
        async with tls_server(mail_pki) as (port, accepted):
            reader, writer = await asyncio.open_connection(HOST, port)
            server = await accepted.get()
            assert server.layer is not None
            with pytest.raises(ConnectionAbortedError):
                await server.layer.handshake(0.2)
            assert await reader.read() == b""  # the server closed the connection
            writer.close()

    _run(test)


def test_extra_info_is_what_asyncio_tls_reports(mail_pki: TestPKI) -> None:
    async def test() -> None:
        async with tls_server(mail_pki) as (port, accepted):
            client_task = asyncio.create_task(asyncio.to_thread(_client, mail_pki, port))
            server = await accepted.get()
            tls = server.tls
            # Before the handshake: no TLS facts, but the TCP ones.
            assert tls.get_extra_info("ssl_object") is None
            assert tls.get_extra_info("cipher") is None
            assert tls.get_extra_info("peername")[0] == HOST
            assert tls.get_extra_info("sslcontext") is server.context
            assert server.layer is not None
            await server.layer.handshake(10)
            client = await client_task
            ssl_object = tls.get_extra_info("ssl_object")
            assert isinstance(ssl_object, ssl.SSLObject)
            assert ssl_object.version() == client.version()
            assert tls.get_extra_info("cipher") == client.cipher()
            assert tls.get_extra_info("peercert") is None  # no client certificate asked for
            assert tls.get_extra_info("socket") is not None
            assert not tls.can_write_eof()
            with pytest.raises(NotImplementedError):
                tls.write_eof()
            client.close()

    _run(test)


def test_what_is_written_before_the_handshake_follows_it_encrypted(mail_pki: TestPKI) -> None:
    async def test() -> None:
        async with tls_server(mail_pki) as (port, accepted):
            _, raw_writer = await asyncio.open_connection(HOST, port)
            raw_writer.close()  # a client that sees the early octets in clear would fail here
            client_task = asyncio.create_task(asyncio.to_thread(_client, mail_pki, port))
            await accepted.get()
            server = await accepted.get()
            server.tls.write(b"* early\r\n")
            assert server.layer is not None
            await server.layer.handshake(10)
            client = await client_task
            server.tls.write(b"* later\r\n")
            received = b""
            while received.count(b"\r\n") < 2:
                received += await asyncio.to_thread(client.recv, 100)
            assert received == b"* early\r\n* later\r\n"
            client.close()

    _run(test)


# -- closing ---------------------------------------------------------------------------------


def test_close_sends_close_notify(mail_pki: TestPKI) -> None:
    async def test() -> None:
        async with connected(mail_pki) as (server, client):
            server.tls.write(b"* BYE\r\n")
            server.tls.close()
            assert server.tls.is_closing()
            # A clean end: with suppress_ragged_eofs=False a truncation would raise.
            assert await asyncio.to_thread(_read_to_end, client) == b"* BYE\r\n"
            client.close()
            await server.lost

    _run(test)


def test_abort_sends_no_close_notify(mail_pki: TestPKI) -> None:
    async def test() -> None:
        async with connected(mail_pki) as (server, client):
            server.tls.abort()
            with pytest.raises((ssl.SSLEOFError, ConnectionError)):
                await asyncio.to_thread(_read_to_end, client)
            client.close()
            await server.lost

    _run(test)


def test_the_clients_close_notify_is_an_end_of_file(mail_pki: TestPKI) -> None:
    async def test() -> None:
        async with connected(mail_pki) as (server, client):
            await asyncio.to_thread(client.sendall, b"a LOGOUT\r\n")
            await asyncio.to_thread(client.unwrap)  # close_notify, then keep TCP open
            assert await server.lost is None
            assert server.eof
            assert bytes(server.data) == b"a LOGOUT\r\n"
            client.close()

    _run(test)


def test_a_tcp_close_without_close_notify_is_an_end_of_file_too(mail_pki: TestPKI) -> None:
    async def test() -> None:
        async with connected(mail_pki) as (server, client):
            client.sendall(b"a NOOP\r\n")
            await server.arrived.wait()
            client.shutdown(socket.SHUT_WR)  # a FIN, no close_notify (RFC 8446 section 6.1)
            await server.lost
            assert server.eof
            client.close()

    _run(test)


# -- flow control ----------------------------------------------------------------------------


async def _blocked(awaitable: Awaitable[Any], wait: float = 0.5) -> bool:
    """Whether ``awaitable`` is still waiting after ``wait`` seconds (it is then cancelled)."""
    try:
        await asyncio.wait_for(awaitable, wait)
    except TimeoutError:
        return True
    return False


def test_paused_reading_stops_the_client_and_loses_nothing(mail_pki: TestPKI) -> None:
    # 32 MB: more than the loopback socket buffers of both ends hold.
    payload = bytes(range(256)) * (128 * 1024)

    async def test() -> None:
        async with connected(mail_pki) as (server, client):
            client.settimeout(None)
            server.tls.pause_reading()
            assert not server.tls.is_reading()
            sending = asyncio.create_task(asyncio.to_thread(client.sendall, payload))
            assert await _blocked(asyncio.shield(sending))  # the server stopped reading
            assert len(server.data) < 2 * MB  # and holds no more than a read's worth
            server.tls.resume_reading()
            assert server.tls.is_reading()
            await sending
            while len(server.data) < len(payload):
                server.arrived.clear()
                await server.arrived.wait()
            assert hashlib.sha256(server.data).digest() == hashlib.sha256(payload).digest()
            client.close()

    _run(test)


def test_a_client_that_does_not_read_pauses_the_writer(mail_pki: TestPKI) -> None:
    async def test() -> None:
        async with connected(mail_pki) as (server, client):
            server.tls.write(b"* small\r\n")
            assert server.paused_writing == 0  # a line fits in the buffers
            chunk = b"x" * (64 * 1024)
            while server.paused_writing == 0:
                server.tls.write(chunk)
                await asyncio.sleep(0)
            # Measured when the pause came: on the proactor loop (Windows) the
            # kernel may take the buffered octets right after.
            high = server.tls.get_write_buffer_limits()[1]
            assert server.buffered_at_pause > high
            received = 0
            while server.resumed_writing == 0:
                received += len(await asyncio.to_thread(client.recv, 1 << 20))
            assert received > 0
            client.close()

    _run(test)
