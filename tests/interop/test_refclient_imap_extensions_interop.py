"""The reference client's IMAP extensions against the private Dovecot and the fake server.

One client script per extension Dovecot 2.3 has (IDLE, UIDPLUS, MOVE,
CONDSTORE, QRESYNC, ENABLE, LITERAL+, SPECIAL-USE, NAMESPACE, ID, ESEARCH,
UTF8=ACCEPT) runs against each server, in a mailbox of its own; each script
returns a summary with the numbers that differ between any two servers
(UIDVALIDITY, mod-sequences) replaced by what the client concluded from them,
and the two summaries must be equal. Differences between the servers that
the client must absorb are listed in docs/interop.md.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from fakeservers.controller import FakeMailServers
from refclient import errors
from refclient.credentials import Credentials
from refclient.session.imap import IMAPSession, QResync
from refclient.session.options import ClientOptions
from refclient.urls import ServerURL

from .environment import InteropServers

pytestmark = pytest.mark.interop

Script = Callable[[IMAPSession, IMAPSession, str], Awaitable[dict[str, Any]]]


def _message(number: int) -> bytes:
    return b"From: bob@example.test\r\nSubject: s%d\r\n\r\nbody %d\r\n" % (number, number)


async def _run(url: str, ca_file: Path, credentials: Credentials, script: Script) -> dict[str, Any]:
    """Two logged-in sessions on one account, a fresh mailbox, the script; the summary."""
    options = ClientOptions(ca_file=ca_file, read_timeout=20)
    mailbox = f"mx-{secrets.token_hex(4)}"
    async with (
        IMAPSession(ServerURL.parse(url), options=options) as first,
        IMAPSession(ServerURL.parse(url), options=options) as second,
    ):
        await first.login(credentials)
        await second.login(credentials)
        await first.create(mailbox)
        try:
            summary = await script(first, second, mailbox)
        finally:
            await first.select("INBOX")
            await second.select("INBOX")
            await first.delete(mailbox)
        errors = sorted(
            {f.id for f in first.findings + second.findings if f.severity.value == "error"}
        )
        summary["error_findings"] = errors
        return summary


def _both(
    interop_servers: InteropServers, mail_servers: FakeMailServers, script: Script
) -> dict[str, Any]:
    dovecot = interop_servers.accounts[0]
    fake = mail_servers.accounts[0]

    async def run() -> tuple[dict[str, Any], dict[str, Any]]:
        return (
            await _run(
                interop_servers.url("imaps"),
                interop_servers.ca_file,
                Credentials(user=dovecot.user, password=dovecot.password),
                script,
            ),
            await _run(
                mail_servers.url("imaps"),
                mail_servers.ca_file,
                Credentials(user=fake.user, password=fake.password),
                script,
            ),
        )

    against_dovecot, against_fake = asyncio.run(run())
    assert against_dovecot == against_fake
    assert against_dovecot["error_findings"] == []
    return against_dovecot


async def _fill(imap: IMAPSession, mailbox: str, count: int) -> list[int]:
    uids = [await imap.append(mailbox, _message(n)) for n in range(1, count + 1)]
    assert all(uid is not None for uid in uids)
    return [uid for uid in uids if uid is not None]


async def _move_and_uidplus(first: IMAPSession, second: IMAPSession, box: str) -> dict[str, Any]:
    uids = await _fill(first, box, 3)
    target = box + "-to"
    await first.create(target)
    try:
        state = await first.select(box)
        copied = await first.move(uids[:2], target)
        exists_after = state.exists
        await first.store([uids[2]], ["\\Deleted"])
        await first.uid_expunge([uids[2]])
        left = await first.search("ALL")
        moved = await first.select(target)
        return {
            "appenduid": len(uids),
            "copyuid": None if copied is None else len(copied.mapping),
            "validity": copied is not None and copied.uidvalidity == moved.uidvalidity,
            "exists_after_move": exists_after,
            "left": left,
            "moved": moved.exists,
        }
    finally:
        await first.select("INBOX")
        await first.delete(target)


async def _condstore(first: IMAPSession, second: IMAPSession, box: str) -> dict[str, Any]:
    enabled = await first.enable("CONDSTORE")
    uids = await _fill(first, box, 2)
    state = await first.select(box, condstore=True)
    before = state.highest_modseq or 0
    kept = await first.store([uids[0]], ["\\Seen"], unchangedsince=before)
    grew = (state.highest_modseq or 0) > before
    changed = await first.fetch("1:*", ["FLAGS"], changedsince=before)
    highest = changed[uids[0]].modseq == state.highest_modseq
    refused = await first.store(uids, ["\\Flagged"], unchangedsince=before)
    return {
        "enabled": sorted(enabled),
        "kept": kept,
        "grew": grew,
        "changed": [uids.index(uid) for uid in sorted(changed)],
        "modseq_is_highest": highest,
        "refused": [uid in refused for uid in uids],
    }


async def _qresync(first: IMAPSession, second: IMAPSession, box: str) -> dict[str, Any]:
    enabled = await first.enable("QRESYNC")
    uids = await _fill(first, box, 3)
    state = await first.select(box)
    assert state.uidvalidity is not None and state.highest_modseq is not None
    remembered = QResync(state.uidvalidity, state.highest_modseq, tuple(uids))
    await second.select(box)
    await second.store([uids[0]], ["\\Deleted"])
    await second.expunge()
    await second.store([uids[1]], ["\\Seen"])
    noop = await first.noop()
    seen_vanished = list(state.vanished)
    await first.select("INBOX")
    again = await first.select(box, qresync=remembered)
    return {
        "enabled": sorted(enabled),
        "noop": sorted({u.name for u in noop}),
        "vanished": [uids.index(uid) for uid in seen_vanished],
        "earlier": [uids.index(uid) for uid in again.vanished_earlier],
        "changed": [uids.index(uid) for uid in sorted(again.changed)],
        "exists": again.exists,
    }


async def _idle(first: IMAPSession, second: IMAPSession, box: str) -> dict[str, Any]:
    await first.select(box)
    await second.select(box)
    await _fill(second, box, 1)
    # Dovecot reports new mail through IDLE at once (inotify) or at its next check:
    # wait in rounds (re-IDLE each time) until EXISTS arrives, bounded by the IDLE timeout.
    first.reidle_after = 1.0
    names: list[str] = []
    for _ in range(30):
        names += [u.name for u in await first.idle(1.0)]
        if "EXISTS" in names:
            break
    assert first.mailbox is not None
    return {"exists_update": "EXISTS" in names, "exists": first.mailbox.exists}


async def _esearch_and_searchres(
    first: IMAPSession, second: IMAPSession, box: str
) -> dict[str, Any]:
    uids = await _fill(first, box, 3)
    await first.select(box)
    found = await first.esearch("ALL", returns=("MIN", "MAX", "COUNT", "ALL"))
    none = await first.esearch("SUBJECT", "no-such-subject", returns=("COUNT", "ALL"))
    await first.esearch("SUBJECT", "s2", returns=("SAVE",))
    saved = await first.fetch("$", ["FLAGS"])
    return {
        "found": [found.min == uids[0], found.max == uids[-1], found.count, len(found.all or ())],
        "none": [none.count, none.all],
        "saved": [uids.index(uid) for uid in sorted(saved)],
    }


async def _list_and_special_use(
    first: IMAPSession, second: IMAPSession, box: str
) -> dict[str, Any]:
    await _fill(first, box, 2)
    await first.subscribe(box)
    listed = await first.list_extended([box], returns=("SUBSCRIBED",), status=("MESSAGES",))
    special = await first.list_extended([box], returns=("SPECIAL-USE",))
    subscribed = await first.list_extended([box], selection=("SUBSCRIBED",))
    await first.subscribe(box, subscribed=False)
    return {
        "status": [box_.status for box_ in listed],
        "subscribed": [box_.name == box for box_ in subscribed],
        "special_use": [box_.special_use for box_ in special],
    }


async def _literal_plus_namespace_id(
    first: IMAPSession, second: IMAPSession, box: str
) -> dict[str, Any]:
    uid = await first.append(box, _message(1) * 50)
    await first.select(box)
    assert uid is not None
    fetched = await first.fetch_message(uid)
    namespace = await first.raw("NAMESPACE")
    ident = await first.raw('ID ("name" "mailcompat")')
    sent = first.transcript.render()
    return {
        "literal_plus": "+}" in sent,
        "round_trip": fetched == _message(1) * 50,
        "namespace": [namespace.status, [u.name for u in namespace.untagged]],
        "id": [ident.status, [u.name for u in ident.untagged]],
    }


async def _utf8_accept(first: IMAPSession, second: IMAPSession, box: str) -> dict[str, Any]:
    if "UTF8=ACCEPT" not in first.capabilities:
        return {"offered": False}
    enabled = await first.enable("UTF8=ACCEPT")
    name = box + "-Grüße"
    await first.create(name)
    try:
        names = [b.name for b in await first.list_mailboxes("", box + "*")]
        message = "Subject: Grüße\r\nFrom: jörg@example.test\r\n\r\nÄ\r\n".encode()
        uid = await first.append(name, message, utf8=True)
        await first.select(name)
        assert uid is not None
        same = await first.fetch_message(uid) == message
        return {"offered": True, "enabled": sorted(enabled), "listed": name in names, "same": same}
    finally:
        await first.select("INBOX")
        await first.delete(name)


async def _refusals(first: IMAPSession, second: IMAPSession, box: str) -> dict[str, Any]:
    uids = await _fill(first, box, 1)
    await first.select(box)
    outcomes: dict[str, Any] = {}

    async def attempt(name: str, action: Awaitable[object]) -> None:
        try:
            await action
            outcomes[name] = "ok"
        except errors.ClientError as exc:
            outcomes[name] = type(exc).__name__

    await attempt("move-to-missing", first.move(uids, box + "-missing"))
    await attempt("qresync-without-enable", first.select(box, qresync=QResync(1, 1)))
    await first.select(box)
    await attempt("gmail-item-not-offered", first.fetch(uids, ["X-GM-MSGID"]))
    outcomes["still-there"] = await first.search("ALL") == uids
    return outcomes


EXPECTED: list[tuple[Script, dict[str, Any]]] = [
    (
        _move_and_uidplus,
        {
            "appenduid": 3,
            "copyuid": 2,
            "validity": True,
            "exists_after_move": 1,
            "left": [],
            "moved": 2,
        },
    ),
    (
        _condstore,
        {
            "enabled": ["CONDSTORE"],
            "kept": [],
            "grew": True,
            "changed": [0],
            "modseq_is_highest": True,
            "refused": [True, False],
        },
    ),
    (
        _qresync,
        {
            "enabled": ["CONDSTORE", "QRESYNC"],
            "noop": ["FETCH", "RECENT", "VANISHED"],
            "vanished": [0],
            "earlier": [0],
            "changed": [1],
            "exists": 2,
        },
    ),
    (_idle, {"exists_update": True, "exists": 1}),
    (
        _esearch_and_searchres,
        {"found": [True, True, 3, 3], "none": [0, None], "saved": [1]},
    ),
    (
        _list_and_special_use,
        {"status": [{"MESSAGES": 2}], "subscribed": [True], "special_use": [None]},
    ),
    (
        _refusals,
        {
            "move-to-missing": "CommandFailed",
            "qresync-without-enable": "CommandFailed",
            "gmail-item-not-offered": "CommandFailed",
            "still-there": True,
        },
    ),
    (
        _literal_plus_namespace_id,
        {
            "literal_plus": True,
            "round_trip": True,
            "namespace": ["OK", ["NAMESPACE"]],
            "id": ["OK", ["ID"]],
        },
    ),
]


@pytest.mark.parametrize(
    ("script", "expected"),
    EXPECTED,
    ids=[script.__name__.strip("_") for script, _ in EXPECTED],
)
def test_the_reference_client_behaves_the_same_against_both(
    interop_servers: InteropServers,
    mail_servers: FakeMailServers,
    script: Script,
    expected: dict[str, Any],
) -> None:
    assert _both(interop_servers, mail_servers, script) == {**expected, "error_findings": []}


def test_utf8_accept_where_offered(
    interop_servers: InteropServers, mail_servers: FakeMailServers
) -> None:
    # Dovecot 2.3 offers UTF8=ACCEPT from 2.3.? only; where it does, both must agree.
    dovecot = interop_servers.accounts[0]

    async def offered() -> bool:
        options = ClientOptions(ca_file=interop_servers.ca_file, read_timeout=20)
        async with IMAPSession(ServerURL.parse(interop_servers.url("imaps")), options=options) as s:
            await s.login(Credentials(user=dovecot.user, password=dovecot.password))
            return "UTF8=ACCEPT" in s.capabilities

    if not asyncio.run(offered()):
        pytest.skip("this Dovecot does not offer UTF8=ACCEPT")
    summary = _both(interop_servers, mail_servers, _utf8_accept)
    assert summary == {
        "offered": True,
        "enabled": ["UTF8=ACCEPT"],
        "listed": True,
        "same": True,
        "error_findings": [],
    }
