"""Many clients: N concurrent IMAPS sessions, logged in and IDLE, on one fake server.

The server runs in its own process (``mailcompat serve``, :mod:`bench.served`)
so that its resident memory is its own; a thread samples it while the
sessions connect, log in, select INBOX and enter IDLE (RFC 2177), and while
one more session, the reference client, sends NOOPs (RFC 3501 section 6.1.2)
one after another: the latency of each is what a client of a loaded server
sees.

Each round starts a fresh server. Per round the time is how long the N
sessions took to get into IDLE; the metrics are the server's peak RSS (and
its growth over the idle server), and the p50/p99 NOOP latency.

The issue's targets, judged at 1,000 sessions or more: peak RSS under 200 MB,
p99 NOOP under 20 ms. The idle sessions are plain asyncio TLS streams (the
least a client can cost), so that the client side is not what limits N.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import statistics
import time

from bench.harness import Result
from bench.memory import FALLBACK_MESSAGE, MB, PeakRSS, rss_source
from bench.served import Served, raise_descriptor_limit, served
from refclient.credentials import Credentials
from refclient.session.imap import IMAPSession
from refclient.session.options import ClientOptions
from refclient.urls import ServerURL

USER, PASSWORD = "alice@example.test", "alice-pass"
#: TLS handshakes in flight at once while the sessions connect (all stay open together).
CONNECTING = 64
TARGET_RSS_MB = 200
TARGET_P99_MS = 20
#: The targets are stated for this many sessions.
TARGET_SESSIONS = 1000


class IdleSession:
    """One logged-in session in IDLE: the bare protocol over an asyncio TLS stream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, server: Served, context: ssl.SSLContext) -> IdleSession:
        """Connect with implicit TLS, LOGIN, SELECT INBOX, IDLE; return once ``+`` came."""
        reader, writer = await asyncio.open_connection(
            server.host, server.port("imaps"), ssl=context, limit=1 << 20
        )
        session = cls(reader, writer)
        greeting = await reader.readline()
        if not greeting.startswith(b"* OK"):
            raise RuntimeError(f"unexpected greeting {greeting!r}")
        await session.command(b"a1", b'LOGIN "' + USER.encode() + b'" "' + PASSWORD.encode() + b'"')
        await session.command(b"a2", b"SELECT INBOX")
        writer.write(b"a3 IDLE\r\n")
        while not (line := await reader.readline()).startswith(b"+"):
            if not line or line.startswith(b"a3 "):
                raise RuntimeError(f"IDLE refused: {line!r}")
        return session

    async def command(self, tag: bytes, command: bytes) -> None:
        """Send one command (explicit CRLF, RFC 3501 section 2.2) and wait for its tagged OK."""
        self.writer.write(tag + b" " + command + b"\r\n")
        while True:
            line = await self.reader.readline()
            if not line:
                raise RuntimeError(f"connection closed during {command!r}")
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError(f"{command!r} failed: {line!r}")
                return

    async def close(self) -> None:
        """End IDLE and log out (RFC 2177 section 3: DONE), then close."""
        with contextlib.suppress(ConnectionError):
            self.writer.write(b"DONE\r\na4 LOGOUT\r\n")
            await self.writer.drain()
        self.writer.close()
        # The server may close first after LOGOUT.
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()


async def _noop_latencies(server: Served, samples: int) -> list[float]:
    """Seconds per NOOP from one reference-client session, one after another."""
    url = ServerURL.parse(f"imaps://{server.host}:{server.port('imaps')}")
    options = ClientOptions(ca_file=server.ca_file, connect_timeout=60, read_timeout=60)
    latencies = []
    async with IMAPSession(url, options=options) as session:
        await session.login(Credentials(user=USER, password=PASSWORD))
        await session.select("INBOX")
        for _ in range(samples):
            start = time.perf_counter()
            await session.noop()
            latencies.append(time.perf_counter() - start)
    return latencies


async def _one_round(server: Served, count: int, samples: int) -> tuple[float, list[float]]:
    context = ssl.create_default_context(cafile=str(server.ca_file))
    gate = asyncio.Semaphore(CONNECTING)

    async def one() -> IdleSession:
        async with gate:
            return await IdleSession.open(server, context)

    start = time.perf_counter()
    sessions = await asyncio.gather(*(one() for _ in range(count)))
    ramp = time.perf_counter() - start
    try:
        latencies = await _noop_latencies(server, samples)
    finally:
        await asyncio.gather(*(session.close() for session in sessions))
    return ramp, latencies


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile (0.5: median, 0.99: p99), inclusive method."""
    if len(values) == 1:
        return values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[round(fraction * 100) - 1]


def run(*, count: int, rounds: int) -> list[Result]:
    """``count`` IDLE sessions per round, a fresh server each round."""
    limit = raise_descriptor_limit(2 * count + 256)
    samples = max(20, min(500, count // 2))
    peer = f"fake, {count} IDLE IMAPS sessions"
    result = Result(
        name=f"Many clients: {count} concurrent IMAPS sessions, logged in and IDLE "
        f"(server in its own process; {samples} NOOPs from one more session)",
        baseline=peer,
        rounds={peer: []},
    )
    if limit < 2 * count + 64:
        result.notes.append(f"descriptor limit {limit} may be too low for {count} sessions")
    source = rss_source()
    if source is None:
        result.notes.append(FALLBACK_MESSAGE)
    else:
        result.notes.append(f"RSS read through {source}")
    p50s, p99s = [], []
    for _ in range(rounds):
        with served() as server, PeakRSS(server.pid, interval=0.02) as memory:
            ramp, latencies = asyncio.run(_one_round(server, count, samples))
        result.rounds[peer].append(ramp)
        p50s.append(percentile(latencies, 0.50) * 1000)
        p99s.append(percentile(latencies, 0.99) * 1000)
        if memory.peak is not None and memory.growth is not None:
            result.metric(peer, "peak_rss_mb", memory.peak / MB)
            result.metric(peer, "rss_growth_mb", memory.growth / MB)
            result.metric(peer, "kb_per_session", memory.growth / 1024 / count)
    # Latency percentiles: the median over the rounds, like the times.
    result.metrics.setdefault(peer, {})["noop_p50_ms"] = statistics.median(p50s)
    result.metrics[peer]["noop_p99_ms"] = statistics.median(p99s)
    if count >= TARGET_SESSIONS:
        if "peak_rss_mb" in result.metrics[peer]:
            result.target(
                f"server peak RSS, {count} sessions",
                result.metrics[peer]["peak_rss_mb"],
                TARGET_RSS_MB,
                " MB",
            )
        result.target(
            f"p99 NOOP latency, {count} sessions", statistics.median(p99s), TARGET_P99_MS, " ms"
        )
    else:
        result.notes.append(f"targets are judged at {TARGET_SESSIONS} sessions or more")
    result.notes.append(
        "Dovecot not compared here: one process per session, and its default IMAPS login "
        "limit holds 100 (the issue quotes about 540 MB for 1,000 sessions)"
    )
    return [result]
