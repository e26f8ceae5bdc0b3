"""A listening socket plus the sessions it accepted, so that stopping is complete.

``asyncio.Server.close`` stops accepting but leaves accepted connections
open (``close_clients`` only exists from Python 3.13), and a fake server that
is stopped mid-session must close every connection it holds. Each server
registers a closer for every session it accepts; :meth:`Listener.close` calls
them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable, Coroutine
from typing import Any

from fakeservers.config import Limits
from fakeservers.connection import Connection, ConnectionClosed
from fakeservers.rules import RuleBook

logger = logging.getLogger(__name__)

#: Pending connections the kernel queues per endpoint (asyncio's default is 100): a
#: burst of clients connecting at once is accepted, not retried after SYN timeouts.
LISTEN_BACKLOG = 1024


class Listener:
    """One bound endpoint of a fake server."""

    def __init__(self, server: asyncio.Server, *, name: str) -> None:
        self.name = name
        self._server = server
        self._closers: dict[int, Callable[[], None]] = {}
        self._next = 0

    @property
    def port(self) -> int:
        """The port actually bound (meaningful when 0 was asked for)."""
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def host(self) -> str:
        """The address actually bound."""
        return str(self._server.sockets[0].getsockname()[0])

    def track(self, closer: Callable[[], None]) -> Callable[[], None]:
        """Remember a session's closer; returns the function that forgets it."""
        key = self._next
        self._next += 1
        self._closers[key] = closer

        def untrack() -> None:
            self._closers.pop(key, None)

        return untrack

    @property
    def session_count(self) -> int:
        """How many sessions are open now."""
        return len(self._closers)

    async def close(self) -> None:
        """Stop accepting and close every open session."""
        self._server.close()
        for closer in list(self._closers.values()):
            closer()
        self._closers.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 2.0)


async def listen_for_sessions(
    serve: Callable[[Connection], Coroutine[Any, Any, None]],
    *,
    name: str,
    host: str,
    port: int,
    tls_context: ssl.SSLContext,
    implicit_tls: bool,
    limits: Limits,
    rules: RuleBook | None = None,
    protocol: str = "",
) -> Listener:
    """Bind a line-based server (IMAP, POP3): one :class:`Connection` and one task per client.

    ``serve(connection)`` runs a session to its end. With ``implicit_tls`` the
    listener accepts plain TCP and each connection runs its own TLS handshake
    (:meth:`Connection.accept_tls`, within ``limits.tls_handshake_timeout``)
    before ``serve`` starts (imaps, pop3s; RFC 8314 section 3), so that the
    ``connect`` rules act before it; otherwise the session may upgrade with
    :meth:`Connection.start_tls`. Every session, handshaking ones included, is
    tracked by the returned listener, so closing it ends them all. Each
    connection gets the ``protocol`` session rules of ``rules`` current when it
    is accepted.
    """
    loop = asyncio.get_running_loop()
    listeners: list[Listener] = []  # filled before the server starts serving

    async def session(connection: Connection) -> None:
        if implicit_tls:
            try:
                await connection.accept_tls()
            except (ConnectionClosed, OSError) as error:  # ssl.SSLError is an OSError
                logger.debug("%s: TLS handshake with %s failed: %s", name, connection.peer, error)
                await connection.close()  # a corrupted handshake's garbage still goes out
                return
        await serve(connection)

    def on_connect(connection: Connection) -> None:
        task = loop.create_task(session(connection))

        def close() -> None:
            connection.abort()
            task.cancel()

        untrack = listeners[0].track(close)  # the listener holds the task until it ends
        task.add_done_callback(lambda _: untrack())

    server = await loop.create_server(
        Connection.factory(
            on_connect,
            idle_timeout=limits.idle_timeout,
            rules=(lambda: rules.session(protocol)) if rules is not None else None,
            implicit_tls=tls_context if implicit_tls else None,
            tls_handshake_timeout=limits.tls_handshake_timeout,
        ),
        host,
        port,
        start_serving=False,
        backlog=LISTEN_BACKLOG,
    )
    listeners.append(Listener(server, name=name))
    await server.start_serving()
    return listeners[0]
