"""More hostile-client storms: 1 MB command lines, unterminated literals, garbage after STARTTLS.

Like ``test_storms.py``: loopback only, bounded in count and seconds, and
during each storm a well-behaved client (the reference client) logs in,
appends and reads back a message byte for byte. Each storm also checks that
the hostile sessions end (the server answers errors or closes, it never
waits forever), that nothing of what they sent reached the store, and that
memory stays bounded (tracemalloc over the servers and the storm, which run
in this process): far below the volume the storm sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
import tracemalloc
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

from fakeservers.config import Limits, ServerConfig
from fakeservers.controller import FakeMailServers
from fakeservers.pki import TestPKI
from tests.stress.test_storms import KEPT, well_behaved

pytestmark = pytest.mark.stress

ALICE = "alice@example.test"
IDLE = 1.0
#: What a well-behaved exchange may still wait for; every read below is bounded by it.
READ = 10.0
#: A 1 MB line is sent in 16 pieces, each drained, so the storm itself holds little.
PIECE = b"x" * (64 * 1024)
#: 20 connections x 5 lines of 1 MB are sent; a server holding one whole line per
#: connection would need 20 MB more than this.
PEAK = 16 * 1024 * 1024


@pytest.fixture
def servers(mail_pki: TestPKI) -> Iterator[FakeMailServers]:
    limits = Limits(idle_timeout=IDLE, max_line=4096, tls_handshake_timeout=1.0)
    with FakeMailServers(pki=mail_pki, config=ServerConfig(limits=limits)) as running:
        running.store.append(ALICE, "INBOX", KEPT)
        yield running


def _stored(servers: FakeMailServers) -> list[bytes]:
    return [message.data for message in servers.store.mailbox(ALICE, "INBOX").messages]


def _run_storm(servers: FakeMailServers, storm: Callable[[], Coroutine[Any, Any, None]]) -> int:
    """The storm with a well-behaved client in the middle of it; the tracemalloc peak."""

    async def scenario() -> None:
        task = asyncio.create_task(storm())
        await asyncio.sleep(0.1)  # let the storm start
        await asyncio.wait_for(well_behaved(servers), 30)
        await asyncio.wait_for(task, 60)
        await asyncio.wait_for(well_behaved(servers), 30)  # and after it

    tracemalloc.start()
    try:
        asyncio.run(scenario())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert _stored(servers)[0] == KEPT
    return peak


async def _until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes (a hang fails after READ seconds)."""
    received = b""
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        while chunk := await asyncio.wait_for(reader.read(65536), READ):
            received += chunk
    return received


#: endpoint: (a greeting-line prefix, how the server reports a line too long).
LONG_LINE_REPLIES = {
    "imap": (b"* OK", b"BAD"),
    "pop3": (b"+OK", b"-ERR"),
    "submission": (b"220", b"500"),
}


@pytest.mark.parametrize("endpoint", sorted(LONG_LINE_REPLIES))
def test_one_megabyte_command_lines(servers: FakeMailServers, endpoint: str) -> None:
    greeting, refusal = LONG_LINE_REPLIES[endpoint]
    answers: list[bytes] = []

    async def one() -> None:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", servers.endpoints[endpoint].port
        )
        assert (await asyncio.wait_for(reader.readline(), READ)).startswith(greeting)
        with contextlib.suppress(ConnectionError):
            for _ in range(5):
                for _ in range(16):
                    writer.write(PIECE)
                    await writer.drain()
                writer.write(b"\r\n")
        with contextlib.suppress(ConnectionError):
            writer.write(b"QUIT\r\n" if endpoint != "imap" else b"z LOGOUT\r\n")
        answers.append(await _until_closed(reader))
        writer.close()

    async def storm() -> None:
        await asyncio.gather(*(one() for _ in range(20)))

    peak = _run_storm(servers, storm)
    assert len(answers) == 20
    assert all(refusal in answer for answer in answers), answers[0][:300]
    assert peak < PEAK, f"tracemalloc peak {peak} octets"
    assert not any(b"xxxxxxxx" in data for data in _stored(servers))


def test_the_same_connections_with_short_lines_are_served(servers: FakeMailServers) -> None:
    # The other half: the same storm shape with ordinary lines gets no refusal.
    answers: list[bytes] = []

    async def one() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", servers.endpoints["imap"].port)
        await asyncio.wait_for(reader.readline(), READ)
        writer.write(b"".join(b"n%d NOOP\r\n" % n for n in range(5)) + b"z LOGOUT\r\n")
        await writer.drain()
        answers.append(await _until_closed(reader))
        writer.close()

    async def storm() -> None:
        await asyncio.gather(*(one() for _ in range(20)))

    _run_storm(servers, storm)
    assert all(b"BAD" not in answer and b"z OK" in answer for answer in answers)


def test_unterminated_literals_are_dropped(servers: FakeMailServers) -> None:
    """APPENDs whose literal never completes: the session times out, nothing is stored."""
    endings: list[bytes] = []

    async def synchronizing() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", servers.endpoints["imap"].port)
        await asyncio.wait_for(reader.readline(), READ)
        writer.write(b"a LOGIN alice@example.test alice-pass\r\n")
        await asyncio.wait_for(reader.readline(), READ)
        writer.write(b"b APPEND INBOX {100000}\r\n")
        assert (await asyncio.wait_for(reader.readline(), READ)).startswith(b"+")
        writer.write(b"Subject: never finished\r\n\r\npartial")  # then nothing more
        endings.append(await _until_closed(reader))
        writer.close()

    async def over_the_limit() -> None:
        # LITERAL+ over max_literal: its octets are on the way already, so the server ends
        # the session (RFC 7888 section 4) instead of reading 100 MB.
        reader, writer = await asyncio.open_connection("127.0.0.1", servers.endpoints["imap"].port)
        await asyncio.wait_for(reader.readline(), READ)
        writer.write(b"a LOGIN alice@example.test alice-pass\r\n")
        await asyncio.wait_for(reader.readline(), READ)
        writer.write(b"b APPEND INBOX {100000000+}\r\nSubject: never finished\r\n\r\npartial")
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        endings.append(await _until_closed(reader))
        writer.close()

    async def storm() -> None:
        await asyncio.gather(
            *(synchronizing() for _ in range(10)), *(over_the_limit() for _ in range(10))
        )

    _run_storm(servers, storm)
    assert len(endings) == 20
    assert all(b"BYE" in ending for ending in endings), endings
    assert not any(b"never finished" in data for data in _stored(servers))


def test_garbage_after_starttls(servers: FakeMailServers) -> None:
    """Random octets inside the TLS session after STARTTLS/STLS: errors, then a close."""
    rng = random.Random(11)
    endings: list[bytes] = []
    context = servers.client_context()
    commands = {"imap": (b"a STARTTLS\r\n", b"a OK"), "pop3": (b"STLS\r\n", b"+OK")}

    async def one(endpoint: str) -> None:
        command, accepted = commands[endpoint]
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", servers.endpoints[endpoint].port
        )
        await asyncio.wait_for(reader.readline(), READ)
        writer.write(command)
        while not (line := await asyncio.wait_for(reader.readline(), READ)).startswith(accepted):
            assert line, "closed before the STARTTLS answer"
        await writer.start_tls(context, server_hostname="localhost")
        garbage = b"".join(rng.randbytes(rng.randrange(1, 200)) + b"\r\n" for _ in range(100))
        writer.write(garbage)
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.drain()
        endings.append(await _until_closed(reader))
        writer.close()

    async def storm() -> None:
        await asyncio.gather(*(one(endpoint) for endpoint in ("imap", "pop3") for _ in range(10)))

    _run_storm(servers, storm)
    assert len(endings) == 20
    assert all(b"BAD" in ending or b"-ERR" in ending for ending in endings), endings
