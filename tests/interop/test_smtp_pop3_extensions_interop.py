"""The SMTP and POP3 extensions against a real Postfix and Dovecot, as against the fake servers.

Postfix offers PIPELINING, SIZE, CHUNKING, DSN, 8BITMIME, SMTPUTF8 and
ENHANCEDSTATUSCODES, but neither BINARYMIME nor REQUIRETLS; Dovecot's POP3
offers RESP-CODES, AUTH-RESP-CODE and PIPELINING, not UTF8, LOGIN-DELAY or
EXPIRE. Where both sides offer an extension the reference client must use it
the same way; where Postfix lacks one, the client must refuse exactly as it
refuses against a fake server profile without it (docs/smtp-server.md lists
the differences).
"""

from __future__ import annotations

import asyncio
import secrets

import pytest

from refclient import errors
from refclient.credentials import Credentials
from refclient.protocol.smtp import DeliveryStatusRequest
from refclient.session.options import ClientOptions
from refclient.session.pop3 import POP3Session
from refclient.session.smtp import SMTPSession
from refclient.urls import ServerURL

from .environment import InteropServers
from .messages import split_trace

pytestmark = pytest.mark.interop

DELIVERY_TIMEOUT = 30.0


def _options(servers: InteropServers) -> ClientOptions:
    return ClientOptions(ca_file=servers.ca_file, read_timeout=20)


def _credentials(servers: InteropServers, index: int) -> Credentials:
    account = servers.accounts[index]
    return Credentials(user=account.user, password=account.password)


def _smtp(servers: InteropServers, endpoint: str = "submissions") -> SMTPSession:
    return SMTPSession(ServerURL.parse(servers.url(endpoint)), options=_options(servers))


def _pop3(servers: InteropServers, endpoint: str = "pop3s") -> POP3Session:
    return POP3Session(ServerURL.parse(servers.url(endpoint)), options=_options(servers))


def _message(sender: str, recipient: str, token: str, body: str = "body") -> bytes:
    return (
        f"From: {sender}\r\nTo: {recipient}\r\nSubject: extensions {token}\r\n"
        f"Message-ID: <{token}@interop.example.test>\r\n\r\n{body}\r\n"
    ).encode()


async def _fetch(servers: InteropServers, who: Credentials, token: str) -> bytes:
    """The delivered message carrying ``token``, polled over POP3 (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DELIVERY_TIMEOUT
    while True:
        async with _pop3(servers) as pop:
            await pop.login(who)
            listing = await pop.list()
            if listing:
                for data in await pop.retr_many(sorted(listing)):
                    if token.encode() in data:
                        return data
        if loop.time() > deadline:
            raise AssertionError(f"{token} not delivered within {DELIVERY_TIMEOUT} s")
        await asyncio.sleep(0.2)


def test_postfix_offers_what_the_fake_server_does_minus_binarymime_and_requiretls(
    interop_servers: InteropServers,
) -> None:
    async def scenario() -> dict[str, str]:
        async with _smtp(interop_servers, "submission") as smtp:
            return smtp.extensions

    offered = asyncio.run(scenario())
    for keyword in ("PIPELINING", "SIZE", "CHUNKING", "DSN", "8BITMIME", "SMTPUTF8"):
        assert keyword in offered
    assert "BINARYMIME" not in offered and "REQUIRETLS" not in offered


def test_bdat_dsn_and_pipelining_through_postfix(interop_servers: InteropServers) -> None:
    alice, bob = _credentials(interop_servers, 0), _credentials(interop_servers, 1)
    token = secrets.token_hex(8)
    sent = _message(alice.user, bob.user, token, ".leading dot\r\n8-bit \xc3\xa4")
    request = DeliveryStatusRequest(
        ret="HDRS", envid=f"env {token}", notify=("FAILURE", "DELAY"), orcpt=True
    )

    async def scenario() -> tuple[bool, list[str], bytes]:
        async with _smtp(interop_servers) as smtp:
            await smtp.login(alice)
            result = await smtp.send(
                sent, sender=alice.user, recipients=[bob.user], dsn=request, chunking=True
            )
        return result.chunked, result.parameters, await _fetch(interop_servers, bob, token)

    chunked, parameters, data = asyncio.run(scenario())
    assert chunked and "RET=HDRS" in parameters
    assert split_trace(data)[1] == sent


def test_smtputf8_headers_accepted_by_postfix(interop_servers: InteropServers) -> None:
    """Postfix takes the SMTPUTF8 transaction; delivery is not checked.

    Dovecot 2.3's LMTP does not offer SMTPUTF8, so Postfix bounces the message
    with ``5.6.7 SMTPUTF8 is required, but was not offered`` (RFC 6531 section
    3.7.5) instead of delivering it; the fake servers deliver it (the SMTPUTF8
    round trip is tested against them).
    """
    alice, bob = _credentials(interop_servers, 0), _credentials(interop_servers, 1)
    sent = _message(alice.user, bob.user, secrets.token_hex(8)).replace(
        b"Subject: ", "Subject: Grüße ".encode(), 1
    )

    async def scenario() -> tuple[list[str], int | None]:
        async with _smtp(interop_servers) as smtp:
            await smtp.login(alice)
            result = await smtp.send(sent, sender=alice.user, recipients=[bob.user])
        return result.parameters, result.reply.code if result.reply else None

    parameters, code = asyncio.run(scenario())
    assert "SMTPUTF8" in parameters and code == 250


@pytest.mark.parametrize(
    ("what", "kind"),
    [("binary", errors.CommandFailed), ("requiretls", errors.SecurityViolation)],
)
def test_client_refuses_what_postfix_does_not_offer(
    interop_servers: InteropServers, what: str, kind: type[errors.ClientError]
) -> None:
    alice = _credentials(interop_servers, 0)
    data = b"Subject: x\r\n\r\n\x00\r\n" if what == "binary" else b"Subject: x\r\n\r\nx\r\n"

    async def scenario() -> None:
        async with _smtp(interop_servers) as smtp:
            await smtp.login(alice)
            await smtp.send(
                data, sender=alice.user, recipients=[alice.user], requiretls=what == "requiretls"
            )

    with pytest.raises(kind):
        asyncio.run(scenario())


def test_dovecot_pop3_response_codes_and_pipelining(interop_servers: InteropServers) -> None:
    bob = _credentials(interop_servers, 1)
    wrong = Credentials(user=bob.user, password="definitely-wrong")

    async def scenario() -> tuple[bool, bool, bool, str]:
        async with _pop3(interop_servers) as pop:
            flags = (pop.response_codes, pop.pipelining, pop.utf8_capable)
            with pytest.raises(errors.AuthenticationFailed) as failure:
                await pop.login(wrong, mechanism="USER")
        return (*flags, str(failure.value))

    codes, pipelining, utf8, failure = asyncio.run(scenario())
    assert codes and pipelining and not utf8
    assert "[AUTH]" in failure  # RFC 3206, as the fake server answers
