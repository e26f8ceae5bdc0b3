"""Hostile-client storms against the fake servers, bounded in count and seconds, loopback only.

During each storm a well-behaved client (the reference client) must log in,
append and read back a message byte for byte; afterwards the server accepts
new sessions and the store is intact. Run with ``-m stress`` (``tox -e stress``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import ssl
from collections.abc import Iterator

import pytest

from fakeservers.config import Limits, ServerConfig
from fakeservers.controller import FakeMailServers
from fakeservers.pki import TestPKI
from refclient.credentials import Credentials
from refclient.session.imap import IMAPSession
from refclient.session.options import ClientOptions
from refclient.urls import ServerURL

pytestmark = pytest.mark.stress

ALICE = Credentials(user="alice@example.test", password="alice-pass")
KEPT = b"Subject: kept\r\n\r\nthis message must survive every storm\r\n"
IDLE = 1.0


@pytest.fixture
def servers(mail_pki: TestPKI) -> Iterator[FakeMailServers]:
    limits = Limits(idle_timeout=IDLE, max_line=4096, tls_handshake_timeout=1.0)
    with FakeMailServers(pki=mail_pki, config=ServerConfig(limits=limits)) as running:
        running.store.append(ALICE.user, "INBOX", KEPT)
        yield running


async def well_behaved(servers: FakeMailServers) -> None:
    """Log in, append, read back byte-exact: what must keep working during a storm."""
    url = ServerURL.parse(servers.url("imaps"))
    data = b"Subject: during the storm\r\n\r\n" + os.urandom(8).hex().encode() + b"\r\n"
    async with IMAPSession(url, options=ClientOptions(ca_file=servers.ca_file)) as imap:
        await imap.login(ALICE, mechanism="PLAIN")
        uid = await imap.append("INBOX", data)
        await imap.select("INBOX", readonly=True)
        assert uid is not None and await imap.fetch_message(uid) == data


def assert_intact(servers: FakeMailServers) -> None:
    assert servers.store.mailbox(ALICE.user, "INBOX").messages[0].data == KEPT


async def storm_and_check(servers: FakeMailServers, storm: asyncio.Task[None]) -> None:
    await asyncio.sleep(0.1)  # let the storm start
    await asyncio.wait_for(well_behaved(servers), 20)
    await asyncio.wait_for(storm, 30)
    await asyncio.wait_for(well_behaved(servers), 20)  # the server recovered


def test_two_thousand_connections_at_once(servers: FakeMailServers) -> None:
    async def storm() -> None:
        port = servers.endpoints["imap"].port
        opened = await asyncio.gather(
            *(asyncio.open_connection("127.0.0.1", port) for _ in range(2000)),
            return_exceptions=True,
        )
        writers = [pair[1] for pair in opened if isinstance(pair, tuple)]
        assert len(writers) >= 1900
        greeted = await asyncio.gather(
            *(pair[0].readline() for pair in opened if isinstance(pair, tuple)),
            return_exceptions=True,
        )
        assert sum(isinstance(g, bytes) and g.startswith(b"* OK") for g in greeted) >= 1900
        for writer in writers:
            writer.close()

    async def scenario() -> None:
        await storm_and_check(servers, asyncio.create_task(storm()))

    asyncio.run(scenario())
    assert_intact(servers)


def test_slowloris_is_timed_out(servers: FakeMailServers) -> None:
    """One octet every 0.2 s never completes a line within the limit: the server hangs up."""

    async def storm() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", servers.endpoints["imap"].port)
        await reader.readline()
        closed_after = None
        for count in range(int(IDLE * 5 / 0.2)):  # up to five idle timeouts, then give up
            try:
                writer.write(b"x")
                await writer.drain()
            except ConnectionError:
                closed_after = count
                break
            await asyncio.sleep(0.2)
            if reader.at_eof():
                closed_after = count
                break
        writer.close()
        assert closed_after is not None, "the slowloris session was never closed"

    async def scenario() -> None:
        await storm_and_check(servers, asyncio.create_task(storm()))

    asyncio.run(scenario())
    assert_intact(servers)


def test_a_client_that_never_reads_is_dropped(servers: FakeMailServers) -> None:
    """A pipelined flood whose responses are never read: bounded, then disconnected."""

    async def storm() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", servers.endpoints["imap"].port)
        flood = b"".join(b"a%d NOOP\r\n" % n for n in range(200_000))
        writer.write(flood)
        with contextlib.suppress(TimeoutError, ConnectionError):
            await asyncio.wait_for(writer.drain(), 10)
        await asyncio.sleep(IDLE * 3)  # the server gives up on a client that reads nothing
        received = 0
        with contextlib.suppress(ConnectionError):
            while chunk := await asyncio.wait_for(reader.read(1 << 20), 5):
                received += len(chunk)
        writer.close()
        # The loop ended at EOF (a TimeoutError would fail the test): the server closed
        # the session of the client that read nothing, instead of holding it forever.
        assert received > 0

    async def scenario() -> None:
        await storm_and_check(servers, asyncio.create_task(storm()))

    asyncio.run(scenario())
    assert_intact(servers)


def test_garbage_on_the_tls_port_and_before_starttls(servers: FakeMailServers) -> None:
    rng = random.Random(7)

    async def storm() -> None:
        for endpoint in ("imaps", "pop3s", "submissions", "imap", "pop3", "submission"):
            for _ in range(20):
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", servers.endpoints[endpoint].port
                )
                writer.write(rng.randbytes(rng.randrange(1, 5000)))
                try:
                    await writer.drain()
                    await asyncio.wait_for(reader.read(65536), 3)
                except (ConnectionError, TimeoutError, ssl.SSLError):
                    pass
                writer.close()

    async def scenario() -> None:
        await storm_and_check(servers, asyncio.create_task(storm()))

    asyncio.run(scenario())
    assert_intact(servers)
