"""Large messages: APPEND, FETCH and SMTP DATA of one N MB message, against a raw TLS copy.

Peers, interleaved round by round:

* ``raw TLS copy`` (the baseline, the limit): N MB written into a TLS socket
  on loopback and read out by a thread into one reused buffer, both sides in
  this process with the standard ``ssl`` module;
* ``refclient APPEND -> fake``: IMAP APPEND (RFC 3501 section 6.3.11) of the
  message as one literal;
* ``refclient FETCH -> disk``: ``UID FETCH BODY.PEEK[]`` of the message, then
  written to a file, as ``mailcompat fetch --out`` saves it;
* ``refclient DATA -> fake``: SMTP submission of the message by DATA (RFC 5321
  section 4.1.1.4; ``chunking=False``, no BDAT).

The fake servers run in their own process (:mod:`bench.served`) so that a
thread can sample each side's RSS during the transfer; each round's time is
the transfer alone (login and clean-up are not timed). Appended and
submitted copies are expunged after each round, so the server's store does
not grow round after round.

The issue's targets: at least half the raw copy's rate (time ratio at most
2.0), the server's peak RSS growth at most 3x the message size, the client's
at most 1.5x while saving to disk.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from bench.harness import Result, interleave
from bench.memory import FALLBACK_MESSAGE, MB, PeakRSS, rss_source
from bench.served import Served, served
from fakeservers.pki import TestPKI
from refclient.credentials import Credentials
from refclient.session.imap import IMAPSession
from refclient.session.options import ClientOptions
from refclient.session.smtp import SMTPSession
from refclient.urls import ServerURL

USER, PASSWORD = "alice@example.test", "alice-pass"
ALICE = Credentials(user=USER, password=PASSWORD)
#: Where the message FETCH reads stays, apart from INBOX (which is emptied every round).
KEPT = "Large"
TARGET_RAW_RATIO = 2.0
TARGET_SERVER_RSS = 3.0
TARGET_CLIENT_RSS = 1.5
RAW, APPEND, FETCH, DATA = (
    "raw TLS copy",
    "refclient APPEND -> fake",
    "refclient FETCH -> disk",
    "refclient DATA -> fake",
)


def make_message(size: int) -> bytes:
    """About ``size`` octets: a header and base64 lines of 76 characters, CRLF-terminated."""
    header = (
        f"From: {USER}\r\nTo: {USER}\r\nSubject: large message\r\n"
        "MIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode()
    body = base64.encodebytes(os.urandom(size * 3 // 4)).replace(b"\n", b"\r\n")
    return header + body


def raw_tls_copy(pki: TestPKI, data: bytes, *, client: ssl.SSLContext | None = None) -> float:
    """Seconds to copy ``data`` through TLS on loopback, handshake excluded.

    ``client`` is the client's context (default: one that trusts ``pki``).
    """
    received = 0
    failure: list[BaseException] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def sink() -> None:
            nonlocal received
            connection, _address = listener.accept()
            try:
                with pki.server_context().wrap_socket(connection, server_side=True) as tls:
                    view = memoryview(bytearray(256 * 1024))
                    while received < len(data) and (count := tls.recv_into(view)):
                        received += count
                    tls.sendall(b"k")  # all read: closing first would reset unread data
            except OSError as error:  # ssl.SSLError is an OSError
                failure.append(error)
                connection.close()

        thread = threading.Thread(target=sink, name="raw-tls-sink")
        thread.start()
        host, port = listener.getsockname()[:2]
        context = client if client is not None else pki.client_context()
        try:
            with (
                socket.create_connection((host, port)) as raw,
                context.wrap_socket(raw, server_hostname="localhost") as tls,
            ):
                start = time.perf_counter()
                tls.sendall(data)
                tls.recv(1)
                elapsed = time.perf_counter() - start
        finally:
            thread.join()
    if failure or received != len(data):
        raise RuntimeError(f"raw copy received {received} of {len(data)} octets: {failure}")
    return elapsed


class Peers:
    """The reference-client peers against one served fake-server process."""

    def __init__(self, server: Served, data: bytes, directory: Path) -> None:
        self.server = server
        self.data = data
        self.directory = directory
        self.kept_uid = 0
        #: peer -> metric -> largest value over the rounds
        self.metrics: dict[str, dict[str, float]] = {}
        options = ClientOptions(ca_file=server.ca_file, connect_timeout=60, read_timeout=300)
        self.options = options
        self.imap_url = ServerURL.parse(f"imaps://{server.host}:{server.port('imaps')}")
        self.smtp_url = ServerURL.parse(f"smtps://{server.host}:{server.port('submissions')}")

    def _keep(self, peer: str, name: str, value: float) -> None:
        values = self.metrics.setdefault(peer, {})
        values[name] = max(value, values.get(name, value))

    def _memory(self, peer: str, server: PeakRSS, client: PeakRSS) -> None:
        if server.peak is not None and server.growth is not None:
            self._keep(peer, "server_peak_mb", server.peak / MB)
            self._keep(peer, "server_growth_x", server.growth / len(self.data))
        if client.growth is not None:
            self._keep(peer, "client_growth_x", client.growth / len(self.data))

    async def prepare(self) -> None:
        """Put the message FETCH reads into its own mailbox."""
        async with IMAPSession(self.imap_url, options=self.options) as imap:
            await imap.login(ALICE)
            await imap.create(KEPT)
            uid = await imap.append(KEPT, self.data)
            if uid is None:
                raise RuntimeError("the fake server gave no APPENDUID")
            self.kept_uid = uid

    async def _empty_inbox(self, imap: IMAPSession) -> None:
        await imap.select("INBOX")
        await imap.raw("STORE 1:* +FLAGS.SILENT (\\Deleted)")
        await imap.expunge()

    async def append(self) -> float:
        async with IMAPSession(self.imap_url, options=self.options) as imap:
            await imap.login(ALICE)
            with PeakRSS(self.server.pid) as server, PeakRSS() as client:
                start = time.perf_counter()
                await imap.append("INBOX", self.data)
                elapsed = time.perf_counter() - start
            self._memory(APPEND, server, client)
            await self._empty_inbox(imap)
        return elapsed

    async def fetch(self) -> float:
        target = self.directory / "fetched.eml"
        async with IMAPSession(self.imap_url, options=self.options) as imap:
            await imap.login(ALICE)
            await imap.select(KEPT, readonly=True)
            with PeakRSS(self.server.pid) as server, PeakRSS() as client:
                start = time.perf_counter()
                target.write_bytes(await imap.fetch_message(self.kept_uid))
                elapsed = time.perf_counter() - start
            self._memory(FETCH, server, client)
        if target.stat().st_size != len(self.data):
            raise RuntimeError("the fetched message is not the one appended")
        target.unlink()
        return elapsed

    async def submit(self) -> float:
        async with SMTPSession(self.smtp_url, options=self.options) as smtp:
            await smtp.login(ALICE)
            with PeakRSS(self.server.pid) as server, PeakRSS() as client:
                start = time.perf_counter()
                sent = await smtp.send(self.data, sender=USER, recipients=[USER], chunking=False)
                elapsed = time.perf_counter() - start
            self._memory(DATA, server, client)
        if sent.accepted != [USER]:
            raise RuntimeError(f"submission refused: {sent.rejected}")
        async with IMAPSession(self.imap_url, options=self.options) as imap:
            await imap.login(ALICE)
            await self._empty_inbox(imap)
        return elapsed


def _sync(coroutine: Callable[[], Coroutine[Any, Any, float]]) -> Callable[[], float]:
    """A peer for the harness: one event loop per round, as a fresh client process would."""

    def run() -> float:
        return asyncio.run(coroutine())

    return run


def run(*, count: int, rounds: int) -> list[Result]:
    """``count`` is the message size in MB."""
    data = make_message(count * MB)
    limit = max(64 * MB, 2 * len(data))
    limits = [f"--limit=max_literal={limit}", f"--limit=max_message_size={limit}"]
    pki = TestPKI.create()
    with (
        tempfile.TemporaryDirectory(prefix="mailcompat-bench-") as directory,
        served(limits) as server,
    ):
        peers = Peers(server, data, Path(directory))
        asyncio.run(peers.prepare())
        result = interleave(
            f"Large messages: one message of {len(data) / MB:.1f} MB over implicit TLS "
            "(fake servers in their own process)",
            {
                RAW: lambda: raw_tls_copy(pki, data),
                APPEND: _sync(peers.append),
                FETCH: _sync(peers.fetch),
                DATA: _sync(peers.submit),
            },
            baseline=RAW,
            rounds=rounds,
            self_timed=True,
        )
    result.metrics.update(peers.metrics)
    for peer in result.rounds:
        result.metrics.setdefault(peer, {})["mb_per_s"] = len(data) / MB / result.median(peer)
    source = rss_source()
    result.notes.append(FALLBACK_MESSAGE if source is None else f"RSS read through {source}")
    for peer in (APPEND, FETCH, DATA):
        result.target(f"{peer}: time / raw TLS copy", result.ratio(peer), TARGET_RAW_RATIO)
        measured = result.metrics[peer]
        if "server_growth_x" in measured:
            result.target(
                f"{peer}: server RSS growth / message size",
                measured["server_growth_x"],
                TARGET_SERVER_RSS,
                "x",
            )
    if "client_growth_x" in result.metrics[FETCH]:
        result.target(
            f"{FETCH}: client RSS growth / message size",
            result.metrics[FETCH]["client_growth_x"],
            TARGET_CLIENT_RSS,
            "x",
        )
    return [result]
