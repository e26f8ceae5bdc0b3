"""The reference client's SMTP and POP3 extensions against the fake servers, over TLS.

Each extension's use is checked on the server's side too: what the
submission server recorded (:mod:`fakeservers.smtp.record`) and what the
store holds, so that the two independent implementations judge each other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from fakeservers.config import ServerConfig
from fakeservers.controller import ENDPOINTS, AccountSpec, FakeMailServers
from fakeservers.pki import TestPKI
from fakeservers.profiles.catalogue import load_profile
from fakeservers.smtp import strip_trace_headers
from fakeservers.smtp.record import submission_record
from refclient import errors
from refclient.credentials import Credentials
from refclient.protocol.errors import LocalProtocolError
from refclient.protocol.smtp import DeliveryStatusRequest, encode_xtext, needs_binarymime
from refclient.session.options import ClientOptions
from refclient.session.pop3 import POP3Session
from refclient.session.smtp import LARGE_MESSAGE, SMTPSession
from refclient.urls import ServerURL

ALICE = Credentials(user="alice@example.test", password="alice-pass")
BOB = "bob@example.test"
JORG = Credentials(user="jörg@example.test", password="pässwörd")
BINARY = b"Subject: bin\r\nContent-Type: application/octet-stream\r\n\r\n\x00\x01\r\x02\n\r\n"


def start(pki: TestPKI, config: ServerConfig | None = None) -> FakeMailServers:
    ports = {spec.name: (0 if spec.protocol in ("smtp", "pop3") else None) for spec in ENDPOINTS}
    accounts = (
        AccountSpec(ALICE.user, "alice-pass"),
        AccountSpec(BOB, "bob-pass"),
        AccountSpec(JORG.user, "pässwörd"),
    )
    return FakeMailServers(ports=ports, pki=pki, accounts=accounts, config=config)


@pytest.fixture
def servers(mail_pki: TestPKI) -> Iterator[FakeMailServers]:
    with start(mail_pki) as running:
        yield running


def smtp(servers: FakeMailServers, endpoint: str = "submissions") -> SMTPSession:
    options = ClientOptions(ca_file=servers.ca_file, read_timeout=10)
    return SMTPSession(ServerURL.parse(servers.url(endpoint)), options=options)


def pop3(servers: FakeMailServers, endpoint: str = "pop3s") -> POP3Session:
    options = ClientOptions(ca_file=servers.ca_file, read_timeout=10)
    return POP3Session(ServerURL.parse(servers.url(endpoint)), options=options)


def bob_inbox(servers: FakeMailServers) -> list[bytes]:
    return [strip_trace_headers(m.data) for m in servers.store.mailbox(BOB, "INBOX").messages]


# -- sans-IO pieces --------------------------------------------------------------------


def test_xtext_and_binary_detection() -> None:
    assert encode_xtext("a+b=c d") == "a+2Bb+3Dc+20d"
    assert encode_xtext("jö") == "j\\x{F6}"
    assert needs_binarymime(b"a\x00b\r\n") and needs_binarymime(b"a\nb")
    assert not needs_binarymime(b"8-bit \xc3\xa4\r\nline\r\n")


def test_invalid_dsn_requests_are_refused_locally() -> None:
    for bad in (
        {"notify": ("NEVER", "SUCCESS")},
        {"notify": ("SOMETIMES",)},
        {"ret": "ALL"},
        {"envid": "x" * 101},
    ):
        with pytest.raises(LocalProtocolError):
            DeliveryStatusRequest(**bad)  # type: ignore[arg-type]


# -- BDAT and BINARYMIME ---------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["submissions", "submission"])
def test_binary_message_goes_by_bdat(servers: FakeMailServers, endpoint: str) -> None:
    async def scenario() -> bool:
        async with smtp(servers, endpoint) as session:
            await session.login(ALICE)
            result = await session.send(BINARY, sender=ALICE.user, recipients=[BOB])
            return result.chunked and "BODY=BINARYMIME" in result.parameters

    assert asyncio.run(scenario())
    assert bob_inbox(servers) == [BINARY]
    (transaction,) = submission_record(servers.store).transactions
    assert transaction.chunked and transaction.parameters.body == "BINARYMIME"
    assert submission_record(servers.store).findings == []  # pipelined only where allowed


def test_binary_message_refused_when_bdat_is_forbidden(servers: FakeMailServers) -> None:
    async def scenario() -> None:
        async with smtp(servers) as session:
            await session.login(ALICE)
            await session.send(BINARY, sender=ALICE.user, recipients=[BOB], chunking=False)

    with pytest.raises(errors.CommandFailed, match="BINARYMIME"):
        asyncio.run(scenario())
    assert bob_inbox(servers) == []


def test_large_message_goes_in_several_chunks_and_small_by_data(
    servers: FakeMailServers,
) -> None:
    large = b"Subject: large\r\n\r\n" + b"0123456789abcdef" * (LARGE_MESSAGE // 8) + b"\r\n"
    small = b"Subject: small\r\n\r\nsmall\r\n"

    async def scenario() -> tuple[bool, bool, bool]:
        async with smtp(servers) as session:
            await session.login(ALICE)
            first = await session.send(large, sender=ALICE.user, recipients=[BOB])
            second = await session.send(small, sender=ALICE.user, recipients=[BOB])
            third = await session.send(small, sender=ALICE.user, recipients=[BOB], chunking=True)
            return first.chunked, second.chunked, third.chunked

    assert asyncio.run(scenario()) == (True, False, True)
    assert bob_inbox(servers) == [large, small, small]


# -- DSN -------------------------------------------------------------------------------


def test_dsn_parameters_reach_the_server(servers: FakeMailServers) -> None:
    request = DeliveryStatusRequest(
        ret="HDRS", envid="run+1=a", notify=("SUCCESS", "DELAY"), orcpt=True
    )

    async def scenario() -> None:
        async with smtp(servers) as session:
            await session.login(ALICE)
            await session.send(
                b"Subject: dsn\r\n\r\nx\r\n", sender=ALICE.user, recipients=[BOB], dsn=request
            )

    asyncio.run(scenario())
    (transaction,) = submission_record(servers.store).transactions
    assert (transaction.parameters.ret, transaction.parameters.envid) == ("HDRS", "run+1=a")
    (recipient,) = transaction.recipients
    assert recipient.notify == ("SUCCESS", "DELAY") and recipient.orcpt == ("rfc822", BOB)


def test_dsn_is_not_sent_to_a_server_without_it(mail_pki: TestPKI) -> None:
    with start(mail_pki, ServerConfig(profile=load_profile("gmail"))) as gmail:

        async def scenario() -> None:
            async with smtp(gmail) as session:
                await session.login(ALICE)
                await session.send(
                    b"Subject: dsn\r\n\r\nx\r\n",
                    sender=ALICE.user,
                    recipients=[BOB],
                    dsn=DeliveryStatusRequest(ret="FULL"),
                )

        with pytest.raises(errors.CommandFailed, match="DSN"):
            asyncio.run(scenario())
        assert submission_record(gmail.store).transactions == []


# -- REQUIRETLS ------------------------------------------------------------------------


def test_requiretls_over_tls_is_honoured(servers: FakeMailServers) -> None:
    async def scenario() -> None:
        async with smtp(servers, "submission") as session:  # STARTTLS, then REQUIRETLS offered
            await session.login(ALICE)
            await session.send(
                b"Subject: tls\r\n\r\nx\r\n", sender=ALICE.user, recipients=[BOB], requiretls=True
            )

    asyncio.run(scenario())
    (transaction,) = submission_record(servers.store).transactions
    assert transaction.parameters.requiretls and transaction.tls


def test_requiretls_refused_where_the_server_does_not_offer_it(mail_pki: TestPKI) -> None:
    with start(mail_pki, ServerConfig(profile=load_profile("gmail"))) as gmail:

        async def scenario() -> None:
            async with smtp(gmail) as session:
                await session.login(ALICE)
                await session.send(
                    b"Subject: tls\r\n\r\nx\r\n",
                    sender=ALICE.user,
                    recipients=[BOB],
                    requiretls=True,
                )

        with pytest.raises(errors.SecurityViolation, match="REQUIRETLS"):
            asyncio.run(scenario())


# -- SMTPUTF8 end to end ---------------------------------------------------------------


def test_utf8_address_and_headers_sent_and_read_back(servers: FakeMailServers) -> None:
    message = f"From: {ALICE.user}\r\nTo: {JORG.user}\r\nSubject: Grüße\r\n\r\nHallo\r\n".encode()

    async def scenario() -> tuple[list[str], bytes, bool]:
        async with smtp(servers) as session:
            await session.login(ALICE)
            sent = await session.send(message, sender=ALICE.user, recipients=[JORG.user])
        async with pop3(servers) as mailbox:
            await mailbox.login(JORG, mechanism="USER")  # UTF8 first, then USER/PASS
            data = await mailbox.retr(1)
            return sent.parameters, data, mailbox.utf8_enabled

    parameters, data, utf8 = asyncio.run(scenario())
    assert "SMTPUTF8" in parameters and utf8
    assert strip_trace_headers(data) == message


def test_utf8_address_refused_without_smtputf8(mail_pki: TestPKI) -> None:
    with start(mail_pki, ServerConfig(profile=load_profile("yahoo"))) as servers:

        async def scenario() -> None:
            async with smtp(servers) as session:  # Yahoo's EHLO has no SMTPUTF8
                await session.login(ALICE)
                await session.send(
                    b"Subject: x\r\n\r\nx\r\n", sender=ALICE.user, recipients=[JORG.user]
                )

        with pytest.raises(errors.CommandFailed, match="SMTPUTF8"):
            asyncio.run(scenario())


# -- POP3 ------------------------------------------------------------------------------


def test_pop3_capabilities_are_exposed(mail_pki: TestPKI) -> None:
    with start(mail_pki, ServerConfig(pop3_login_delay=600, pop3_expire=0)) as servers:

        async def scenario() -> tuple[object, ...]:
            async with pop3(servers) as mailbox:
                return (
                    mailbox.response_codes,
                    mailbox.pipelining,
                    mailbox.login_delay,
                    mailbox.expire,
                    mailbox.utf8_user,
                )

        codes, pipelining, delay, expire, utf8_user = asyncio.run(scenario())
    assert codes and pipelining and utf8_user
    assert delay == 600 and expire is not None and expire.days == 0


def test_login_delay_code_is_reported(mail_pki: TestPKI) -> None:
    with start(mail_pki, ServerConfig(pop3_login_delay=3600)) as servers:

        async def scenario() -> None:
            async with pop3(servers) as mailbox:
                await mailbox.login(ALICE)
            async with pop3(servers) as mailbox:
                await mailbox.login(ALICE)

        with pytest.raises(errors.AuthenticationFailed, match=r"\[LOGIN-DELAY\]"):
            asyncio.run(scenario())


def test_pipelined_retr_returns_each_message(servers: FakeMailServers) -> None:
    for number in range(3):
        servers.store.deliver(BOB, f"Subject: {number}\r\n\r\n.{number}\r\n".encode())

    async def scenario() -> tuple[bytes, ...]:
        async with pop3(servers) as mailbox:
            await mailbox.login(Credentials(user=BOB, password="bob-pass"))
            assert mailbox.pipelining
            return await mailbox.retr_many([1, 2, 3])

    assert asyncio.run(scenario()) == tuple(
        f"Subject: {n}\r\n\r\n.{n}\r\n".encode() for n in range(3)
    )


def test_pipelined_retr_of_a_missing_message_fails(servers: FakeMailServers) -> None:
    async def scenario() -> None:
        async with pop3(servers) as mailbox:
            await mailbox.login(Credentials(user=BOB, password="bob-pass"))
            await mailbox.retr_many([1])

    with pytest.raises(errors.CommandFailed, match="RETR 1"):
        asyncio.run(scenario())
