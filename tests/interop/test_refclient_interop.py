"""The reference client against a real Dovecot and Postfix.

Send through Postfix (submission with STARTTLS, and implicit TLS), then fetch
the same message with the reference client over IMAP and POP3, both TLS
modes, and compare it byte for byte with what was sent (behind the trace
fields the real servers add, ``messages.py``). The reference client must
behave against Dovecot exactly as against the fake servers.
"""

from __future__ import annotations

import asyncio
import secrets

import pytest

from refclient import errors
from refclient.credentials import Credentials
from refclient.session.imap import IMAPSession
from refclient.session.options import ClientOptions
from refclient.session.pop3 import POP3Session
from refclient.session.smtp import SMTPSession
from refclient.urls import ServerURL

from .environment import InteropServers
from .messages import ADDED_TRACE_FIELDS, message_bytes, round_trip_message, split_trace

pytestmark = pytest.mark.interop

DELIVERY_TIMEOUT = 30.0


def _url(servers: InteropServers, endpoint: str) -> ServerURL:
    return ServerURL.parse(servers.url(endpoint))


def _options(servers: InteropServers) -> ClientOptions:
    return ClientOptions(ca_file=servers.ca_file, read_timeout=20)


def _credentials(servers: InteropServers, index: int) -> Credentials:
    account = servers.accounts[index]
    return Credentials(user=account.user, password=account.password)


async def _find(servers: InteropServers, who: Credentials, message_id: str) -> int:
    """Poll over IMAP (bounded) until the message is delivered; its UID."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DELIVERY_TIMEOUT
    async with IMAPSession(_url(servers, "imaps"), options=_options(servers)) as imap:
        await imap.login(who)
        while True:
            await imap.select("INBOX", readonly=True)
            found = await imap.search("HEADER", "Message-ID", message_id)
            if found:
                return found[-1]
            if loop.time() > deadline:
                raise AssertionError(f"{message_id} not delivered within {DELIVERY_TIMEOUT} s")
            await asyncio.sleep(0.2)


@pytest.mark.parametrize("submit", ["submission", "submissions"])
def test_send_through_postfix_fetch_from_dovecot_byte_exact(
    interop_servers: InteropServers, submit: str
) -> None:
    alice, bob = _credentials(interop_servers, 0), _credentials(interop_servers, 1)
    token = secrets.token_hex(8)
    message = round_trip_message(sender=alice.user, recipient=bob.user, token=token)
    sent = message_bytes(message)
    message_id = f"<{token}@interop.example.test>"

    async def scenario() -> dict[str, bytes]:
        async with SMTPSession(
            _url(interop_servers, submit), options=_options(interop_servers)
        ) as smtp:
            await smtp.login(alice)
            result = await smtp.send(sent, sender=alice.user, recipients=[bob.user])
            assert result.accepted == [bob.user]
        uid = await _find(interop_servers, bob, message_id)
        fetched = {}
        for endpoint in ("imap", "imaps"):
            async with IMAPSession(
                _url(interop_servers, endpoint), options=_options(interop_servers)
            ) as imap:
                await imap.login(bob)
                await imap.select("INBOX", readonly=True)
                fetched[endpoint] = await imap.fetch_message(uid)
        for endpoint in ("pop3", "pop3s"):
            async with POP3Session(
                _url(interop_servers, endpoint), options=_options(interop_servers)
            ) as pop:
                await pop.login(bob)
                listing = await pop.uidl()
                for number in sorted(listing, reverse=True):
                    data = await pop.retr(number)
                    if message_id.encode() in data:
                        fetched[endpoint] = data
                        break
        return fetched

    fetched = asyncio.run(scenario())
    assert set(fetched) == {"imap", "imaps", "pop3", "pop3s"}
    for endpoint, data in fetched.items():
        names, rest = split_trace(data)
        assert rest == sent, endpoint
        assert names == list(ADDED_TRACE_FIELDS), endpoint


@pytest.mark.parametrize(
    "endpoint", ["imap", "imaps", "pop3", "pop3s", "submission", "submissions"]
)
def test_login_works_and_a_wrong_password_is_refused(
    interop_servers: InteropServers, endpoint: str
) -> None:
    session_type = {"imap": IMAPSession, "pop3": POP3Session, "smtp": SMTPSession}
    url = _url(interop_servers, endpoint)
    good = _credentials(interop_servers, 0)
    bad = Credentials(user=good.user, password="definitely-wrong")

    async def scenario() -> str:
        session = session_type[url.protocol](url, options=_options(interop_servers))
        await session.connect()
        assert session.tls is not None
        await session.login(good)
        await session.close()
        session = session_type[url.protocol](url, options=_options(interop_servers))
        await session.connect()
        with pytest.raises(errors.AuthenticationFailed) as failure:
            await session.login(bad)
        await session.close()
        assert "definitely-wrong" not in str(failure.value)
        return session.transcript.render()

    assert "definitely-wrong" not in asyncio.run(scenario())


def test_capabilities_before_and_after_starttls(interop_servers: InteropServers) -> None:
    async def scenario() -> IMAPSession:
        imap = IMAPSession(_url(interop_servers, "imap"), options=_options(interop_servers))
        await imap.connect()
        await imap.close()
        return imap

    imap = asyncio.run(scenario())
    assert imap.capabilities_before_tls is not None
    assert "STARTTLS" in imap.capabilities_before_tls
    assert "LOGINDISABLED" in imap.capabilities_before_tls
    assert "LOGINDISABLED" not in imap.capabilities
    assert {"AUTH=PLAIN", "AUTH=LOGIN"} <= imap.capabilities
    assert not [f for f in imap.findings if f.severity.value == "error"]
