"""A large message fetched two ways: ``save_message`` writes it from the buffer it was
read into; ``fetch`` and ``fetch_message`` hand out immutable ``bytes`` of the same octets.

The message is larger than the literal size the client reads in place
(``LARGE_LITERAL``), so both paths go through the in-place read; a small
message goes through the ordinary one. A UID the mailbox does not hold is an
error naming the command, and no file is written.
"""

from __future__ import annotations

import asyncio
import errno
import ssl
import sys
from pathlib import Path

import pytest
import trustme

from fakeservers.controller import FakeMailServers
from refclient.errors import CommandFailed, ProtocolViolation
from refclient.protocol.imap.framing import LARGE_LITERAL
from refclient.session.imap import IMAPSession
from refclient.session.options import ClientOptions
from refclient.urls import ServerURL
from tests.refclient.security.hostile import Action, Hear, HostileServer, StartTLS
from tests.refclient.session.stored import ALICE, stored_message

LARGE = b"Subject: large\r\n\r\n" + b"0123456789abcdef\x80\xff\r\n" * (LARGE_LITERAL // 18 + 7)
SMALL = b"Subject: small\r\n\r\nhello\r\n"


async def _both_ways(
    servers: FakeMailServers, message: bytes, target: Path
) -> tuple[int, bytes, bytes]:
    async with stored_message(servers, message) as (imap, uid):
        written = await imap.save_message(uid, target)
        whole = await imap.fetch_message(uid)
        section = (await imap.fetch([uid], ["BODY.PEEK[]"]))[uid].body()
        return written, whole, section


@pytest.mark.parametrize("message", [LARGE, SMALL], ids=["large", "small"])
def test_saved_and_fetched_octets_are_exact_and_fetched_ones_immutable(
    imap_server: FakeMailServers, tmp_path: Path, message: bytes
) -> None:
    target = tmp_path / "message.eml"
    written, whole, section = asyncio.run(_both_ways(imap_server, message, target))
    assert written == len(message) and target.read_bytes() == message
    assert whole == section == message
    assert type(whole) is bytes and type(section) is bytes  # hashable, never a shared buffer


def test_saving_a_missing_uid_fails_and_writes_nothing(
    imap_server: FakeMailServers, tmp_path: Path
) -> None:
    async def save_missing() -> None:
        url = ServerURL.parse(imap_server.url("imaps"))
        async with IMAPSession(url, options=ClientOptions(ca_file=imap_server.ca_file)) as imap:
            await imap.login(ALICE)
            await imap.select("INBOX", readonly=True)
            await imap.save_message(4_000_000_000, tmp_path / "missing.eml")

    with pytest.raises(CommandFailed, match="no message with UID 4000000000"):
        asyncio.run(save_missing())
    assert not (tmp_path / "missing.eml").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE (a file size limit) is POSIX")
def test_a_failing_disk_leaves_no_file_and_the_session_in_step(
    imap_server: FakeMailServers, tmp_path: Path
) -> None:
    """Writes fail part way (the process's file size limit): the error is raised once the
    FETCH is read to its end, the partial file is removed, and the next command works."""
    import resource  # noqa: PLC0415  (POSIX only)

    target = tmp_path / "large.eml"

    async def save() -> tuple[OSError, bytes]:
        async with stored_message(imap_server, LARGE) as (imap, uid):
            soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
            resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, hard))
            try:
                with pytest.raises(OSError) as failure:
                    await imap.save_message(uid, target)
            finally:
                resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            return failure.value, await imap.fetch_message(uid)

    error, again = asyncio.run(save())
    assert error.errno == errno.EFBIG
    assert not target.exists()
    assert again == LARGE


def _two_large_literals(body: bytes, extra: bytes | None) -> list[Action]:
    fetch = b"* 1 FETCH (UID 7 BODY[] {%d}\r\n" % len(body) + body
    if extra is not None:
        fetch += b" BODY[TEXT] {%d}\r\n" % len(extra) + extra
    return [
        StartTLS(),
        b"* PREAUTH [CAPABILITY IMAP4rev1] ready\r\n",
        Hear(b"EXAMINE"),
        b"* 1 EXISTS\r\n{tag} OK [READ-ONLY] examined\r\n",
        Hear(b"FETCH"),
        fetch + b")\r\n{tag} OK fetched\r\n",
        Hear(b"LOGOUT"),
        b"* BYE bye\r\n{tag} OK bye\r\n",
    ]


@pytest.mark.parametrize("extra", [None, LARGE], ids=["one-body", "another-large-literal"])
def test_a_server_sending_another_large_literal_is_caught(
    tmp_path: Path, extra: bytes | None
) -> None:
    """Octets of every large literal go to the file: a second one is a protocol violation,
    and the file is removed, not left holding both."""
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    target = tmp_path / "saved.eml"

    async def save() -> int:
        server = HostileServer(_two_large_literals(LARGE, extra), tls=context)
        async with server.running():
            url = ServerURL.parse(f"imaps://localhost:{server.port}")
            options = ClientOptions(ca_file=ca_file, read_timeout=10)
            async with IMAPSession(url, options=options) as imap:
                await imap.select("INBOX", readonly=True)
                return await imap.save_message(7, target)

    if extra is None:
        assert asyncio.run(save()) == len(LARGE) and target.read_bytes() == LARGE
        return
    with pytest.raises(ProtocolViolation, match=r"octets of large literals arrived"):
        asyncio.run(save())
    assert not target.exists()
