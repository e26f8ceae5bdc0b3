"""Hostile servers against the reference client over real sockets, bounded in time and memory.

Each server misbehaves one way; the reference client (IMAPSession) must end
in a clear ClientError naming the server and the step, within its configured
timeout, with bounded memory (tracemalloc), and the transcript must show the
partial data it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import trustme

from refclient import errors
from refclient.credentials import Credentials
from refclient.session.imap import IMAPSession
from refclient.session.options import ClientLimits, ClientOptions
from refclient.urls import ServerURL

pytestmark = pytest.mark.stress

Play = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
GREETING = b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hostile ready\r\n"
ALICE = Credentials(user="alice@example.test", password="alice-pass")
TIMEOUT = 2.0
LIMITS = ClientLimits(
    max_line=64 * 1024, max_literal=1024 * 1024, max_nesting=100, max_untagged=100_000
)


@contextlib.asynccontextmanager
async def hostile(play: Play, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError, ssl.SSLError):
            await play(reader, writer)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def _after_command(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(GREETING)
    await writer.drain()
    return await reader.readline()


async def endless_line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"* OK " + b"x" * 65536)
    while True:  # never a line end
        writer.write(b"x" * 65536)
        await writer.drain()


async def huge_literal(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _after_command(reader, writer)
    writer.write(b"* 1 FETCH (BODY[] {4294967296}\r\n")
    while True:  # 4 GB announced, trickled
        writer.write(b"y" * 1024)
        await writer.drain()
        await asyncio.sleep(0.01)


async def deep_nesting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _after_command(reader, writer)
    writer.write(b"* 1 FETCH (BODYSTRUCTURE " + b"(" * 10_000 + b")" * 10_000 + b")\r\n")
    await writer.drain()
    await asyncio.sleep(TIMEOUT * 3)


async def million_untagged(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _after_command(reader, writer)
    chunk = b"* OK still going\r\n" * 10_000
    for _ in range(100):  # a million untagged responses, never the tagged one
        writer.write(chunk)
        await writer.drain()
    await asyncio.sleep(TIMEOUT * 3)


async def stall_mid_response(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _after_command(reader, writer)
    writer.write(b"* CAPABILITY IMAP4rev1 AUTH=PL")
    await writer.drain()
    await asyncio.sleep(TIMEOUT * 3)


async def close_mid_literal(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _after_command(reader, writer)
    writer.write(b"* 1 FETCH (BODY[] {100}\r\nonly twenty octets..")
    await writer.drain()


async def nul_and_invalid_utf8(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"* OK \x00\xff\xfe hostile\x00 ready\r\n")
    await writer.drain()
    await reader.readline()
    writer.write(b"* CAPABILITY IMAP4rev1 \xff\x00\r\n")
    await writer.drain()
    await asyncio.sleep(TIMEOUT * 3)


async def never_completes_tls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(TIMEOUT * 3)  # accepts the TCP connection, never answers the ClientHello


CASES: dict[str, tuple[Play, type[errors.ClientError], str]] = {
    "endless-line": (endless_line, errors.ProtocolViolation, "xxxx"),
    "4gb-literal": (huge_literal, errors.ProtocolViolation, "FETCH"),
    "deep-bodystructure": (deep_nesting, errors.ProtocolViolation, "BODYSTRUCTURE"),
    "million-untagged": (million_untagged, errors.ProtocolViolation, "still going"),
    "stall-mid-response": (stall_mid_response, errors.Timeout, "hostile ready"),
    "close-mid-literal": (close_mid_literal, errors.ConnectionLost, "FETCH"),
    "nul-and-invalid-utf8": (nul_and_invalid_utf8, errors.ClientError, "hostile"),
}


async def _client_against(port: int, *, scheme: str, ca: Path | None = None) -> None:
    options = ClientOptions(
        ca_file=ca,
        read_timeout=TIMEOUT,
        connect_timeout=TIMEOUT,
        limits=LIMITS,
        allow_plaintext_auth=True,
    )
    session = IMAPSession(ServerURL.parse(f"{scheme}://127.0.0.1:{port}"), options=options)
    try:
        await session.connect()
        await session.capability()
        await session.login(ALICE)
    finally:
        await session.close()


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_hostile_server_ends_in_a_clear_error(name: str) -> None:
    play, kind, seen = CASES[name]

    async def scenario() -> errors.ClientError:
        async with hostile(play) as port:
            with pytest.raises(errors.ClientError) as caught:
                await _client_against(port, scheme="imap+insecure")
        return caught.value

    tracemalloc.start()
    started = time.monotonic()
    try:
        error = asyncio.run(asyncio.wait_for(scenario(), TIMEOUT * 10))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(error, kind), f"{type(error).__name__}: {error}"
    assert error.server.startswith("imap+insecure://127.0.0.1") or "127.0.0.1" in str(error)
    assert error.step, str(error)
    assert any(seen in line for line in error.tail), str(error)  # the partial data is shown
    assert peak < 64 * 1024 * 1024, f"peak {peak} octets"
    assert time.monotonic() - started < TIMEOUT * 10


def test_a_tls_handshake_that_never_completes_times_out(tmp_path: Path) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    async def scenario() -> errors.ClientError:
        async with hostile(never_completes_tls) as port:  # plain TCP: the handshake stalls
            with pytest.raises(errors.ClientError) as caught:
                await _client_against(port, scheme="imaps", ca=ca_file)
        return caught.value

    error = asyncio.run(asyncio.wait_for(scenario(), TIMEOUT * 10))
    assert isinstance(error, errors.Timeout | errors.TLSFailed | errors.ConnectFailed), str(error)
    assert "127.0.0.1" in str(error)
