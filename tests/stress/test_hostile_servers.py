"""Hostile servers against the reference client's sessions over real sockets.

Each server misbehaves one way: an endless line, a 4 GB literal announced and
then trickled, BODYSTRUCTURE nested 10,000 deep, a million untagged responses,
a stall in the middle of a response, a close in the middle of a literal, NUL
and invalid UTF-8, a TLS handshake that never completes; and for POP3 and
SMTP an endless line, a stall and a close in the middle of a multi-line reply.
The session must end in the documented error, whose text names the server,
the step and the transcript tail with the partial data seen, before a bound
of a few read timeouts (a hang is a failure), with a tracemalloc peak far
below what the hostile data would cost if it were buffered.

The other half of each pair: a server that sends the same shape within the
limits (a long line, a large literal, deep nesting, many untagged responses,
a pause shorter than the timeout, a complete literal, 8-bit UTF-8, a TLS
handshake that completes) is read without error, so the limits, not some
other failure, are what stop the hostile ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from fakeservers.pki import TestPKI
from refclient import errors
from refclient.session.imap import IMAPSession
from refclient.session.options import ClientLimits, ClientOptions
from refclient.session.pop3 import POP3Session
from refclient.session.smtp import SMTPSession
from refclient.urls import ServerURL

pytestmark = pytest.mark.stress

Play = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
Client = Callable[[int, ClientOptions], Awaitable[None]]
GREETING = b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hostile ready\r\n"
#: The configured read and connect timeout of every session here.
TIMEOUT = 2.0
#: A hang bound: the error must come well before this.
BOUND = TIMEOUT * 10
LIMITS = ClientLimits(
    max_line=64 * 1024, max_literal=1024 * 1024, max_nesting=100, max_untagged=100_000
)
#: The tracemalloc peak allowed; the hostile data is 4 GB, 10,000 levels or a million lines.
PEAK = 64 * 1024 * 1024


@contextlib.asynccontextmanager
async def serving(play: Play, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """A loopback server on port 0 that plays ``play`` with each client."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError, ssl.SSLError):
            await play(reader, writer)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def _options(ca: Path | None = None) -> ClientOptions:
    return ClientOptions(
        ca_file=ca,
        read_timeout=TIMEOUT,
        connect_timeout=TIMEOUT,
        limits=LIMITS,
        allow_plaintext_auth=True,
    )


async def _imap_client(port: int, options: ClientOptions, scheme: str = "imap+insecure") -> None:
    session = IMAPSession(ServerURL.parse(f"{scheme}://127.0.0.1:{port}"), options=options)
    try:
        await session.connect()
        await session.capability()
    finally:
        await session.close()


async def _imaps_client(port: int, options: ClientOptions) -> None:
    await _imap_client(port, options, scheme="imaps")


async def _pop3_client(port: int, options: ClientOptions) -> None:
    session = POP3Session(ServerURL.parse(f"pop3+insecure://127.0.0.1:{port}"), options=options)
    try:
        await session.connect()  # greeting and CAPA
    finally:
        await session.close()


async def _smtp_client(port: int, options: ClientOptions) -> None:
    session = SMTPSession(ServerURL.parse(f"smtp+insecure://127.0.0.1:{port}"), options=options)
    try:
        await session.connect()  # greeting and EHLO
    finally:
        await session.close()


def _bounded(
    client: Client, play: Play, *, tls: ssl.SSLContext | None = None, ca: Path | None = None
) -> tuple[BaseException | None, int]:
    """Run ``client`` against ``play``; its error (or None) and the tracemalloc peak."""

    async def scenario() -> BaseException | None:
        async with serving(play, tls) as port:
            try:
                await client(port, _options(ca))
            except errors.ClientError as error:
                return error
        return None

    tracemalloc.start()
    try:
        outcome = asyncio.run(asyncio.wait_for(scenario(), BOUND))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return outcome, peak


# -- IMAP plays ------------------------------------------------------------------------------


async def _command(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """Greet, then read the client's first command; its tag."""
    writer.write(GREETING)
    await writer.drain()
    return (await reader.readline()).split(b" ", 1)[0]


async def _finish(writer: asyncio.StreamWriter, tag: bytes) -> None:
    writer.write(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + tag + b" OK done\r\n")
    await writer.drain()
    await asyncio.sleep(TIMEOUT)  # until the client closes


async def endless_line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"* OK " + b"x" * 65536)
    while True:  # never a line end
        writer.write(b"x" * 65536)
        await writer.drain()


async def long_line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    tag = await _command(reader, writer)
    writer.write(b"* OK " + b"x" * (LIMITS.max_line // 2) + b"\r\n")
    await _finish(writer, tag)


async def huge_literal(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _command(reader, writer)
    writer.write(b"* 1 FETCH (BODY[] {4294967296}\r\n")
    while True:  # 4 GB announced, trickled
        writer.write(b"y" * 1024)
        await writer.drain()
        await asyncio.sleep(0.01)


async def large_literal(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    tag = await _command(reader, writer)
    size = LIMITS.max_literal // 2
    writer.write(b"* 1 FETCH (BODY[] {%d}\r\n" % size + b"y" * size + b")\r\n")
    await _finish(writer, tag)


async def deep_nesting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _command(reader, writer)
    writer.write(b"* 1 FETCH (BODYSTRUCTURE " + b"(" * 10_000 + b")" * 10_000 + b")\r\n")
    await writer.drain()
    await asyncio.sleep(TIMEOUT * 3)


async def nested_within_limit(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    tag = await _command(reader, writer)
    depth = LIMITS.max_nesting // 2
    leaf = b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 1 1)'
    structure = b"(" * depth + leaf + b' "mixed")' * depth
    writer.write(b"* 1 FETCH (UID 1 BODYSTRUCTURE " + structure + b")\r\n")
    await _finish(writer, tag)


async def million_untagged(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _command(reader, writer)
    chunk = b"* OK still going\r\n" * 10_000
    for _ in range(100):  # a million untagged responses, never the tagged one
        writer.write(chunk)
        await writer.drain()
    await asyncio.sleep(TIMEOUT * 3)


async def many_untagged(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    tag = await _command(reader, writer)
    writer.write(b"* OK still going\r\n" * (LIMITS.max_untagged // 2))
    await _finish(writer, tag)


async def stall_mid_response(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _command(reader, writer)
    writer.write(b"* CAPABILITY IMAP4rev1 AUTH=PL")
    await writer.drain()
    await asyncio.sleep(TIMEOUT * 3)


async def pause_mid_response(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    tag = await _command(reader, writer)
    writer.write(b"* CAPABILITY IMAP4rev1 AUTH=PL")
    await writer.drain()
    await asyncio.sleep(TIMEOUT / 8)  # well inside the read timeout
    writer.write(b"AIN\r\n")
    await _finish(writer, tag)


async def close_mid_literal(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _command(reader, writer)
    writer.write(b"* 1 FETCH (BODY[] {100}\r\nonly twenty octets..")
    await writer.drain()


async def whole_literal(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    tag = await _command(reader, writer)
    writer.write(b"* 1 FETCH (BODY[] {20}\r\nonly twenty octets..)\r\n")
    await _finish(writer, tag)


async def nul_and_invalid_utf8(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"* OK \x00\xff\xfe hostile\x00 ready\r\n")
    await writer.drain()
    await reader.readline()
    writer.write(b"* CAPABILITY IMAP4rev1 \xff\x00\r\n")
    await writer.drain()
    await asyncio.sleep(TIMEOUT * 3)


async def valid_utf8(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] Grüße, hostile ready\r\n".encode())
    await writer.drain()
    tag = (await reader.readline()).split(b" ", 1)[0]
    await _finish(writer, tag)


async def never_completes_tls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(TIMEOUT * 3)  # accepts the TCP connection, never answers the ClientHello


async def greets_over_tls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    tag = await _command(reader, writer)
    await _finish(writer, tag)


# -- POP3 and SMTP plays ---------------------------------------------------------------------


def _endless(first: bytes) -> Play:
    async def play(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(first + b"x" * 65536)
        while True:  # never a line end
            writer.write(b"x" * 65536)
            await writer.drain()

    return play


def _conversation(
    greeting: bytes, reply: bytes, *, pause: float = 0.0, close: bool = False
) -> Play:
    """Greet, read one command, send ``reply`` in two halves with ``pause`` between them.

    ``close`` drops the connection instead of sending the second half.
    """

    async def play(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(greeting)
        await writer.drain()
        await reader.readline()
        half = len(reply) // 2
        writer.write(reply[:half])
        await writer.drain()
        if close:
            return
        await asyncio.sleep(pause)
        writer.write(reply[half:])
        await writer.drain()
        await asyncio.sleep(TIMEOUT)  # until the client closes

    return play


POP3_GREETING = b"+OK hostile POP3 ready\r\n"
POP3_CAPA = b"+OK capabilities follow\r\nUSER\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n.\r\n"
SMTP_GREETING = b"220 hostile.example.test ESMTP ready\r\n"
SMTP_EHLO = b"250-hostile.example.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 1000000\r\n"
STALL = TIMEOUT * 3
PAUSE = TIMEOUT / 8

#: name: (client, hostile play, error kind, text the transcript tail shows).
HOSTILE: dict[str, tuple[Client, Play, type[errors.ClientError], str]] = {
    "imap-endless-line": (_imap_client, endless_line, errors.ProtocolViolation, "xxxx"),
    "imap-4gb-literal": (_imap_client, huge_literal, errors.ProtocolViolation, "{4294967296}"),
    "imap-deep-bodystructure": (_imap_client, deep_nesting, errors.ProtocolViolation, "(((("),
    "imap-million-untagged": (
        _imap_client, million_untagged, errors.ProtocolViolation, "still going"
    ),
    "imap-stall-mid-response": (_imap_client, stall_mid_response, errors.Timeout, "AUTH=PL"),
    "imap-close-mid-literal": (
        _imap_client, close_mid_literal, errors.ConnectionLost, "BODY[] {100}"
    ),
    "imap-nul-and-invalid-utf8": (
        _imap_client, nul_and_invalid_utf8, errors.ProtocolViolation, "\\x00"
    ),
    "pop3-endless-line": (_pop3_client, _endless(b"+OK "), errors.ProtocolViolation, "xxxx"),
    "pop3-stall-mid-capa": (
        _pop3_client, _conversation(POP3_GREETING, POP3_CAPA, pause=STALL), errors.Timeout, "follow"
    ),
    "pop3-close-mid-capa": (
        _pop3_client,
        _conversation(POP3_GREETING, POP3_CAPA, close=True),
        errors.ConnectionLost,
        "follow",
    ),
    "smtp-endless-line": (_smtp_client, _endless(b"220 "), errors.ProtocolViolation, "xxxx"),
    "smtp-stall-mid-ehlo": (
        _smtp_client, _conversation(SMTP_GREETING, SMTP_EHLO, pause=STALL), errors.Timeout, "250-"
    ),
    "smtp-close-mid-ehlo": (
        _smtp_client,
        _conversation(SMTP_GREETING, SMTP_EHLO, close=True),
        errors.ConnectionLost,
        "250-",
    ),
}  # fmt: skip

#: name: (client, the same shape within the limits).
WITHIN: dict[str, tuple[Client, Play]] = {
    "imap-long-line": (_imap_client, long_line),
    "imap-large-literal": (_imap_client, large_literal),
    "imap-nested-bodystructure": (_imap_client, nested_within_limit),
    "imap-many-untagged": (_imap_client, many_untagged),
    "imap-pause-mid-response": (_imap_client, pause_mid_response),
    "imap-whole-literal": (_imap_client, whole_literal),
    "imap-valid-utf8": (_imap_client, valid_utf8),
    "pop3-pause-mid-capa": (_pop3_client, _conversation(POP3_GREETING, POP3_CAPA, pause=PAUSE)),
    "smtp-pause-mid-ehlo": (_smtp_client, _conversation(SMTP_GREETING, SMTP_EHLO, pause=PAUSE)),
}


def _assert_clear(error: BaseException | None, kind: type[errors.ClientError], seen: str) -> None:
    """The documented kind, naming the server, the step and the partial data seen."""
    assert isinstance(error, kind), f"{type(error).__name__}: {error}"
    text = str(error)
    assert "127.0.0.1" in error.server and error.server in text, text
    assert error.step and f"[{error.step}]" in text, text
    assert any(seen in line for line in error.tail), text
    assert "last transcript lines" in text


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_server_ends_in_a_clear_error(name: str) -> None:
    client, play, kind, seen = HOSTILE[name]
    error, peak = _bounded(client, play)
    _assert_clear(error, kind, seen)
    assert peak < PEAK, f"tracemalloc peak {peak} octets"


@pytest.mark.parametrize("name", sorted(WITHIN))
def test_the_same_shape_within_the_limits_is_read(name: str) -> None:
    client, play = WITHIN[name]
    error, peak = _bounded(client, play)
    assert error is None, str(error)
    assert peak < PEAK, f"tracemalloc peak {peak} octets"


@pytest.fixture
def ca_file(tmp_path: Path, mail_pki: TestPKI) -> Path:
    return mail_pki.write_ca(tmp_path / "ca.pem")


def test_a_tls_handshake_that_never_completes_times_out(ca_file: Path) -> None:
    # Plain TCP behind an imaps URL: the ClientHello is never answered.
    error, peak = _bounded(_imaps_client, never_completes_tls, ca=ca_file)
    assert isinstance(error, errors.Timeout), f"{type(error).__name__}: {error}"
    _assert_clear(error, errors.Timeout, "connect")
    assert peak < PEAK


def test_a_tls_handshake_that_completes_is_read(ca_file: Path, mail_pki: TestPKI) -> None:
    error, peak = _bounded(
        _imaps_client, greets_over_tls, tls=mail_pki.server_context(), ca=ca_file
    )
    assert error is None, str(error)
    assert peak < PEAK
