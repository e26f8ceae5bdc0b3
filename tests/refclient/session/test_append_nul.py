"""APPEND of a message holding NUL (RFC 3501 section 4.3 forbids NUL in a literal).

Where the server offers BINARY the reference client sends such a message as
a literal8 (RFC 3516 section 4.2, ``~{n}``) and reads it back unchanged;
where it does not, the client refuses it locally, before a single octet of
the command goes out. A message without NUL still goes as a plain literal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from fakeservers.controller import ENDPOINTS, FakeMailServers
from fakeservers.pki import TestPKI
from fakeservers.profiles.catalogue import server_config
from refclient.protocol.errors import LocalProtocolError
from refclient.session.imap import IMAPSession
from refclient.session.options import ClientOptions
from refclient.urls import ServerURL
from tests.refclient.session.stored import ALICE, stored_message

WITH_NUL = b"Subject: nul\r\n\r\nbefore\x00after\r\n"
WITHOUT_NUL = b"Subject: plain\r\n\r\nno nul here\r\n"


def _client_lines(session: IMAPSession) -> list[str]:
    return [line for line in session.transcript.render().splitlines() if " C: " in line]


async def _append_and_read(servers: FakeMailServers, data: bytes) -> tuple[IMAPSession, bytes]:
    async with stored_message(servers, data) as (imap, uid):
        return imap, await imap.fetch_message(uid)


@pytest.fixture
def without_binary(mail_pki: TestPKI) -> Iterator[FakeMailServers]:
    """The gmail profile, which offers no BINARY."""
    ports: dict[str, int | None] = {
        spec.name: (0 if spec.name == "imaps" else None) for spec in ENDPOINTS
    }
    with FakeMailServers(ports=ports, pki=mail_pki, config=server_config("gmail")) as servers:
        yield servers


def test_nul_goes_as_literal8_where_binary_is_offered(imap_server: FakeMailServers) -> None:
    imap, read_back = asyncio.run(_append_and_read(imap_server, WITH_NUL))
    assert "BINARY" in imap.capabilities
    assert read_back == WITH_NUL
    marker = f"~{{{len(WITH_NUL)}"
    assert any(" APPEND " in line and marker in line for line in _client_lines(imap))


def test_without_nul_a_plain_literal_is_sent(imap_server: FakeMailServers) -> None:
    imap, read_back = asyncio.run(_append_and_read(imap_server, WITHOUT_NUL))
    assert read_back == WITHOUT_NUL
    appends = [line for line in _client_lines(imap) if " APPEND " in line]
    assert appends and all("~{" not in line for line in appends)


def test_nul_is_refused_locally_where_binary_is_not_offered(
    without_binary: FakeMailServers,
) -> None:
    async def scenario() -> IMAPSession:
        url = ServerURL.parse(without_binary.url("imaps"))
        imap = IMAPSession(url, options=ClientOptions(ca_file=without_binary.ca_file))
        async with imap:
            await imap.login(ALICE)
            assert "BINARY" not in imap.capabilities
            with pytest.raises(LocalProtocolError, match=r"RFC 3501 section 4\.3"):
                await imap.append("INBOX", WITH_NUL)
            # The session goes on: nothing of the refused command was sent.
            await imap.noop()
        return imap

    imap = asyncio.run(scenario())
    assert not any(" APPEND " in line for line in _client_lines(imap))


def test_without_nul_the_same_server_takes_the_message(without_binary: FakeMailServers) -> None:
    _imap, read_back = asyncio.run(_append_and_read(without_binary, WITHOUT_NUL))
    assert read_back == WITHOUT_NUL
