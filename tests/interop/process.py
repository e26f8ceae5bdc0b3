"""Starting and stopping the real servers' processes, bounded in time.

Dovecot and Postfix run as child processes of the test session. Every wait
here has a deadline, so a server that does not come up fails the session
with its log tail instead of hanging it, and a server that does not stop is
killed so that nothing outlives the tests.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

#: Seconds a server gets to answer on all of its ports after being started.
START_TIMEOUT = 20.0
#: Seconds a server gets to exit after being asked to stop, before it is killed.
STOP_TIMEOUT = 10.0
#: How many lines of a server's log go into a failure message.
LOG_TAIL_LINES = 40
#: Delay between two readiness probes.
_POLL_INTERVAL = 0.02


class ServerStartError(RuntimeError):
    """A real server was installed but did not start; the message holds its log tail."""


def free_ports(count: int, *, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct TCP ports that are free on ``host`` right now.

    All sockets are bound (port 0) before any is closed, so the ports differ.
    Another process could take one before the server binds it; the window is
    short and a lost race shows up as a start failure with the server's log.
    """
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_ports_by_name(names: Sequence[str], *, host: str = "127.0.0.1") -> dict[str, int]:
    """A free port for each name (see :func:`free_ports`)."""
    return dict(zip(names, free_ports(len(names), host=host), strict=True))


def log_tail(paths: Iterable[Path], *, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of each existing log file, labelled by file name."""
    parts: list[str] = []
    for path in paths:
        if not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        tail = "\n".join(text.splitlines()[-lines:])
        parts.append(f"--- {path.name} ---\n{tail}")
    return "\n".join(parts) or "(no log written)"


def _greets(host: str, port: int, tls: ssl.SSLContext | None) -> bool:
    """Whether ``port`` sends its first bytes (a greeting), after a TLS handshake if ``tls``.

    A greeting, not just an accepted connection: it shows that the process
    serving the port is up, which is also what lets the server stop quickly
    (Dovecot waits for processes still starting when it is asked to stop).
    """
    try:
        with socket.create_connection((host, port), timeout=1.0) as raw:
            if tls is None:
                return bool(raw.recv(1))
            with tls.wrap_socket(raw, server_hostname=host) as secure:
                return bool(secure.recv(1))
    except OSError:
        return False


def wait_for_ports(
    name: str,
    host: str,
    ports: Mapping[int, ssl.SSLContext | None],
    *,
    alive: Callable[[], bool],
    logs: Sequence[Path],
    timeout: float = START_TIMEOUT,
) -> None:
    """Wait until every port greets, or raise with the log tail.

    ``ports`` maps each port to the client context of its implicit TLS, or
    to ``None`` for a port that greets in clear text.

    Fails early when ``alive()`` turns false: a server that dies at start-up
    is an error to report, not something to wait out.
    """
    deadline = time.monotonic() + timeout
    pending = dict(ports)
    while pending:
        if not alive():
            raise ServerStartError(f"{name} stopped during start-up\n" + log_tail(logs))
        if time.monotonic() > deadline:
            raise ServerStartError(
                f"{name} did not greet on ports {sorted(pending)} within {timeout:.0f} s\n"
                + log_tail(logs)
            )
        pending = {port: tls for port, tls in pending.items() if not _greets(host, port, tls)}
        if pending:
            time.sleep(_POLL_INTERVAL)


def stop_process(process: subprocess.Popen[bytes], *, timeout: float = STOP_TIMEOUT) -> None:
    """Terminate ``process``, wait for it (bounded), and kill it if it is still there."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)
