"""SMTPSession and POP3Session end to end against the fake servers, TLS and STARTTLS."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fakeservers.config import Limits, ServerConfig
from fakeservers.controller import FakeMailServers
from fakeservers.pki import TestPKI
from fakeservers.smtp import strip_trace_headers
from refclient import errors
from refclient.credentials import Credentials
from refclient.message import as_bytes, compose
from refclient.session.options import ClientOptions
from refclient.session.pop3 import POP3Session
from refclient.session.smtp import SMTPSession
from refclient.urls import ServerURL

ALICE = Credentials(user="alice@example.test", password="alice-pass")
BOB = Credentials(user="bob@example.test", password="bob-pass")
MESSAGE = b"Subject: hi\r\n\r\n.starts with a dot\r\n8-bit \xc3\xa4\r\n"


def options(servers: FakeMailServers) -> ClientOptions:
    return ClientOptions(ca_file=servers.ca_file, read_timeout=10)


def smtp(servers: FakeMailServers, endpoint: str) -> SMTPSession:
    return SMTPSession(ServerURL.parse(servers.url(endpoint)), options=options(servers))


def pop3(servers: FakeMailServers, endpoint: str) -> POP3Session:
    return POP3Session(ServerURL.parse(servers.url(endpoint)), options=options(servers))


@pytest.mark.parametrize(("submit", "fetch"), [("submissions", "pop3s"), ("submission", "pop3")])
def test_send_then_retrieve_byte_exact(
    mail_servers: FakeMailServers, submit: str, fetch: str
) -> None:
    async def scenario() -> tuple[bytes, dict[str, str] | None]:
        async with smtp(mail_servers, submit) as session:
            await session.login(ALICE)
            result = await session.send(
                MESSAGE, sender=ALICE.user, recipients=[BOB.user, "nobody@example.test"]
            )
            assert result.accepted == [BOB.user]
            assert result.rejected["nobody@example.test"].enhanced == "5.1.1"
            before = session.extensions_before_tls
        async with pop3(mail_servers, fetch) as mailbox:
            await mailbox.login(BOB)
            count, _size = await mailbox.stat()
            assert count == 1 and set(await mailbox.uidl()) == {1}
            data = await mailbox.retr(1)
            head = await mailbox.top(1, 0)
            assert head.endswith(b"\r\n\r\n") and b"starts with a dot" not in head
            await mailbox.dele(1)
        return data, before

    data, before = asyncio.run(scenario())
    assert strip_trace_headers(data) == MESSAGE
    if submit == "submission":
        assert before is not None and "STARTTLS" in before and "AUTH" not in before
    assert mail_servers.store.mailbox(BOB.user, "INBOX").messages == []  # DELE then QUIT


@pytest.mark.parametrize(
    "mechanism", ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", None]
)
def test_every_smtp_and_pop3_password_mechanism(
    mail_servers: FakeMailServers, mechanism: str | None
) -> None:
    async def scenario() -> list[str]:
        async with smtp(mail_servers, "submissions") as session:
            await session.login(ALICE, mechanism=mechanism)
            smtp_text = session.transcript.render()
        async with pop3(mail_servers, "pop3s") as mailbox:
            await mailbox.login(ALICE, mechanism=mechanism)
            pop3_text = mailbox.transcript.render()
        return [smtp_text, pop3_text]

    for text in asyncio.run(scenario()):
        assert "alice-pass" not in text


@pytest.mark.parametrize("mechanism", ["USER", "APOP"])
def test_pop3_user_pass_and_apop(mail_servers: FakeMailServers, mechanism: str) -> None:
    async def scenario() -> str:
        async with pop3(mail_servers, "pop3s") as mailbox:
            await mailbox.login(ALICE, mechanism=mechanism)
            assert await mailbox.stat() == (0, 0)
            return mailbox.transcript.render()

    assert "alice-pass" not in asyncio.run(scenario())


def test_oauth2_token_over_smtp_and_pop3(mail_servers: FakeMailServers) -> None:
    mail_servers.store.account(ALICE.user).tokens.add("tok-42")
    token = Credentials(user=ALICE.user, oauth2_token="tok-42")

    async def scenario() -> None:
        async with smtp(mail_servers, "submissions") as session:
            await session.login(token, mechanism="XOAUTH2")
        async with pop3(mail_servers, "pop3s") as mailbox:
            await mailbox.login(token, mechanism="OAUTHBEARER")

    asyncio.run(scenario())


def test_wrong_passwords_fail_without_showing_them(mail_servers: FakeMailServers) -> None:
    wrong = Credentials(user=ALICE.user, password="not-the-password")

    async def scenario() -> list[str]:
        texts = []
        for session in (smtp(mail_servers, "submissions"), pop3(mail_servers, "pop3s")):
            await session.connect()
            with pytest.raises(errors.AuthenticationFailed) as failure:
                await session.login(wrong)
            texts += [str(failure.value), session.transcript.render()]
            await session.close()
        return texts

    for text in asyncio.run(scenario()):
        assert "not-the-password" not in text


def test_composed_message_with_attachment_round_trips(
    mail_servers: FakeMailServers, tmp_path: Path
) -> None:
    attachment = tmp_path / "report.pdf"
    attachment.write_bytes(bytes(range(256)) * 40)
    message = compose(
        sender=ALICE.user,
        to=[BOB.user],
        subject="Grüße aus Köln",
        body="Hallo Bob, ünïcödé body\n",
        attachments=[attachment],
    )
    sent = as_bytes(message)

    async def scenario() -> bytes:
        async with smtp(mail_servers, "submissions") as session:
            await session.login(ALICE)
            await session.send_message(message)
        async with pop3(mail_servers, "pop3s") as mailbox:
            await mailbox.login(BOB)
            return await mailbox.retr(1)

    assert strip_trace_headers(asyncio.run(scenario())) == sent


def test_size_limit_is_checked_before_sending(mail_pki: TestPKI) -> None:
    config = ServerConfig(limits=Limits(max_message_size=100))
    servers = FakeMailServers(pki=mail_pki, ports={"submissions": 0}, config=config)

    async def scenario() -> None:
        async with smtp(servers, "submissions") as session:
            assert session.extensions["SIZE"] == "100"
            await session.login(ALICE)
            with pytest.raises(errors.CommandFailed, match="exceeds the server's SIZE"):
                await session.send(b"x" * 200 + b"\r\n", sender=ALICE.user, recipients=[BOB.user])
            assert "MAIL" not in session.transcript.render()  # refused before sending

    with servers:
        asyncio.run(scenario())


def test_all_recipients_refused_is_a_failure(mail_servers: FakeMailServers) -> None:
    async def scenario() -> None:
        async with smtp(mail_servers, "submission") as session:
            await session.login(ALICE)
            with pytest.raises(errors.CommandFailed, match="every recipient was refused"):
                await session.send(MESSAGE, sender=ALICE.user, recipients=["x@example.test"])
            # The session goes on after RSET.
            result = await session.send(MESSAGE, sender=ALICE.user, recipients=[BOB.user])
            assert result.accepted == [BOB.user]

    asyncio.run(scenario())


def test_credentials_are_refused_in_clear_text(mail_servers: FakeMailServers) -> None:
    async def scenario() -> None:
        for session in (
            SMTPSession(
                ServerURL.parse(
                    mail_servers.url("submission").replace("smtp://", "smtp+insecure://")
                ),
                options=options(mail_servers),
            ),
            POP3Session(
                ServerURL.parse(mail_servers.url("pop3").replace("pop3://", "pop3+insecure://")),
                options=options(mail_servers),
            ),
        ):
            await session.connect()
            with pytest.raises(errors.SecurityViolation, match="clear-text"):
                await session.login(ALICE)
            await session.close()

    asyncio.run(scenario())
