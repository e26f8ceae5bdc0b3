"""Ten thousand connections opened at once against a fake server in its own process.

The server runs as ``mailcompat serve`` so that each side holds ten thousand
sockets in its own process (file-descriptor limits are per process). During
the storm the reference client logs in, appends and reads back a message
byte for byte; afterwards new sessions are served, and the server's memory
stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from refclient.credentials import Credentials
from refclient.session.imap import IMAPSession
from refclient.session.options import ClientOptions
from refclient.urls import ServerURL

pytestmark = pytest.mark.stress

CONNECTIONS = 10_000
ALICE = Credentials(user="alice@example.test", password="alice-pass")


#: Descriptors each process keeps for everything but the storm (listeners, files, the loop).
SPARE = 500


def _raise_fd_limit(wanted: int) -> int:
    """Raise this process's soft descriptor limit toward ``wanted``; returns the limit.

    Only where the ``resource`` module exists (POSIX); Windows has no such
    per-process limit to raise. Child processes inherit the raised limit.
    """
    try:
        import resource  # noqa: PLC0415  (POSIX only)
    except ImportError:
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _storm_size() -> int:
    """How many connections to open: 10,000, or fewer with the reason shown."""
    limit = _raise_fd_limit(CONNECTIONS + SPARE)
    count = min(CONNECTIONS, limit - SPARE)
    if count < CONNECTIONS:
        reason = (
            f"connection storm scaled down to {count} connections: the descriptor limit is "
            f"{limit} and cannot be raised to {CONNECTIONS + SPARE} (raise the hard limit, "
            "for example with ulimit -Hn, to run the full storm)"
        )
        print(reason)
        warnings.warn(reason, stacklevel=2)
    return count


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, Any]]:
    # Raised before the server starts, so that its process inherits the limit.
    _raise_fd_limit(CONNECTIONS + SPARE)
    ports = [f"--{name}-port=0" for name in ("imap", "imaps", "pop3", "pop3s")]
    ports += ["--submission-port=0", "--submissions-port=0"]
    command = [sys.executable, "-m", "refclient", "serve", "--state-dir", str(tmp_path), *ports]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    state_file = tmp_path / "servers.json"
    deadline = time.monotonic() + 60
    while not state_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"serve did not start: {process.communicate()[1]!r}")
        time.sleep(0.05)
    state = json.loads(state_file.read_text(encoding="utf-8"))
    state["pid"] = process.pid
    try:
        yield state
    finally:
        process.terminate()
        process.communicate(timeout=30)


def _rss_kib(pid: int) -> int | None:
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return None  # no /proc (Windows, macOS): the memory bound is checked on Linux only
    for line in status.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


async def _well_behaved(state: dict[str, Any]) -> None:
    url = ServerURL.parse(f"imaps://{state['host']}:{state['endpoints']['imaps']['port']}")
    data = b"Subject: during the storm\r\n\r\n" + os.urandom(8).hex().encode() + b"\r\n"
    options = ClientOptions(ca_file=Path(state["ca_cert"]), connect_timeout=30, read_timeout=30)
    async with IMAPSession(url, options=options) as imap:
        await imap.login(ALICE, mechanism="PLAIN")
        uid = await imap.append("INBOX", data)
        await imap.select("INBOX", readonly=True)
        assert uid is not None and await imap.fetch_message(uid) == data


def test_ten_thousand_connections_at_once(served: dict[str, Any]) -> None:
    count = _storm_size()
    assert count >= 1000, f"only {count} descriptors: too few for a storm"

    async def storm() -> None:
        port = served["endpoints"]["imap"]["port"]
        gate = asyncio.Semaphore(2000)  # connect() calls in flight; all stay open together

        async def one() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            async with gate:
                return await asyncio.open_connection(served["host"], port)

        opened = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
        pairs = [pair for pair in opened if isinstance(pair, tuple)]
        assert len(pairs) >= count * 0.95, f"only {len(pairs)} of {count} connected"
        await asyncio.wait_for(_well_behaved(served), 60)  # while all of them are open
        greeted = await asyncio.gather(
            *(reader.readline() for reader, _ in pairs), return_exceptions=True
        )
        good = sum(isinstance(g, bytes) and g.startswith(b"* OK") for g in greeted)
        assert good >= count * 0.95, f"only {good} greetings"
        for _, writer in pairs:
            writer.close()

    asyncio.run(asyncio.wait_for(storm(), 240))
    asyncio.run(asyncio.wait_for(_well_behaved(served), 60))  # it recovered
    rss = _rss_kib(served["pid"])
    if rss is not None:
        assert rss < 600 * 1024, f"server RSS {rss} KiB after the storm"
