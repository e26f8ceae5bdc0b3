"""Bind the fake POP3 server: one listener, one :class:`Pop3Session` per connection."""

from __future__ import annotations

import asyncio
import ssl

from fakeservers.config import ServerConfig
from fakeservers.connection import Connection
from fakeservers.listener import Listener
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
    """Listen on ``host:port``: TLS from the first byte (pop3s) or clear text with STLS.

    Every session is tracked by the returned listener, so closing it ends them all.
    """
    loop = asyncio.get_running_loop()
    listeners: list[Listener] = []  # filled before the server starts serving

    def on_connect(connection: Connection) -> None:
        session = Pop3Session(
            connection, store, config, tls_context=tls_context, implicit_tls=implicit_tls
        )
        task = loop.create_task(session.run())

        def close() -> None:
            connection.abort()
            task.cancel()

        untrack = listeners[0].track(close)
        task.add_done_callback(lambda _: untrack())

    limits = config.limits
    server = await loop.create_server(
        Connection.factory(on_connect, idle_timeout=limits.idle_timeout),
        host,
        port,
        ssl=tls_context if implicit_tls else None,
        ssl_handshake_timeout=limits.tls_handshake_timeout if implicit_tls else None,
        start_serving=False,
    )
    listeners.append(Listener(server, name="pop3s" if implicit_tls else "pop3"))
    await server.start_serving()
    return listeners[0]
