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

Where Dovecot is installed (the interop environment, ``tests/interop``), the
same rounds run against a private Dovecot whose login and process limits are
raised so that N sessions fit (its defaults hold 100 logins and 10 sessions
per user and address). Dovecot runs a login process (which keeps the TLS
session) and an imap process per session, so its memory is the total over its
processes: RSS counts pages they share once per process, PSS (Linux) shares
them out. Both servers are measured the same way once every session is in
IDLE and the NOOPs are done ("steady" metrics); ours also by its peak RSS.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.harness import Result
from bench.memory import FALLBACK_MESSAGE, MB, PeakRSS, rss_source
from bench.served import raise_descriptor_limit, served
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
#: Room above N in the private Dovecot's limits (the NOOP session, probes, logins in flight).
DOVECOT_HEADROOM = 100


@dataclass(frozen=True)
class IMAPSServer:
    """Where an IMAPS server listens and the CA that signed its certificate."""

    host: str
    port: int
    ca_file: Path


@dataclass(frozen=True)
class TreeMemory:
    """Memory of a process and all its descendants at one moment."""

    processes: int
    rss: int
    #: Proportional set size (shared pages divided among their users); None where unknown.
    pss: int | None


def tree_memory(pid: int) -> TreeMemory | None:
    """RSS and PSS summed over ``pid`` and its descendants (None without psutil)."""
    try:
        import psutil  # noqa: PLC0415  (optional: the bench extra)
    except ImportError:
        return None
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    rss = 0
    pss: int | None = 0
    counted = 0
    for process in tree:
        try:
            full = process.memory_full_info()
        except psutil.AccessDenied:
            try:
                rss += process.memory_info().rss
            except psutil.Error:
                continue
            counted += 1
            pss = None
            continue
        except psutil.Error:
            continue  # ended meanwhile
        counted += 1
        rss += full.rss
        share = getattr(full, "pss", None)
        pss = None if pss is None or share is None else pss + share
    return TreeMemory(processes=counted, rss=rss, pss=pss)


class IdleSession:
    """One logged-in session in IDLE: the bare protocol over an asyncio TLS stream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, server: IMAPSServer, context: ssl.SSLContext) -> IdleSession:
        """Connect with implicit TLS, LOGIN, SELECT INBOX, IDLE; return once ``+`` came."""
        reader, writer = await asyncio.open_connection(
            server.host, server.port, ssl=context, limit=1 << 20
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


async def _noop_latencies(server: IMAPSServer, samples: int) -> list[float]:
    """Seconds per NOOP from one reference-client session, one after another."""
    url = ServerURL.parse(f"imaps://{server.host}:{server.port}")
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


async def _one_round(
    server: IMAPSServer, count: int, samples: int, steady: Callable[[], None] = lambda: None
) -> tuple[float, list[float]]:
    """Open ``count`` IDLE sessions, time NOOPs beside them, call ``steady``, close them."""
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
        await asyncio.to_thread(steady)  # every session still open and in IDLE
    finally:
        await asyncio.gather(*(session.close() for session in sessions))
    return ramp, latencies


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile (0.5: median, 0.99: p99), inclusive method."""
    if len(values) == 1:
        return values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[round(fraction * 100) - 1]


def dovecot_limits(sessions: int) -> str:
    """``dovecot.conf`` settings that let ``sessions`` IMAPS sessions of one user in at once.

    Dovecot 2.3's defaults: ``default_process_limit`` 100 (one imap-login process
    per connection, which keeps the TLS session, and one imap process per
    session), ``default_client_limit`` 1000 (auth and anvil take a connection
    from every one of those processes), ``mail_max_userip_connections`` 10. Later
    settings and repeated sections override the earlier ones.
    """
    processes = sessions + DOVECOT_HEADROOM
    return f"""
# Room for {sessions} IMAPS sessions at once (mailcompat's many-clients benchmark).
default_process_limit = {processes}
default_client_limit = {4 * processes}
service imap-login {{
  process_limit = {processes}
}}
service imap {{
  process_limit = {processes}
}}
protocol imap {{
  mail_max_userip_connections = {processes}
}}
"""


@contextlib.contextmanager
def private_dovecot(sessions: int) -> Iterator[tuple[IMAPSServer, int] | None]:
    """A private Dovecot with room for ``sessions``, and its master's pid; None if absent.

    Built from the interop environment's pieces (``tests/interop``), with
    :func:`dovecot_limits` added to its configuration; only Dovecot runs.
    """
    try:
        # The interop environment is part of the source tree, not of the package.
        from tests.interop.dovecot import DOVECOT_PORT_NAMES  # noqa: PLC0415
        from tests.interop.environment import (  # noqa: PLC0415
            loopback_host,
            server_pki,
            start_private_dovecot,
            write_tls_files,
        )
        from tests.interop.process import free_ports_by_name  # noqa: PLC0415
        from tests.interop.system import (  # noqa: PLC0415
            find_binary,
            missing_requirement,
            server_directory,
        )
    except ImportError:
        yield None
        return
    binary = find_binary("dovecot")
    if missing_requirement() is not None or binary is None:
        yield None
        return
    with server_directory() as root:
        pki = server_pki()
        host = loopback_host()
        ca_file, cert_file, key_file = write_tls_files(pki, root)
        ports = free_ports_by_name(DOVECOT_PORT_NAMES, host=host)
        running = start_private_dovecot(
            root,
            binary=binary,
            pki=pki,
            cert_file=cert_file,
            key_file=key_file,
            ports=ports,
            host=host,
            extra_config=dovecot_limits(sessions),
        )
        try:
            yield IMAPSServer(host, ports["imaps"], ca_file), running.process.pid
        finally:
            running.stop()


def _steady_metrics(result: Result, peer: str, pid: int) -> Callable[[], None]:
    """A callback recording the process tree's memory as the ``steady`` metrics of ``peer``."""

    def measure() -> None:
        memory = tree_memory(pid)
        if memory is None:
            return
        result.metric(peer, "steady_rss_mb", memory.rss / MB)
        result.metric(peer, "steady_processes", float(memory.processes))
        if memory.pss is not None:
            result.metric(peer, "steady_pss_mb", memory.pss / MB)

    return measure


def _latency_metrics(result: Result, peer: str, p50s: list[float], p99s: list[float]) -> None:
    # Latency percentiles: the median over the rounds, like the times.
    result.metrics.setdefault(peer, {})["noop_p50_ms"] = statistics.median(p50s)
    result.metrics[peer]["noop_p99_ms"] = statistics.median(p99s)


def run(*, count: int, rounds: int) -> list[Result]:
    """``count`` IDLE sessions per round, a fresh server each round; Dovecot beside if there."""
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
            target = IMAPSServer(server.host, server.port("imaps"), server.ca_file)
            steady = _steady_metrics(result, peer, server.pid)
            ramp, latencies = asyncio.run(_one_round(target, count, samples, steady))
        result.rounds[peer].append(ramp)
        p50s.append(percentile(latencies, 0.50) * 1000)
        p99s.append(percentile(latencies, 0.99) * 1000)
        if memory.peak is not None and memory.growth is not None:
            result.metric(peer, "peak_rss_mb", memory.peak / MB)
            result.metric(peer, "rss_growth_mb", memory.growth / MB)
            result.metric(peer, "kb_per_session", memory.growth / 1024 / count)
    _latency_metrics(result, peer, p50s, p99s)
    _run_dovecot(result, count, rounds, samples)
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
    return [result]


def _run_dovecot(result: Result, count: int, rounds: int, samples: int) -> None:
    """The same rounds against a private Dovecot, as one more peer (or a note why not)."""
    peer = f"dovecot, {count} IDLE IMAPS sessions"
    p50s: list[float] = []
    p99s: list[float] = []
    for _ in range(rounds):
        with private_dovecot(count) as dovecot:
            if dovecot is None:
                result.notes.append("Dovecot not installed: no comparison with it")
                return
            target, pid = dovecot
            steady = _steady_metrics(result, peer, pid)
            ramp, latencies = asyncio.run(_one_round(target, count, samples, steady))
        result.rounds.setdefault(peer, []).append(ramp)
        p50s.append(percentile(latencies, 0.50) * 1000)
        p99s.append(percentile(latencies, 0.99) * 1000)
    _latency_metrics(result, peer, p50s, p99s)
    result.notes.append(
        "Dovecot: a private instance with login and process limits raised for "
        f"{count} sessions; one imap-login (holding TLS) and one imap process per session, "
        "memory summed over its processes (steady_rss_mb counts shared pages once per "
        "process, steady_pss_mb shares them out)"
    )
