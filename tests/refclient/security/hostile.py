"""A scripted hostile mail server for the security tests: plays lines, records every byte.

The server speaks no protocol of its own: a script says what to send, which
client line to wait for, when to run a TLS handshake, and when to hang up.
Whatever the client sends (before and after TLS, during and after the
script) is recorded, so a test can assert on the server's view that no
credential ever reached it.

TLS runs through :class:`ssl.MemoryBIO` rather than asyncio's own TLS
transport, for two reasons that matter to these tests: a refused handshake
still sends its alert (so the client sees why, as it would with a real
server), and the script controls exactly which octets go out in clear text
right before a STARTTLS handshake (the injection cases).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Hear:
    """Wait for one client line; unless it holds ``word`` (any case), the server hangs up."""

    word: bytes = b""


@dataclass(frozen=True)
class StartTLS:
    """Run the server side of a TLS handshake now (implicit TLS when first in the script)."""


@dataclass(frozen=True)
class Close:
    """Hang up at once."""


#: ``bytes`` are sent as they are, with ``{tag}`` replaced by the first word of the last line heard.
Action = bytes | Hear | StartTLS | Close


class _Channel:
    """Clear text, or TLS over memory BIOs, on top of an asyncio stream pair."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._tls: ssl.SSLObject | None = None
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self.pending = bytearray()

    async def handshake(self, context: ssl.SSLContext) -> bool:
        """Server-side handshake; on failure the alert is flushed and False returned."""
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        while True:
            try:
                self._tls.do_handshake()
            except ssl.SSLWantReadError:
                await self._flush()
                data = await self._reader.read(65536)
                if not data:
                    return False
                self._incoming.write(data)
                continue
            except ssl.SSLError:
                await self._flush()
                return False
            await self._flush()
            return True

    async def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            self._writer.write(data)
            await self._writer.drain()

    async def write(self, data: bytes) -> None:
        if self._tls is None:
            self._writer.write(data)
            await self._writer.drain()
            return
        self._tls.write(data)
        await self._flush()

    async def read(self) -> bytes:
        """The next chunk of (decrypted) client data; b"" at the end."""
        if self._tls is None:
            return await self._reader.read(65536)
        while True:
            try:
                return self._tls.read(65536)
            except ssl.SSLWantReadError:
                data = await self._reader.read(65536)
                if not data:
                    return b""
                self._incoming.write(data)
            except ssl.SSLError:
                return b""


class HostileServer:
    """One listening socket; every connection plays ``script`` and records what it hears."""

    def __init__(self, script: Sequence[Action], *, tls: ssl.SSLContext | None = None) -> None:
        self.script = tuple(script)
        self.tls = tls
        #: Every octet the clients sent, decrypted where TLS was on, in order.
        self.received = bytearray()
        #: Whether the script reached its end (rather than hanging up on an unexpected line).
        self.completed = False
        self.handshake_failed = False
        self.port = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        channel = _Channel(reader, writer)
        try:
            if await self._play(channel):
                self.completed = True
                await self._listen(channel)
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def _play(self, channel: _Channel) -> bool:
        tag = b""
        for action in self.script:
            if isinstance(action, bytes):
                await channel.write(action.replace(b"{tag}", tag))
            elif isinstance(action, Hear):
                line = await self._line(channel)
                if line is None or action.word.lower() not in line.lower():
                    return False
                tag = line.split(b" ", 1)[0].strip()
            elif isinstance(action, StartTLS):
                assert self.tls is not None, "StartTLS needs the server's TLS context"
                if not await channel.handshake(self.tls):
                    self.handshake_failed = True
                    return False
            else:
                return False
        return True

    async def _line(self, channel: _Channel) -> bytes | None:
        while b"\n" not in channel.pending:
            data = await channel.read()
            if not data:
                return None
            self.received += data
            channel.pending += data
        line, _, rest = bytes(channel.pending).partition(b"\n")
        channel.pending[:] = rest
        return line

    async def _listen(self, channel: _Channel) -> None:
        """After the script: keep recording until the client hangs up."""
        while data := await channel.read():
            self.received += data

    @asynccontextmanager
    async def running(self) -> AsyncIterator[HostileServer]:
        """Listen on 127.0.0.1, port 0, for the duration of the block."""
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()
            await server.wait_closed()
