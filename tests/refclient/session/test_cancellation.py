"""Cancellation (Ctrl-C) reaches the reference client in every wait, on real loopback sockets.

On Python 3.11 ``asyncio.wait_for`` loses a cancellation that arrives in the
same loop iteration as the awaited result: the caller gets the result and
runs on. The client's waits use ``asyncio.timeout`` instead (the stream's
read wait, connecting, IDLE's wait for updates); these tests cancel in the
middle of each and expect :class:`asyncio.CancelledError`. Each is paired
with the same wait left alone, which ends the documented way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from fakeservers.pki import TestPKI
from refclient import errors
from refclient.session.imap import IMAPSession
from refclient.session.options import ClientOptions
from refclient.urls import ServerURL

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
PREAUTH = b"* PREAUTH [CAPABILITY IMAP4rev1 IDLE] ready\r\n"


@contextlib.asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[int]:
    """A loopback server on port 0 running ``handler`` for each client."""

    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            await handler(reader, writer)
        writer.close()

    server = await asyncio.start_server(guarded, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def _until(condition: Callable[[], bool]) -> None:
    """Yield to the loop, one iteration at a time, until ``condition`` holds.

    Polling rather than an Event on purpose: the test must act in the very
    iteration after the client read the data, which only this observes.
    """
    while not condition():  # noqa: ASYNC110
        await asyncio.sleep(0)


def _received(session: IMAPSession, text: bytes) -> bool:
    return any(e.direction == "S" and text in e.data for e in session.transcript.entries())


class IdleServer:
    """Answers IDLE with ``+``, sends one EXISTS when told to, then ends IDLE on DONE."""

    def __init__(self) -> None:
        self.send_update = asyncio.Event()

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(PREAUTH)
        tag = (await reader.readline()).split(b" ", 1)[0]
        writer.write(b"+ idling\r\n")
        await writer.drain()
        await self.send_update.wait()
        writer.write(b"* 1 EXISTS\r\n")
        await writer.drain()
        if (await reader.readline()).strip() == b"DONE":
            writer.write(tag + b" OK IDLE done\r\n")
            await writer.drain()
        await reader.read()


def _session(port: int, **options: float) -> IMAPSession:
    return IMAPSession(
        ServerURL.parse(f"imap+insecure://127.0.0.1:{port}"),
        options=ClientOptions(**options),  # type: ignore[arg-type]
    )


async def _idle_with_update(cancel: bool) -> list[bytes]:
    play = IdleServer()
    async with serving(play) as port:
        session = _session(port, read_timeout=30.0)
        await session.connect()
        try:
            task = asyncio.create_task(session.idle(30.0 if cancel else 1.0))
            await _until(lambda: _received(session, b"+ idling"))
            play.send_update.set()
            if not cancel:
                return [bytes(u.name, "ascii") for u in await task]
            # The cancellation comes in the iteration right after the update was read:
            # the moment asyncio.wait_for on Python 3.11 would swallow it.
            await _until(lambda: _received(session, b"EXISTS"))
            task.cancel()
            await task
            return []
        finally:
            await session.close()


def test_cancelling_idle_as_an_update_arrives_raises_cancelled_error() -> None:
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(_idle_with_update(cancel=True))


def test_idle_left_alone_returns_the_update() -> None:
    assert asyncio.run(_idle_with_update(cancel=False)) == [b"EXISTS"]


async def _connect_to_silent_tls(ca_file: Path, cancel: bool) -> None:
    accepted = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()  # TCP accepted; the ClientHello is never answered
        await reader.read()

    async with serving(silent) as port:
        session = IMAPSession(
            ServerURL.parse(f"imaps://127.0.0.1:{port}"),
            options=ClientOptions(ca_file=ca_file, connect_timeout=30.0 if cancel else 0.5),
        )
        task = asyncio.create_task(session.connect())
        try:
            if cancel:
                await accepted.wait()
                task.cancel()
            await task
        finally:
            await session.close()


def test_cancelling_a_connect_in_progress_raises_cancelled_error(
    tmp_path: Path, mail_pki: TestPKI
) -> None:
    ca_file = mail_pki.write_ca(tmp_path / "ca.pem")
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(_connect_to_silent_tls(ca_file, cancel=True))


def test_a_connect_left_alone_ends_in_the_connect_timeout(
    tmp_path: Path, mail_pki: TestPKI
) -> None:
    ca_file = mail_pki.write_ca(tmp_path / "ca.pem")
    with pytest.raises(errors.Timeout):
        asyncio.run(_connect_to_silent_tls(ca_file, cancel=False))
