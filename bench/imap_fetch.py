"""IMAP fetch throughput: N messages of 20 KB, BODY.PEEK[] in batches of 100.

Peers, measured in the same run and interleaved:

* ``imaplib @ fake``: the standard library client against our fake server;
* ``refclient @ fake``: the reference client against our fake server;
* ``imapclient @ fake`` and ``aioimaplib @ fake`` where installed (the
  ``bench`` extra);
* with Dovecot installed (the interop environment), the same two against a
  private Dovecot loaded with the same messages, which gives the fake
  server's ratio to Dovecot.

The baseline is ``imaplib @ fake``; the interesting ratios are the reference
client over imaplib (same server), and the fake server over Dovecot (same
client).

Method: every server runs in a process of its own, the fake one through
:mod:`bench.served` (``mailcompat serve``) just as Dovecot runs in its own, and
each is loaded with the same messages by APPEND over the network. A server in
a thread of the benchmark process would share the interpreter lock with the
client being measured and penalise whichever client does more work per
octet; in its own process it costs every peer the same.
"""

from __future__ import annotations

import asyncio
import imaplib
import random
import ssl
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bench.harness import Result, interleave
from bench.served import served
from refclient.credentials import Credentials
from refclient.session.imap import IMAPSession
from refclient.session.options import ClientOptions
from refclient.urls import ServerURL

USER, PASSWORD = "alice@example.test", "alice-pass"
BATCH = 100
#: The issue's targets: the reference client's time over imaplib's and imapclient's
#: (same server), and the fake server's time over Dovecot's (same client).
TARGET_VS_IMAPLIB = 1.1
TARGET_VS_IMAPCLIENT = 0.5
TARGET_FAKE_VS_DOVECOT = 2.0


@dataclass(frozen=True)
class Server:
    """Where a peer fetches from."""

    name: str
    host: str
    port: int
    ca_file: Path

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


def make_messages(count: int, *, size: int = 20 * 1024) -> list[bytes]:
    """``count`` distinct plain-text messages of about ``size`` octets (CRLF lines)."""
    rng = random.Random(count)
    messages = []
    for number in range(count):
        line = b"".join(rng.choice([b"lorem ", b"ipsum ", b"dolor ", b"sit "]) for _ in range(12))
        body = (line.rstrip() + b"\r\n") * (size // (len(line) + 1))
        header = (
            f"From: bench@example.test\r\nTo: {USER}\r\n"
            f"Subject: message {number}\r\nMessage-ID: <{number}@bench.example.test>\r\n\r\n"
        ).encode()
        messages.append(header + body)
    return messages


def _batches(count: int) -> Iterator[str]:
    for start in range(1, count + 1, BATCH):
        yield f"{start}:{min(start + BATCH - 1, count)}"


def fetch_with_imaplib(server: Server, count: int) -> int:
    """Fetch every body with imaplib (no parsing beyond imaplib's own); returns octets."""
    total = 0
    with imaplib.IMAP4_SSL(server.host, server.port, ssl_context=server.context()) as imap:
        imap.login(USER, PASSWORD)
        imap.select("INBOX", readonly=True)
        for batch in _batches(count):
            _status, data = imap.uid("FETCH", batch, "(BODY.PEEK[])")
            total += sum(len(item[1]) for item in data if isinstance(item, tuple))
    return total


def fetch_with_refclient(server: Server, count: int) -> int:
    """Fetch every body with the reference client; returns octets."""

    async def run() -> int:
        url = ServerURL.parse(f"imaps://{server.host}:{server.port}")
        options = ClientOptions(ca_file=server.ca_file)
        total = 0
        async with IMAPSession(url, options=options) as session:
            await session.login(Credentials(user=USER, password=PASSWORD))
            await session.select("INBOX", readonly=True)
            for batch in _batches(count):
                fetched = await session.fetch(batch, ["BODY.PEEK[]"])
                total += sum(len(item.body()) for item in fetched.values())
        return total

    return asyncio.run(run())


def load(server: Server, messages: list[bytes]) -> None:
    """APPEND ``messages`` to the INBOX of ``server`` (not timed).

    With LITERAL+ (RFC 7888) the commands are pipelined in groups of
    :data:`BATCH`, which keeps loading 2,000 messages to about a second;
    otherwise imaplib appends them one by one.
    """
    with imaplib.IMAP4_SSL(server.host, server.port, ssl_context=server.context()) as imap:
        imap.login(USER, PASSWORD)
        if "LITERAL+" not in imap.capabilities:
            for data in messages:
                imap.append("INBOX", None, None, data)
            return
        for start in range(0, len(messages), BATCH):
            group = messages[start : start + BATCH]
            imap.send(
                b"".join(
                    b"L%d APPEND INBOX {%d+}\r\n%s\r\n" % (start + index, len(data), data)
                    for index, data in enumerate(group)
                )
            )
            done = 0
            while done < len(group):
                line = imap.readline()
                if line.startswith(b"L"):
                    if line.split(b" ", 2)[1] != b"OK":
                        raise RuntimeError(f"APPEND refused: {line!r}")
                    done += 1


@contextmanager
def fake_server(messages: list[bytes]) -> Iterator[Server]:
    """Our fake IMAP server, in its own process, loaded with ``messages``."""
    with served() as process:
        server = Server("fake", process.host, process.port("imaps"), process.ca_file)
        load(server, messages)
        yield server


@contextmanager
def dovecot_server(messages: list[bytes]) -> Iterator[Server | None]:
    """A private Dovecot loaded with ``messages``, or None where it is not installed."""
    try:
        from tests.interop.environment import running_servers, server_pki  # noqa: PLC0415
        from tests.interop.system import missing_requirement, server_directory  # noqa: PLC0415
    except ImportError:
        yield None
        return
    if missing_requirement() is not None:
        yield None
        return
    with server_directory() as root, running_servers(root, pki=server_pki()) as servers:
        server = Server("dovecot", servers.host, servers.port("imaps"), servers.ca_file)
        load(server, messages)
        yield server


def run(*, count: int, rounds: int) -> list[Result]:
    """Measure every available peer; the first result compares clients and servers."""
    messages = make_messages(count)
    with ExitStack() as stack:
        servers = [stack.enter_context(fake_server(messages))]
        dovecot = stack.enter_context(dovecot_server(messages))
        notes = []
        if dovecot is None:
            notes.append("Dovecot not installed: no server comparison")
        else:
            servers.append(dovecot)
        # bench.imap_clients builds on this module's helpers, hence the late import.
        from bench.imap_clients import optional_clients  # noqa: PLC0415

        optional, missing = optional_clients()
        notes.extend(missing)
        peers: dict[str, Callable[[], object]] = {}
        for server in servers:
            peers[f"imaplib @ {server.name}"] = partial(fetch_with_imaplib, server, count)
            peers[f"refclient @ {server.name}"] = partial(fetch_with_refclient, server, count)
            for client, fetcher in optional.items():
                body = ["BODY.PEEK[]"]
                peers[f"{client} @ {server.name}"] = partial(fetcher, server, count, body)
        result = interleave(
            f"IMAP fetch of {count} x 20 KB bodies (BODY.PEEK[], batches of {BATCH})",
            peers,
            baseline="imaplib @ fake",
            rounds=rounds,
        )
        result.notes.extend(notes)
    _judge(result, [server.name for server in servers])
    return [result]


def _judge(result: Result, servers: list[str]) -> None:
    """The issue's targets that this run can judge."""
    for name in servers:
        ours = result.median(f"refclient @ {name}")
        result.target(
            f"refclient / imaplib @ {name} (bodies)",
            ours / result.median(f"imaplib @ {name}"),
            TARGET_VS_IMAPLIB,
        )
        if f"imapclient @ {name}" in result.rounds:
            result.target(
                f"refclient / imapclient @ {name} (bodies)",
                ours / result.median(f"imapclient @ {name}"),
                TARGET_VS_IMAPCLIENT,
            )
    if "dovecot" in servers:
        result.target(
            "fake / Dovecot server time (imaplib)",
            result.median("imaplib @ fake") / result.median("imaplib @ dovecot"),
            TARGET_FAKE_VS_DOVECOT,
        )
