"""Bind the fake POP3 server: one listener, one :class:`Pop3Session` per connection."""

from __future__ import annotations

import ssl

from fakeservers.config import ServerConfig
from fakeservers.connection import Connection
from fakeservers.listener import Listener, listen_for_sessions
from fakeservers.pop3.session import Pop3Session
from fakeservers.store import MailStore


async def start_pop3_server(
    store: MailStore,
    config: ServerConfig,
    *,
    host: str,
    port: int,
    tls_context: ssl.SSLContext,
    implicit_tls: bool,
) -> Listener:
    """Listen on ``host:port``: TLS from the first byte (pop3s) or clear text with STLS."""

    async def serve(connection: Connection) -> None:
        session = Pop3Session(
            connection, store, config, tls_context=tls_context, implicit_tls=implicit_tls
        )
        await session.run()

    return await listen_for_sessions(
        serve,
        name="pop3s" if implicit_tls else "pop3",
        host=host,
        port=port,
        tls_context=tls_context,
        implicit_tls=implicit_tls,
        limits=config.limits,
        rules=config.rules,
        protocol="pop3",
    )
