"""SELECT (QRESYNC ...) with sequence match data (RFC 7162 section 3.2.5.2), client side.

The data goes out as ``(numbers uids)`` after the known UIDs, pair order
kept; the fake server then leaves out what vanished below the last pair that
still holds. Unpaired data is refused before anything is sent.
"""

from __future__ import annotations

import asyncio

import pytest

from fakeservers.controller import FakeMailServers
from refclient.credentials import Credentials
from refclient.session.imap import IMAPSession, QResync
from refclient.session.options import ClientOptions
from refclient.urls import ServerURL

ALICE = Credentials(user="alice@example.test", password="alice-pass")
NOTE = b"Subject: match\r\n\r\n.\r\n"


async def _vanished(servers: FakeMailServers, *, match: bool) -> tuple[list[int], list[str]]:
    url = ServerURL.parse(servers.url("imaps"))
    async with IMAPSession(url, options=ClientOptions(ca_file=servers.ca_file)) as imap:
        await imap.login(ALICE)
        await imap.enable("QRESYNC")
        await imap.create("Match")
        uids = [await imap.append("Match", NOTE) for _ in range(4)]
        assert all(uid is not None for uid in uids)
        first, second, third, fourth = (int(uid or 0) for uid in uids)
        state = await imap.select("Match")
        assert state.uidvalidity is not None
        await imap.store([first, third], ["\\Deleted"], mode="+")
        await imap.uid_expunge([first, third])
        known = QResync(
            state.uidvalidity,
            1,
            (first, second, third, fourth),
            # After the expunge: 1 -> second, 2 -> fourth, as the client last saw them.
            (1, 2) if match else (),
            (second, fourth) if match else (),
        )
        reopened = await imap.select("Match", qresync=known)
        sent = [line for line in imap.transcript.render().splitlines() if "QRESYNC (" in line]
        return sorted(reopened.vanished_earlier), sent


def test_matching_pairs_narrow_vanished(imap_server: FakeMailServers) -> None:
    vanished, sent = asyncio.run(_vanished(imap_server, match=True))
    assert sent and sent[-1].rstrip().endswith(")))")
    assert " (1,2 " in sent[-1]
    assert vanished == []  # both expunged UIDs lie below the last matching pair


def test_without_pairs_every_expunge_is_reported(imap_server: FakeMailServers) -> None:
    vanished, _ = asyncio.run(_vanished(imap_server, match=False))
    assert len(vanished) == 2


def test_unpaired_match_data_is_refused_locally() -> None:
    with pytest.raises(ValueError, match="pairs each message number with a UID"):
        QResync(1, 1, (), (1, 2), (5,))
