"""Every protocol's listener counts its sessions, and closing it ends them (IMAP, POP3, SMTP)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from fakeservers.config import ServerConfig
from fakeservers.imap import start_imap_server
from fakeservers.listener import Listener
from fakeservers.pki import TestPKI
from fakeservers.pop3 import start_pop3_server
from fakeservers.smtp import start_smtp_server
from fakeservers.store import MailStore

#: (start function, what the greeting starts with)
_PROTOCOLS: dict[str, tuple[Callable[..., Awaitable[Listener]], bytes]] = {
    "imap": (start_imap_server, b"* OK"),
    "pop3": (start_pop3_server, b"+OK"),
    "smtp": (start_smtp_server, b"220"),
}


@pytest.mark.parametrize("implicit_tls", [False, True])
@pytest.mark.parametrize("protocol", sorted(_PROTOCOLS))
def test_listener_tracks_sessions_and_closing_it_ends_them(
    mail_pki: TestPKI, protocol: str, implicit_tls: bool
) -> None:
    start, greeting = _PROTOCOLS[protocol]

    async def scenario() -> None:
        listener = await start(
            MailStore(),
            ServerConfig(),
            host="127.0.0.1",
            port=0,
            tls_context=mail_pki.server_context(),
            implicit_tls=implicit_tls,
        )
        context = mail_pki.client_context() if implicit_tls else None
        reader, writer = await asyncio.open_connection(
            "127.0.0.1",
            listener.port,
            ssl=context,
            server_hostname="localhost" if context else None,
        )
        assert (await reader.readline()).startswith(greeting)
        assert listener.session_count == 1
        await listener.close()
        assert await asyncio.wait_for(reader.read(), 5) == b""  # the server closed it
        assert listener.session_count == 0
        writer.close()

    asyncio.run(scenario())
