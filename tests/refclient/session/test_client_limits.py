"""ClientLimits against small scripted servers on loopback: each bound, reached and not.

``max_untagged_octets`` bounds what the untagged responses to one command
hold (one response alone is always read, however large within
``max_literal``); ``max_skipped_lines`` bounds the lines that are no IMAP
response. The storms at full size are in ``tests/stress``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from refclient import errors
from refclient.session.imap import IMAPSession
from refclient.session.options import ClientLimits, ClientOptions
from refclient.urls import ServerURL

Play = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
GREETING = b"* PREAUTH [CAPABILITY IMAP4rev1] ready\r\n"


@contextlib.asynccontextmanager
async def serving(play: Play) -> AsyncIterator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            await play(reader, writer)
            await reader.read()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def _answering(responses: bytes) -> Play:
    """Greet, answer the first command with ``responses`` and its tagged OK."""

    async def play(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(GREETING)
        tag = (await reader.readline()).split(b" ", 1)[0]
        writer.write(responses + tag + b" OK done\r\n")
        await writer.drain()

    return play


async def _noop(play: Play, limits: ClientLimits) -> IMAPSession:
    async with serving(play) as port:
        url = ServerURL.parse(f"imap+insecure://127.0.0.1:{port}")
        session = IMAPSession(url, options=ClientOptions(read_timeout=10, limits=limits))
        try:
            await session.connect()
            await session.noop()
        finally:
            await session.close()
        return session


def _fetch(number: int, size: int) -> bytes:
    return b"* %d FETCH (BODY[] {%d}\r\n" % (number, size) + b"y" * size + b")\r\n"


SMALL = ClientLimits(max_untagged_octets=64 * 1024, max_skipped_lines=3)


def test_untagged_responses_over_the_octet_bound_fail_the_command() -> None:
    flood = b"".join(_fetch(n, 16 * 1024) for n in range(1, 11))
    with pytest.raises(errors.ProtocolViolation, match="max_untagged_octets"):
        asyncio.run(_noop(_answering(flood), SMALL))


def test_untagged_responses_within_the_octet_bound_are_read() -> None:
    responses = b"".join(_fetch(n, 16 * 1024) for n in range(1, 3))
    session = asyncio.run(_noop(_answering(responses), SMALL))
    assert session.engine.state.value == "authenticated"


def test_one_response_over_the_octet_bound_is_still_read() -> None:
    # A single large message (within max_literal) is what a FETCH of it must return.
    asyncio.run(_noop(_answering(_fetch(1, 256 * 1024)), SMALL))


def test_a_small_response_after_a_large_one_counts_both() -> None:
    responses = _fetch(1, 256 * 1024) + b"* 2 EXISTS\r\n"
    with pytest.raises(errors.ProtocolViolation, match="max_untagged_octets"):
        asyncio.run(_noop(_answering(responses), SMALL))


def test_more_non_protocol_lines_than_the_limit_fail() -> None:
    garbage = b"Server Unavailable.\r\n" * 4
    with pytest.raises(errors.ProtocolViolation, match="no IMAP response"):
        asyncio.run(_noop(_answering(garbage), SMALL))


def test_non_protocol_lines_up_to_the_limit_are_skipped_as_findings() -> None:
    garbage = b"Server Unavailable.\r\n" * 3
    session = asyncio.run(_noop(_answering(garbage), SMALL))
    found = [f for f in session.findings if f.id == "imap.non-protocol-line"]
    assert len(found) == 3
