"""NAMESPACE (RFC 2342) and ID (RFC 2971) through the reference client against Dovecot."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from refclient import errors
from refclient.credentials import Credentials
from refclient.session.imap import IMAPSession
from refclient.session.options import ClientOptions
from refclient.urls import ServerURL

from .environment import InteropServers

pytestmark = pytest.mark.interop


def _run(servers: InteropServers, body: Callable[[IMAPSession], Awaitable[Any]]) -> Any:
    account = servers.accounts[0]

    async def scenario() -> Any:
        options = ClientOptions(ca_file=servers.ca_file, read_timeout=20)
        async with IMAPSession(ServerURL.parse(servers.url("imaps")), options=options) as imap:
            await imap.login(Credentials(user=account.user, password=account.password))
            return await body(imap)

    return asyncio.run(scenario())


def test_dovecot_namespace_has_a_personal_namespace(interop_servers: InteropServers) -> None:
    namespaces = _run(interop_servers, lambda imap: imap.namespace())
    assert len(namespaces.personal) >= 1
    assert all(entry.delimiter in {"/", ".", None} for entry in namespaces.personal)


def test_dovecot_id_answers_with_its_name(interop_servers: InteropServers) -> None:
    answer = _run(interop_servers, lambda imap: imap.identify({"name": "mailcompat-tests"}))
    assert answer is not None
    assert "dovecot" in (answer.get("name") or "").lower()


def test_dovecot_refuses_id_fields_over_the_limit_before_sending(
    interop_servers: InteropServers,
) -> None:
    with pytest.raises(ValueError, match="1024"):
        _run(interop_servers, lambda imap: imap.identify({"name": "x" * 1025}))


def test_dovecot_namespace_without_the_capability_fails(interop_servers: InteropServers) -> None:
    async def without(imap: IMAPSession) -> Any:
        imap.engine.capabilities = imap.capabilities - {"NAMESPACE"}
        return await imap.namespace()

    with pytest.raises(errors.CommandFailed, match="NAMESPACE"):
        _run(interop_servers, without)
