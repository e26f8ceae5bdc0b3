"""Every protocol's listener counts its sessions, ends them when closed, answers a half-close.

IMAP, POP3 and SMTP alike (but for the half-close, see below), over real sockets on loopback.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest

from fakeservers.config import ServerConfig
from fakeservers.controller import FakeMailServers
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


#: endpoint -> (commands sent at once, then the client's half-close; the last reply expected).
#: Not SMTP: aiosmtpd ends a session at the client's EOF, whatever it has not answered yet
#: (docs/limits.md), and whether the replies make it first depends on the timing.
_PIPELINED = {
    "imap": (b"a1 CAPABILITY\r\na2 NOOP\r\na3 LOGOUT\r\n", b"a3 OK LOGOUT completed\r\n"),
    "pop3": (b"CAPA\r\nNOOP\r\nQUIT\r\n", b"+OK mailcompat POP3 server signing off\r\n"),
}


@pytest.mark.parametrize("endpoint", sorted(_PIPELINED))
def test_commands_sent_before_a_half_close_are_all_answered(
    mail_servers: FakeMailServers, endpoint: str
) -> None:
    # printf '...' | nc -N host port: the commands and the FIN arrive together, and the
    # replies must still come back before the server closes (RFC 9293 section 3.6).
    commands, last = _PIPELINED[endpoint]
    port = mail_servers.endpoints[endpoint].port
    with socket.create_connection((mail_servers.host, port), timeout=10) as connection:
        connection.sendall(commands)
        connection.shutdown(socket.SHUT_WR)
        received = b""
        while data := connection.recv(65536):
            received += data
    assert received.endswith(last), received[-300:]
