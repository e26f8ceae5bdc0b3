"""The TLS layer's backlog: a large write waits as plaintext while the client does not read.

Once the TCP transport asks to pause, the rest of a write is kept as a view
of the caller's bytes and encrypted as the transport drains, so that the
ciphertext held never approaches the size of the write; closing sends the
backlog first, aborting drops it. Real loopback sockets, real TLS.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import ssl

from fakeservers.pki import TestPKI
from tests.fakeservers.test_tls_layer import MB, Recorder, _client, _run, tls_server

PAYLOAD = os.urandom(16 * MB)


async def _connected(
    pki: TestPKI, port: int, accepted: asyncio.Queue[Recorder]
) -> tuple[Recorder, ssl.SSLSocket]:
    client_task = asyncio.create_task(asyncio.to_thread(_client, pki, port))
    server = await accepted.get()
    assert server.layer is not None
    await server.layer.handshake(10)
    return server, await client_task


def _read(client: ssl.SSLSocket, count: int) -> bytes:
    received = bytearray()
    while len(received) < count and (chunk := client.recv(1 << 20)):
        received += chunk
    return bytes(received)


def test_a_large_write_waits_as_plaintext_and_arrives_whole(mail_pki: TestPKI) -> None:
    async def test() -> None:
        async with tls_server(mail_pki) as (port, accepted):
            server, client = await _connected(mail_pki, port, accepted)
            assert server.layer is not None and server.layer.raw_transport is not None
            server.tls.write(PAYLOAD)
            assert server.paused_writing == 1
            # Ciphertext of about one chunk past the high-water mark, not 16 MB of it.
            assert server.layer.raw_transport.get_write_buffer_size() < MB
            assert server.layer.backlog_size > 8 * MB
            assert server.tls.get_write_buffer_size() >= server.layer.backlog_size
            received = await asyncio.to_thread(_read, client, len(PAYLOAD))
            assert hashlib.sha256(received).digest() == hashlib.sha256(PAYLOAD).digest()
            for _ in range(100):  # the last resume comes once the TCP buffer drained
                if server.resumed_writing:
                    break
                await asyncio.sleep(0.01)
            assert server.resumed_writing == 1 and server.layer.backlog_size == 0
            client.close()

    _run(test)


def test_a_small_write_goes_at_once_without_a_backlog(mail_pki: TestPKI) -> None:
    async def test() -> None:
        async with tls_server(mail_pki) as (port, accepted):
            server, client = await _connected(mail_pki, port, accepted)
            assert server.layer is not None
            server.tls.write(b"* OK small\r\n")
            assert server.paused_writing == 0 and server.layer.backlog_size == 0
            assert await asyncio.to_thread(client.recv, 100) == b"* OK small\r\n"
            client.close()

    _run(test)


def test_close_sends_the_backlog_before_close_notify(mail_pki: TestPKI) -> None:
    async def test() -> None:
        async with tls_server(mail_pki) as (port, accepted):
            server, client = await _connected(mail_pki, port, accepted)
            server.tls.write(PAYLOAD)
            server.tls.close()
            assert server.tls.is_closing()
            server.tls.write(b"after close")  # dropped, as on any closing transport
            # A clean end (close_notify): recv returns no octets instead of raising.
            received = await asyncio.to_thread(_read, client, len(PAYLOAD) + 1)
            assert received == PAYLOAD
            client.close()
            await asyncio.wait_for(server.lost, 10)

    _run(test)


def test_abort_drops_the_backlog(mail_pki: TestPKI) -> None:
    async def test() -> None:
        async with tls_server(mail_pki) as (port, accepted):
            server, client = await _connected(mail_pki, port, accepted)
            assert server.layer is not None
            server.tls.write(PAYLOAD)
            server.tls.abort()
            assert server.layer.backlog_size == 0

            def read_until_broken() -> int:
                received = 0
                try:
                    while chunk := client.recv(1 << 20):
                        received += len(chunk)
                except (ssl.SSLError, OSError):
                    pass  # a truncation: no close_notify came
                return received

            assert await asyncio.to_thread(read_until_broken) < len(PAYLOAD)
            client.close()

    _run(test)
