"""A large message fetched two ways: ``save_message`` writes it from the buffer it was
read into; ``fetch`` and ``fetch_message`` hand out immutable ``bytes`` of the same octets.

The message is larger than the literal size the client reads in place
(``LARGE_LITERAL``), so both paths go through the in-place read; a small
message goes through the ordinary one. A UID the mailbox does not hold is an
error naming the command, and no file is written.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fakeservers.controller import FakeMailServers
from refclient.credentials import Credentials
from refclient.errors import CommandFailed
from refclient.protocol.imap.framing import LARGE_LITERAL
from refclient.session.imap import IMAPSession
from refclient.session.options import ClientOptions
from refclient.urls import ServerURL

ALICE = Credentials(user="alice@example.test", password="alice-pass")
LARGE = b"Subject: large\r\n\r\n" + b"0123456789abcdef\x80\xff\r\n" * (LARGE_LITERAL // 18 + 7)
SMALL = b"Subject: small\r\n\r\nhello\r\n"


async def _both_ways(
    servers: FakeMailServers, message: bytes, target: Path
) -> tuple[int, bytes, bytes]:
    url = ServerURL.parse(servers.url("imaps"))
    async with IMAPSession(url, options=ClientOptions(ca_file=servers.ca_file)) as imap:
        await imap.login(ALICE)
        uid = await imap.append("INBOX", message)
        assert uid is not None
        await imap.select("INBOX", readonly=True)
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
