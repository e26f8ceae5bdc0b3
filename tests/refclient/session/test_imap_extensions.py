"""IMAPSession's extension support against the fake IMAP server, each case paired with a failure."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, Iterator

import pytest

from fakeservers.config import ServerConfig
from fakeservers.controller import ENDPOINTS, FakeMailServers
from fakeservers.pki import TestPKI
from fakeservers.profiles.catalogue import server_config
from fakeservers.rules import RuleSet, rule_from_data
from refclient import errors
from refclient.credentials import Credentials
from refclient.session.imap import IMAPSession, QResync
from refclient.session.options import ClientOptions
from refclient.urls import ServerURL

ALICE = Credentials(user="alice@example.test", password="alice-pass")
PLAIN = b"From: bob@example.test\r\nSubject: plain\r\nMessage-ID: <a@example.test>\r\n\r\nhello\r\n"
REPLY = b"Subject: Re: plain\r\nIn-Reply-To: <a@example.test>\r\n\r\nhi back\r\n"
PAYLOAD = b"\x00\x01binary\xff"
ATTACHMENT = (
    b"Subject: attachment\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\n\r\ntext\r\n"
    b"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + base64.b64encode(PAYLOAD)
    + b"\r\n--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-unknown\r\n\r\n?\r\n"
    b"--b--\r\n"
)

Body = Callable[[IMAPSession], Awaitable[None]]


def _session(servers: FakeMailServers, **kwargs: float) -> IMAPSession:
    url = ServerURL.parse(servers.url("imaps"))
    options = ClientOptions(ca_file=servers.ca_file, read_timeout=10)
    return IMAPSession(url, options=options, **kwargs)


def run(servers: FakeMailServers, body: Body, **kwargs: float) -> IMAPSession:
    """Log in, run ``body``, log out; the session, for its transcript and findings."""

    async def scenario() -> IMAPSession:
        async with _session(servers, **kwargs) as imap:
            await imap.login(ALICE)
            await body(imap)
        return imap

    return asyncio.run(scenario())


def _sent(session: IMAPSession, command: str) -> int:
    """How many client lines of the transcript carry ``command``."""
    lines = session.transcript.render().splitlines()
    return sum(1 for line in lines if " C: " in line and f" {command}" in line)


@pytest.fixture
def seeded(imap_server: FakeMailServers) -> FakeMailServers:
    """INBOX holds PLAIN, REPLY and ATTACHMENT (UIDs 1, 2, 3)."""
    for data in (PLAIN, REPLY, ATTACHMENT):
        imap_server.store.deliver(ALICE.user, data)
    return imap_server


def _servers(pki: TestPKI, config: ServerConfig) -> FakeMailServers:
    ports: dict[str, int | None] = {
        spec.name: (0 if spec.protocol == "imap" else None) for spec in ENDPOINTS
    }
    return FakeMailServers(ports=ports, pki=pki, config=config)


@pytest.fixture
def gmail(mail_pki: TestPKI) -> Iterator[FakeMailServers]:
    """The gmail profile (X-GM-EXT-1, APPENDLIMIT=35651584), INBOX holding PLAIN and REPLY."""
    with _servers(mail_pki, server_config("gmail")) as servers:
        for data in (PLAIN, REPLY):
            servers.store.deliver(ALICE.user, data)
        yield servers


# -- ENABLE, MOVE, UID EXPUNGE -----------------------------------------------------------


def test_enable_reports_what_was_newly_enabled(imap_server: FakeMailServers) -> None:
    async def body(imap: IMAPSession) -> None:
        assert await imap.enable("CONDSTORE", "X-UNKNOWN") == {"CONDSTORE"}
        assert await imap.enable("CONDSTORE") == frozenset()
        assert await imap.enable("QRESYNC") == {"QRESYNC"}
        assert imap.enabled == {"CONDSTORE", "QRESYNC"}

    run(imap_server, body)


def test_enable_in_the_selected_state_fails(imap_server: FakeMailServers) -> None:
    async def body(imap: IMAPSession) -> None:
        await imap.select("INBOX")
        with pytest.raises(errors.CommandFailed):
            await imap.enable("CONDSTORE")
        assert imap.enabled == frozenset()

    run(imap_server, body)


def test_move_returns_the_copyuid_mapping(seeded: FakeMailServers) -> None:
    async def body(imap: IMAPSession) -> None:
        await imap.select("INBOX")
        copied = await imap.move([1, 3], "Archive")
        assert copied is not None and copied.mapping == {1: 1, 3: 2}
        assert imap.mailbox is not None and imap.mailbox.exists == 1
        archive = await imap.select("Archive")
        assert copied.uidvalidity == archive.uidvalidity
        assert await imap.search("ALL") == [1, 2]

    run(seeded, body)


def test_move_to_a_missing_mailbox_fails_and_moves_nothing(seeded: FakeMailServers) -> None:
    async def body(imap: IMAPSession) -> None:
        await imap.select("INBOX")
        with pytest.raises(errors.CommandFailed, match=r"TRYCREATE|exist"):
            await imap.move([1], "Nowhere")
        assert imap.mailbox is not None and imap.mailbox.exists == 3

    run(seeded, body)


def test_uid_expunge_removes_only_the_named_uids(seeded: FakeMailServers) -> None:
    async def body(imap: IMAPSession) -> None:
        await imap.select("INBOX")
        await imap.store([1, 2], ["\\Deleted"])
        await imap.uid_expunge([2])
        assert await imap.search("ALL") == [1, 3]

    run(seeded, body)


# -- CONDSTORE and QRESYNC -----------------------------------------------------------------


def test_condstore_modseq_changedsince_and_unchangedsince(seeded: FakeMailServers) -> None:
    async def body(imap: IMAPSession) -> None:
        state = await imap.select("INBOX", condstore=True)
        assert state.highest_modseq is not None
        before = state.highest_modseq
        assert await imap.store([2], ["\\Seen"], unchangedsince=before) == []
        assert state.highest_modseq is not None and state.highest_modseq > before
        changed = await imap.fetch("1:*", ["FLAGS"], changedsince=before)
        assert list(changed) == [2] and changed[2].modseq == state.highest_modseq
        # A message changed since ``before`` is left alone and reported as MODIFIED.
        assert await imap.store([1, 2], ["\\Flagged"], unchangedsince=before) == [2]
        flags = await imap.fetch([1, 2], ["FLAGS"])
        assert "\\Flagged" in (flags[1].flags or ())
        assert "\\Flagged" not in (flags[2].flags or ())

    run(seeded, body)


def test_qresync_select_reports_vanished_and_changed(seeded: FakeMailServers) -> None:
    async def body(imap: IMAPSession) -> None:
        await imap.enable("QRESYNC")
        first = await imap.select("INBOX")
        assert first.uidvalidity is not None and first.highest_modseq is not None
        remembered = QResync(first.uidvalidity, first.highest_modseq, (1, 2, 3))
        await imap.store([3], ["\\Seen"])
        await imap.store([1], ["\\Deleted"])
        await imap.expunge()
        assert imap.mailbox is not None and imap.mailbox.vanished == [1]
        await imap.select("Archive")
        again = await imap.select("INBOX", qresync=remembered)
        assert again.vanished_earlier == [1]
        assert list(again.changed) == [3] and "\\Seen" in (again.changed[3].flags or ())
        fetched = await imap.fetch("1:*", ["FLAGS"], changedsince=remembered.modseq, vanished=True)
        assert list(fetched) == [3] and again.vanished_earlier == [1, 1]

    run(seeded, body)


def test_qresync_select_needs_enable(seeded: FakeMailServers) -> None:
    async def body(imap: IMAPSession) -> None:
        with pytest.raises(errors.CommandFailed, match="ENABLE QRESYNC"):
            await imap.select("INBOX", qresync=QResync(1, 1))
        await imap.select("INBOX")
        with pytest.raises(errors.CommandFailed, match="ENABLE QRESYNC"):
            await imap.fetch("1:*", ["FLAGS"], changedsince=1, vanished=True)

    run(seeded, body)


def test_idle_and_noop_see_another_sessions_expunge_as_vanished(seeded: FakeMailServers) -> None:
    async def scenario() -> tuple[list[str], list[int], list[str]]:
        async with _session(seeded) as watcher, _session(seeded) as other:
            await watcher.login(ALICE)
            await other.login(ALICE)
            await watcher.enable("QRESYNC")
            await watcher.select("INBOX")
            await other.select("INBOX")
            await other.store([2], ["\\Deleted", "\\Seen"])
            await other.expunge()
            updates = await watcher.idle(0.5)
            assert watcher.mailbox is not None
            await other.store([3], ["\\Flagged"])
            noop = await watcher.noop()
            return (
                [u.name for u in updates],
                list(watcher.mailbox.vanished),
                [u.name for u in noop],
            )

    idle, vanished, noop = asyncio.run(scenario())
    assert "VANISHED" in idle and "EXPUNGE" not in idle
    assert vanished == [2]
    assert noop == ["FETCH"]


def test_without_qresync_another_sessions_expunge_is_expunge(seeded: FakeMailServers) -> None:
    async def scenario() -> tuple[list[str], int]:
        async with _session(seeded) as watcher, _session(seeded) as other:
            await watcher.login(ALICE)
            await other.login(ALICE)
            await watcher.select("INBOX")
            await other.select("INBOX")
            await other.store([2], ["\\Deleted"])
            await other.expunge()
            updates = await watcher.noop()
            assert watcher.mailbox is not None and watcher.mailbox.vanished == []
            return [u.name for u in updates], watcher.mailbox.exists

    names, exists = asyncio.run(scenario())
    assert "EXPUNGE" in names and "VANISHED" not in names and exists == 2


# -- ESEARCH and SEARCHRES -------------------------------------------------------------------


def test_esearch_return_items_and_saved_result(seeded: FakeMailServers) -> None:
    async def body(imap: IMAPSession) -> None:
        await imap.select("INBOX")
        found = await imap.esearch("ALL", returns=("MIN", "MAX", "COUNT", "ALL"))
        assert (found.min, found.max, found.count, found.all) == (1, 3, 3, (1, 2, 3))
        assert found.uid
        saved = await imap.esearch("SUBJECT", "plain", returns=("SAVE",))
        assert saved.all is None
        fetched = await imap.fetch("$", ["FLAGS"])
        assert sorted(fetched) == [1, 2]

    run(seeded, body)


def test_esearch_without_matches_has_count_zero_and_no_all(seeded: FakeMailServers) -> None:
    async def body(imap: IMAPSession) -> None:
        await imap.select("INBOX")
        found = await imap.esearch("SUBJECT", "nothing-like-this", returns=("COUNT", "ALL"))
        assert found.count == 0 and found.all is None and found.min is None

    run(seeded, body)


# -- LIST-EXTENDED, LIST-STATUS, SPECIAL-USE ----------------------------------------------------


def test_list_extended_with_status_and_special_use(seeded: FakeMailServers) -> None:
    async def body(imap: IMAPSession) -> None:
        boxes = {
            box.name: box
            for box in await imap.list_extended(
                returns=("SUBSCRIBED", "SPECIAL-USE"), status=("MESSAGES", "UIDNEXT")
            )
        }
        assert boxes["INBOX"].status == {"MESSAGES": 3, "UIDNEXT": 4}
        assert boxes["Sent"].special_use == "\\Sent"
        special = await imap.list_extended(selection=("SPECIAL-USE",))
        assert "INBOX" not in {box.name for box in special}
        assert {box.special_use for box in special} >= {"\\Sent", "\\Trash"}

    run(seeded, body)


def test_list_extended_pattern_matching_nothing_is_empty(seeded: FakeMailServers) -> None:
    async def body(imap: IMAPSession) -> None:
        assert await imap.list_extended(["no-such-*"], status=("MESSAGES",)) == []

    run(seeded, body)


def test_create_special_use_and_its_refusal(imap_server: FakeMailServers) -> None:
    async def body(imap: IMAPSession) -> None:
        mailbox_id = await imap.create("Old mail", special_use="\\Archive")
        assert mailbox_id is not None
        boxes = {box.name: box for box in await imap.list_mailboxes()}
        assert boxes["Old mail"].special_use == "\\Archive"
        assert await imap.mailbox_id("Old mail") == mailbox_id
        with pytest.raises(errors.CommandFailed, match=r"USEATTR|special use"):
            await imap.create("Bogus", special_use="\\Bogus")

    run(imap_server, body)


# -- UTF8=ACCEPT, APPENDLIMIT, BINARY ---------------------------------------------------------


def test_utf8_accept_names_and_append(imap_server: FakeMailServers) -> None:
    message = "Subject: Grüße\r\nFrom: jörg@exämple.test\r\n\r\nä\r\n".encode()

    async def body(imap: IMAPSession) -> None:
        assert await imap.enable("UTF8=ACCEPT") == {"UTF8=ACCEPT"}
        await imap.create("Übersicht & Co")
        assert "Übersicht & Co" in {box.name for box in await imap.list_mailboxes()}
        uid = await imap.append("Übersicht & Co", message, utf8=True)
        await imap.select("Übersicht & Co")
        assert uid is not None and await imap.fetch_message(uid) == message

    session = run(imap_server, body)
    assert "UTF8 (~{" in session.transcript.render()


def test_append_utf8_without_enable_is_refused_locally(imap_server: FakeMailServers) -> None:
    async def body(imap: IMAPSession) -> None:
        with pytest.raises(errors.CommandFailed, match="ENABLE UTF8=ACCEPT"):
            await imap.append("INBOX", b"Subject: x\r\n\r\n", utf8=True)

    session = run(imap_server, body)
    assert _sent(session, "APPEND") == 0


def test_appendlimit_is_read_and_enforced_before_sending(gmail: FakeMailServers) -> None:
    async def body(imap: IMAPSession) -> None:
        assert imap.append_limit == 35651584
        assert await imap.append("INBOX", PLAIN) is not None
        with pytest.raises(errors.CommandFailed, match="APPENDLIMIT"):
            await imap.append("INBOX", b"x" * 35651585)

    session = run(gmail, body)
    assert _sent(session, "APPEND") == 1


def test_binary_fetch_undoes_the_transfer_encoding(seeded: FakeMailServers) -> None:
    async def body(imap: IMAPSession) -> None:
        await imap.select("INBOX")
        assert await imap.fetch_binary(3, "2") == PAYLOAD
        sized = await imap.fetch([3], ["BINARY.SIZE[2]"])
        assert sized[3].binary_sizes == {"2": len(PAYLOAD)}
        uid = await imap.append("INBOX", b"Subject: nul\r\n\r\n\x00\r\n", binary=True)
        assert uid == 4
        with pytest.raises(errors.CommandFailed, match=r"UNKNOWN-CTE"):
            await imap.fetch_binary(3, "3")

    run(seeded, body)


# -- COMPRESS, QUOTA, OBJECTID ------------------------------------------------------------------


def test_compress_deflate_keeps_the_session_working(seeded: FakeMailServers) -> None:
    async def body(imap: IMAPSession) -> None:
        await imap.compress()
        assert imap.compressed
        await imap.select("INBOX")
        assert await imap.fetch_message(1) == PLAIN
        with pytest.raises(errors.CommandFailed, match="already active"):
            await imap.compress()

    session = run(seeded, body)
    # The transcript shows the inflated octets, readable.
    assert "Subject: plain" in session.transcript.render()


def test_quota_roots_limits_and_overquota(seeded: FakeMailServers) -> None:
    async def body(imap: IMAPSession) -> None:
        roots = await imap.quota_root("INBOX")
        assert list(roots) == [""] and roots[""]["MESSAGE"].usage == 3
        assert roots[""]["STORAGE"].limit == 1048576
        assert (await imap.set_quota("", {"MESSAGE": 3}))["MESSAGE"].limit == 3
        assert (await imap.quota(""))["MESSAGE"].limit == 3
        with pytest.raises(errors.CommandFailed, match=r"OVERQUOTA|Quota"):
            await imap.append("INBOX", PLAIN)

    run(seeded, body)


def test_objectid_mailbox_and_message_ids(seeded: FakeMailServers) -> None:
    async def body(imap: IMAPSession) -> None:
        state = await imap.select("INBOX")
        assert state.mailbox_id is not None
        assert await imap.mailbox_id("INBOX") == state.mailbox_id
        items = await imap.fetch([1, 2], ["EMAILID", "THREADID"])
        assert items[1].email_id and items[1].thread_id == items[2].thread_id
        copied = await imap.move([1], "Archive")
        assert copied is not None
        await imap.select("Archive")
        moved = await imap.fetch([copied.mapping[1]], ["EMAILID"])
        assert moved[copied.mapping[1]].email_id == items[1].email_id
        with pytest.raises(errors.CommandFailed):
            await imap.mailbox_id("Nowhere")

    run(seeded, body)


# -- IMAP4rev2, IDLE -----------------------------------------------------------------------------


def test_imap4rev2_search_answers_esearch(seeded: FakeMailServers) -> None:
    async def body(imap: IMAPSession) -> None:
        assert await imap.enable("IMAP4rev2") == {"IMAP4REV2"}
        state = await imap.select("INBOX")
        assert await imap.search("ALL") == [1, 2, 3]
        assert state.recent == 0

    session = run(seeded, body)
    transcript = session.transcript.render()
    assert "* ESEARCH" in transcript and " RECENT" not in transcript


def test_enabling_what_was_not_advertised_is_a_finding(mail_pki: TestPKI) -> None:
    async def body(imap: IMAPSession) -> None:
        assert "IMAP4REV2" not in imap.capabilities
        await imap.enable("IMAP4rev2")
        await imap.select("INBOX")
        assert await imap.search("ALL") == [1, 2]

    # The fake server enables only what it advertises; a rule plays one that does not.
    claims = rule_from_data(
        {
            "name": "enabled-not-advertised",
            "event": "response",
            "protocol": "imap",
            "verb": "ENABLE",
            "replace": {"pattern": r"\* ENABLED[^\r]*", "with": "* ENABLED IMAP4rev2"},
        },
        1,
    )
    config = server_config("gmail", rules=RuleSet([claims]))
    with _servers(mail_pki, config) as gmail:
        for data in (PLAIN, REPLY):
            gmail.store.deliver(ALICE.user, data)
        session = run(gmail, body)
    # RFC 5161 section 3.1: a server enables only extensions it supports (and advertises).
    assert "imap.enabled-not-advertised" in {finding.id for finding in session.findings}


def test_idle_is_renewed_before_the_interval_ends(seeded: FakeMailServers) -> None:
    async def body(imap: IMAPSession) -> None:
        await imap.select("INBOX")
        await imap.idle(0.5)
        assert imap.idle_rounds >= 2

    session = run(seeded, body, reidle_after=0.2)
    rendered = session.transcript.render()
    assert rendered.count(" IDLE\n") == session.idle_rounds
    assert rendered.count("DONE") == session.idle_rounds


def test_idle_interval_must_be_positive(seeded: FakeMailServers) -> None:
    with pytest.raises(ValueError, match="positive"):
        _session(seeded, reidle_after=0)


# -- Gmail X-GM-EXT-1 -----------------------------------------------------------------------------


def test_gmail_items_and_raw_search(gmail: FakeMailServers) -> None:
    async def body(imap: IMAPSession) -> None:
        await imap.select("INBOX")
        items = await imap.fetch([1, 2], ["X-GM-MSGID", "X-GM-THRID", "X-GM-LABELS"])
        assert items[1].gm_msgid and items[1].gm_msgid != items[2].gm_msgid
        assert items[1].gm_thrid == items[2].gm_thrid
        assert items[1].gm_labels is not None
        assert await imap.search("X-GM-RAW", "subject:plain") == [1, 2]
        assert await imap.search("X-GM-RAW", "from:bob@example.test") == [1]
        assert await imap.search("X-GM-MSGID", str(items[2].gm_msgid)) == [2]

    run(gmail, body)


def test_gmail_items_fail_where_not_offered(seeded: FakeMailServers) -> None:
    async def body(imap: IMAPSession) -> None:
        await imap.select("INBOX")
        with pytest.raises(errors.CommandFailed):
            await imap.fetch([1], ["X-GM-MSGID"])

    run(seeded, body)


# -- servers that omit ENABLED ---------------------------------------------------------------


@pytest.fixture
def icloud(mail_pki: TestPKI) -> Iterator[FakeMailServers]:
    """The icloud profile: ENABLE answered by the tagged OK alone."""
    with _servers(mail_pki, server_config("icloud")) as servers:
        yield servers


def test_enable_without_enabled_is_a_finding_and_assumed(icloud: FakeMailServers) -> None:
    async def body(imap: IMAPSession) -> None:
        assert await imap.enable("QRESYNC", "X-NOT-OFFERED") == {"QRESYNC", "CONDSTORE"}
        await imap.select("INBOX")
        state = await imap.select("INBOX", qresync=QResync(1, 1))
        assert state.exists == 0

    session = run(icloud, body)
    assert "imap.enable-without-enabled" in {finding.id for finding in session.findings}


def test_enable_with_enabled_is_no_finding(imap_server: FakeMailServers) -> None:
    async def body(imap: IMAPSession) -> None:
        assert await imap.enable("QRESYNC", "X-NOT-OFFERED") == {"QRESYNC", "CONDSTORE"}

    session = run(imap_server, body)
    assert "imap.enable-without-enabled" not in {finding.id for finding in session.findings}
