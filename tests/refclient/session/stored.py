"""A reference-client IMAP session with one message stored: the set-up several tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fakeservers.controller import FakeMailServers
from refclient.credentials import Credentials
from refclient.session.imap import IMAPSession
from refclient.session.options import ClientOptions
from refclient.urls import ServerURL

ALICE = Credentials(user="alice@example.test", password="alice-pass")


@asynccontextmanager
async def stored_message(
    servers: FakeMailServers, message: bytes
) -> AsyncIterator[tuple[IMAPSession, int]]:
    """A session logged in over IMAPS with ``message`` appended to INBOX, selected; its UID."""
    url = ServerURL.parse(servers.url("imaps"))
    async with IMAPSession(url, options=ClientOptions(ca_file=servers.ca_file)) as imap:
        await imap.login(ALICE)
        uid = await imap.append("INBOX", message)
        assert uid is not None
        await imap.select("INBOX", readonly=True)
        yield imap, uid
