"""Large messages: APPEND, FETCH and SMTP DATA of one N MB message, against a raw TLS copy.

Peers, interleaved round by round:

* ``raw TLS copy`` (the baseline, the limit): N MB written into a TLS socket
  on loopback and read out by a thread into one reused buffer, both sides in
  this process with the standard ``ssl`` module;
* ``refclient APPEND -> fake``: IMAP APPEND (RFC 3501 section 6.3.11) of the
  message as one literal;
* ``refclient FETCH -> disk``: ``UID FETCH BODY.PEEK[]`` of the message
  written to a file by ``IMAPSession.save_message``, as ``mailcompat fetch
  --out`` saves it;
* ``refclient DATA -> fake``: SMTP submission of the message by DATA (RFC 5321
  section 4.1.1.4; ``chunking=False``, no BDAT);
* ``raw APPEND``, ``raw FETCH``, ``raw DATA``: the same three transfers by a
  minimal blocking TLS socket client (:class:`RawPeers`: the commands written
  by hand, the literal read into one reused buffer), so that the server's own
  cost shows apart from the reference client's.

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
import io
import itertools
import os
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, cast

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
RAW_APPEND, RAW_FETCH, RAW_DATA = ("raw APPEND -> fake", "raw FETCH -> memory", "raw DATA -> fake")


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
                await imap.save_message(self.kept_uid, target)
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


class _RawConnection:
    """A blocking TLS socket with a buffered reader: the least a client can do."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext) -> None:
        sock = socket.create_connection((host, port))
        self.tls = context.wrap_socket(sock, server_hostname="localhost")
        self.reader = cast(io.BufferedReader, self.tls.makefile("rb", buffering=256 * 1024))

    def line(self) -> bytes:
        """One line from the server, CRLF included."""
        line = self.reader.readline()
        if not line:
            raise ConnectionError("the server closed the connection")
        return line

    def send(self, data: bytes) -> None:
        """Write ``data`` whole."""
        self.tls.sendall(data)

    def close(self) -> None:
        """Close reader and socket."""
        self.reader.close()
        self.tls.close()


class _RawIMAP(_RawConnection):
    """Hand-written IMAP commands (RFC 3501) over a blocking TLS socket."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext) -> None:
        super().__init__(host, port, context)
        self._tags = itertools.count(1)
        self.line()  # greeting

    def command(self, text: str) -> list[bytes]:
        """Send ``tag text`` and return the lines up to the tagged OK (or raise)."""
        tag = f"r{next(self._tags)}"
        self.send(f"{tag} {text}\r\n".encode())
        return self.until(tag)

    def until(self, tag: str) -> list[bytes]:
        """The lines up to and including the tagged one; raises unless it is OK."""
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if line.startswith(tag.encode() + b" "):
                if not line.startswith(tag.encode() + b" OK"):
                    raise RuntimeError(f"IMAP command failed: {line!r}")
                return lines

    def login(self) -> None:
        """LOGIN as the benchmark's account."""
        self.command(f'LOGIN "{USER}" "{PASSWORD}"')

    def empty_inbox(self) -> None:
        """Delete every message of INBOX."""
        self.command("SELECT INBOX")
        self.command("STORE 1:* +FLAGS.SILENT (\\Deleted)")
        self.command("EXPUNGE")


class RawPeers:
    """APPEND, FETCH and DATA by minimal socket clients: the server's side of each transfer."""

    def __init__(self, server: Served, data: bytes, kept_uid: Callable[[], int]) -> None:
        self.server = server
        self.data = data
        self.kept_uid = kept_uid
        self.context = ssl.create_default_context(cafile=str(server.ca_file))
        self.buffer = bytearray(len(data))
        self.metrics: dict[str, dict[str, float]] = {}

    def _memory(self, peer: str, server: PeakRSS) -> None:
        if server.peak is not None and server.growth is not None:
            values = self.metrics.setdefault(peer, {})
            growth = server.growth / len(self.data)
            values["server_growth_x"] = max(growth, values.get("server_growth_x", growth))

    def _imap(self) -> _RawIMAP:
        imap = _RawIMAP(self.server.host, self.server.port("imaps"), self.context)
        imap.login()
        return imap

    def append(self) -> float:
        """APPEND as one synchronizing literal; timed from the command to the tagged OK."""
        imap = self._imap()
        try:
            with PeakRSS(self.server.pid) as server:
                start = time.perf_counter()
                imap.send(b"a APPEND INBOX {%d}\r\n" % len(self.data))
                if not imap.line().startswith(b"+"):
                    raise RuntimeError("no continuation request for the literal")
                imap.send(self.data)
                imap.send(b"\r\n")
                imap.until("a")
                elapsed = time.perf_counter() - start
            self._memory(RAW_APPEND, server)
            imap.empty_inbox()
        finally:
            imap.close()
        return elapsed

    def fetch(self) -> float:
        """``UID FETCH BODY.PEEK[]`` with the literal read into one reused buffer."""
        imap = self._imap()
        try:
            imap.command(f"EXAMINE {KEPT}")
            with PeakRSS(self.server.pid) as server:
                start = time.perf_counter()
                imap.send(b"f UID FETCH %d BODY.PEEK[]\r\n" % self.kept_uid())
                line = imap.line()
                if not line.endswith(b"{%d}\r\n" % len(self.data)):
                    raise RuntimeError(f"unexpected FETCH response {line[:80]!r}")
                view = memoryview(self.buffer)
                filled = 0
                while filled < len(view):
                    count = imap.reader.readinto(view[filled:])
                    if not count:
                        raise ConnectionError("the server closed inside the literal")
                    filled += count
                imap.until("f")
                elapsed = time.perf_counter() - start
            self._memory(RAW_FETCH, server)
        finally:
            imap.close()
        if self.buffer != self.data:
            raise RuntimeError("the fetched message is not the one appended")
        return elapsed

    def submit(self) -> float:
        """SMTP DATA (the message has no line starting with a dot: nothing to stuff)."""
        smtp = _RawConnection(self.server.host, self.server.port("submissions"), self.context)
        try:

            def reply() -> bytes:
                while (line := smtp.line())[3:4] == b"-":
                    pass
                if line[:1] not in (b"2", b"3"):
                    raise RuntimeError(f"SMTP refused: {line!r}")
                return line

            reply()
            for command in (
                b"EHLO bench.example.test",
                b"AUTH PLAIN " + base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()),
                f"MAIL FROM:<{USER}>".encode(),
                f"RCPT TO:<{USER}>".encode(),
            ):
                smtp.send(command + b"\r\n")
                reply()
            with PeakRSS(self.server.pid) as server:
                start = time.perf_counter()
                smtp.send(b"DATA\r\n")
                reply()
                smtp.send(self.data)
                smtp.send(b".\r\n")
                reply()
                elapsed = time.perf_counter() - start
            self._memory(RAW_DATA, server)
            smtp.send(b"QUIT\r\n")
        finally:
            smtp.close()
        imap = self._imap()
        try:
            imap.empty_inbox()
        finally:
            imap.close()
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
        raw = RawPeers(server, data, lambda: peers.kept_uid)
        result = interleave(
            f"Large messages: one message of {len(data) / MB:.1f} MB over implicit TLS "
            "(fake servers in their own process)",
            {
                RAW: lambda: raw_tls_copy(pki, data),
                APPEND: _sync(peers.append),
                FETCH: _sync(peers.fetch),
                DATA: _sync(peers.submit),
                RAW_APPEND: raw.append,
                RAW_FETCH: raw.fetch,
                RAW_DATA: raw.submit,
            },
            baseline=RAW,
            rounds=rounds,
            self_timed=True,
        )
    result.metrics.update(peers.metrics)
    result.metrics.update(raw.metrics)
    for peer in result.rounds:
        result.metrics.setdefault(peer, {})["mb_per_s"] = len(data) / MB / result.median(peer)
    source = rss_source()
    result.notes.append(FALLBACK_MESSAGE if source is None else f"RSS read through {source}")
    for peer in (APPEND, FETCH, DATA, RAW_APPEND, RAW_FETCH, RAW_DATA):
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
