"""The fake servers in their own process (``mailcompat serve --state-dir``).

Benchmarks that measure the server's memory run it apart from the clients, so
that its RSS is its own: :func:`served` starts ``python -m refclient serve``
with every port at 0, waits for ``servers.json`` (DESIGN.md, command-line
contract) and stops the process cleanly afterwards (SIGTERM, or CTRL_BREAK on
Windows, as ``serve`` documents).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENDPOINT_NAMES = ("imap", "imaps", "pop3", "pop3s", "submission", "submissions")


@dataclass(frozen=True)
class Served:
    """A running ``mailcompat serve``: its process id and its ``servers.json``."""

    pid: int
    state: dict[str, Any]

    @property
    def host(self) -> str:
        """The address every endpoint listens on."""
        return str(self.state["host"])

    @property
    def ca_file(self) -> Path:
        """The test CA to trust."""
        return Path(self.state["ca_cert"])

    def port(self, endpoint: str) -> int:
        """The port of ``endpoint`` (``imaps``, ``submissions``, ...)."""
        return int(self.state["endpoints"][endpoint]["port"])


def raise_descriptor_limit(wanted: int) -> int:
    """Raise this process's soft descriptor limit toward ``wanted`` (children inherit it).

    POSIX only; Windows has no such per-process limit for sockets. Returns the limit.
    """
    try:
        import resource  # noqa: PLC0415  (POSIX only)
    except ImportError:
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@contextmanager
def served(extra: Sequence[str] = (), *, timeout: float = 60) -> Iterator[Served]:
    """Run ``mailcompat serve`` on free ports until the block ends."""
    with tempfile.TemporaryDirectory(prefix="mailcompat-bench-") as directory:
        state_dir = Path(directory)
        ports = [f"--{name}-port=0" for name in ENDPOINT_NAMES]
        command = [sys.executable, "-m", "refclient", "serve", "--state-dir", str(state_dir)]
        windows = sys.platform == "win32"
        process = subprocess.Popen(
            [*command, *ports, *extra],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            # CTRL_BREAK reaches only a process in its own group (Windows console API).
            creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0) if windows else 0,
        )
        state_file = state_dir / "servers.json"
        deadline = time.monotonic() + timeout
        try:
            while not state_file.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"serve did not start: {_stderr(process)}")
                time.sleep(0.02)
            state = json.loads(state_file.read_text(encoding="utf-8"))
            yield Served(process.pid, state)
        finally:
            _stop(process)


def _stderr(process: subprocess.Popen[bytes]) -> str:
    process.kill()
    _out, err = process.communicate()
    return err.decode("utf-8", "replace").strip()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        try:
            if sys.platform == "win32":
                process.send_signal(signal.CTRL_BREAK_EVENT)
            else:
                process.terminate()
        except OSError:
            process.kill()  # no console to carry CTRL_BREAK (Wine, a service): kill instead
    try:
        process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        # A benchmark server need not stop cleanly: one that ignores the signal
        # (a console without CTRL_BREAK) is killed.
        process.kill()
        process.communicate()
