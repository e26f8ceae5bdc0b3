"""IMAPSession end to end against the fake IMAP server, over implicit TLS and STARTTLS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from fakeservers.controller import FakeMailServers
from refclient import errors
from refclient.credentials import Credentials
from refclient.session.imap import IMAPSession
from refclient.session.options import ClientOptions
from refclient.urls import ServerURL

ALICE = Credentials(user="alice@example.test", password="alice-pass")
MESSAGE = b"From: a@example.test\r\nSubject: t\r\n\r\n.dot line\r\n8bit \xc3\xa4\r\n"


def session(servers: FakeMailServers, endpoint: str) -> IMAPSession:
    url = ServerURL.parse(servers.url(endpoint))
    return IMAPSession(url, options=ClientOptions(ca_file=servers.ca_file, read_timeout=10))


@pytest.mark.parametrize("endpoint", ["imaps", "imap"])
def test_round_trip_of_mailbox_and_message_operations(
    imap_server: FakeMailServers, endpoint: str
) -> None:
    async def scenario() -> None:
        async with session(imap_server, endpoint) as imap:
            if endpoint == "imap":
                assert imap.capabilities_before_tls is not None
                assert "STARTTLS" in imap.capabilities_before_tls
                assert "LOGINDISABLED" in imap.capabilities_before_tls
                assert "STARTTLS" not in imap.capabilities
            assert imap.tls is not None and imap.tls.version.startswith("TLSv1.")
            await imap.login(ALICE)
            names = {box.name: box.special_use for box in await imap.list_mailboxes()}
            assert names["Sent"] == "\\Sent" and "INBOX" in names
            await imap.create("Projekte/Übersicht")
            assert "Projekte/Übersicht" in {b.name for b in await imap.list_mailboxes()}
            uid = await imap.append("INBOX", MESSAGE, flags=["\\Flagged"])
            state = await imap.select("INBOX")
            assert state.exists == 1 and state.uidvalidity
            assert await imap.search("ALL") == [uid]
            assert await imap.search("FLAGGED") == [uid]
            assert await imap.fetch_message(uid) == MESSAGE
            items = await imap.fetch([uid], ["FLAGS", "RFC822.SIZE", "ENVELOPE"])
            assert items[uid].size == len(MESSAGE)
            assert items[uid].envelope is not None and items[uid].envelope.subject == "t"
            await imap.copy([uid], "Archive")
            await imap.store([uid], ["\\Deleted"])
            assert await imap.expunge() == [1]
            assert imap.mailbox is not None and imap.mailbox.exists == 0
            assert await imap.status("Archive", ["MESSAGES"]) == {"MESSAGES": 1}
        assert imap.findings == [] or all(f.severity.value != "error" for f in imap.findings)

    asyncio.run(scenario())
    archive = imap_server.store.mailbox("alice@example.test", "Archive").messages
    assert [m.data for m in archive] == [MESSAGE]


@pytest.mark.parametrize(
    "mechanism", ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", None]
)
def test_every_password_mechanism_logs_in(
    imap_server: FakeMailServers, mechanism: str | None
) -> None:
    async def scenario() -> str:
        async with session(imap_server, "imaps") as imap:
            await imap.login(ALICE, mechanism=mechanism)
            assert imap.authenticated
            return imap.transcript.render()

    transcript = asyncio.run(scenario())
    assert "alice-pass" not in transcript


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
def test_oauth2_tokens_log_in(imap_server: FakeMailServers, mechanism: str) -> None:
    imap_server.store.account("alice@example.test").tokens.add("token-123")

    async def scenario() -> None:
        async with session(imap_server, "imaps") as imap:
            await imap.login(
                Credentials(user="alice@example.test", oauth2_token="token-123"),
                mechanism=mechanism,
            )
            assert imap.authenticated

    asyncio.run(scenario())


@pytest.mark.parametrize("mechanism", ["LOGIN", "SCRAM-SHA-256", "XOAUTH2"])
def test_a_wrong_secret_fails_without_showing_it(
    imap_server: FakeMailServers, mechanism: str
) -> None:
    secret = "wrong-secret-value"
    credentials = (
        Credentials(user="alice@example.test", oauth2_token=secret)
        if mechanism == "XOAUTH2"
        else Credentials(user="alice@example.test", password=secret)
    )

    async def scenario() -> IMAPSession:
        imap = session(imap_server, "imaps")
        await imap.connect()
        with pytest.raises(errors.AuthenticationFailed) as failure:
            await imap.login(credentials, mechanism=mechanism)
        assert secret not in str(failure.value)
        assert "[login]" in str(failure.value) and imap_server.url("imaps") in str(failure.value)
        await imap.close()
        return imap

    imap = asyncio.run(scenario())
    assert secret not in imap.transcript.render()


def test_login_is_refused_over_clear_text(imap_server: FakeMailServers) -> None:
    async def scenario() -> None:
        url = ServerURL.parse(imap_server.url("imap").replace("imap://", "imap+insecure://"))
        imap = IMAPSession(url, options=ClientOptions(ca_file=imap_server.ca_file))
        await imap.connect()
        assert imap.tls is None
        with pytest.raises(errors.SecurityViolation, match="clear-text"):
            await imap.login(ALICE)
        await imap.close()
        assert "alice-pass" not in imap.transcript.render()

    asyncio.run(scenario())


@pytest.fixture
def fake_imap_server() -> Callable[[bytes], AsyncIterator[tuple[int, list[bytes]]]]:
    """A one-shot clear-text server that greets with ``script`` and records what it hears."""

    async def serve(script: bytes) -> AsyncIterator[tuple[int, list[bytes]]]:
        heard: list[bytes] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(script)
            while line := await reader.readline():
                heard.append(line)
                tag = line.split(b" ", 1)[0]
                if b"CAPABILITY" in line.upper():
                    writer.write(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + tag + b" OK done\r\n")
                else:
                    writer.write(tag + b" BAD no\r\n")
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        async with server:
            yield server.sockets[0].getsockname()[1], heard

    return serve


def test_starttls_not_offered_stops_before_anything_else(
    fake_imap_server: Callable[[bytes], AsyncIterator[tuple[int, list[bytes]]]],
) -> None:
    async def scenario() -> list[bytes]:
        async for port, heard in fake_imap_server(b"* OK no tls here\r\n"):
            imap = IMAPSession(ServerURL.parse(f"imap://127.0.0.1:{port}"))
            with pytest.raises(errors.SecurityViolation, match="does not offer STARTTLS"):
                await imap.connect()
            await imap.close()
            return heard
        raise AssertionError("unreachable")

    heard = asyncio.run(scenario())
    assert [line.split(b" ", 1)[1] for line in heard] == [b"CAPABILITY\r\n"]


def test_preauth_on_a_connection_that_needs_starttls_is_closed(
    fake_imap_server: Callable[[bytes], AsyncIterator[tuple[int, list[bytes]]]],
) -> None:
    async def scenario() -> list[bytes]:
        async for port, heard in fake_imap_server(b"* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n"):
            imap = IMAPSession(ServerURL.parse(f"imap://127.0.0.1:{port}"))
            with pytest.raises(errors.SecurityViolation, match="PREAUTH"):
                await imap.connect()
            await asyncio.sleep(0.05)
            return heard
        raise AssertionError("unreachable")

    assert asyncio.run(scenario()) == []


def test_one_session_is_one_connection(imap_server: FakeMailServers) -> None:
    """Connecting an open session again is refused; once closed, it may connect anew."""

    async def twice() -> tuple[errors.ConfigurationError, str]:
        url = ServerURL.parse(imap_server.url("imaps"))
        async with IMAPSession(url, options=ClientOptions(ca_file=imap_server.ca_file)) as imap:
            with pytest.raises(errors.ConfigurationError, match="already connected") as refused:
                await imap.connect()
            await imap.close()
            await imap.connect()
            await imap.login(Credentials(user="alice@example.test", password="alice-pass"))
            return refused.value, imap.engine.state.name

    refused, state = asyncio.run(twice())
    assert imap_server.url("imaps").split("//")[1] in refused.server
    assert state == "AUTHENTICATED"
