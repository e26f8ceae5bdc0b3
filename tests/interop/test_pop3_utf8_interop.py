"""UTF-8 header fields over POP3: Dovecot and the fake server, to a client without UTF8.

A message with UTF-8 header fields (RFC 6532) is put in the INBOX over IMAP
(APPEND) and retrieved over POP3 by poplib, which never sends UTF8. The
fake server offers UTF8 (RFC 6856) and therefore downgrades the header for
such a client (RFC 6858 section 3). Dovecot 2.3 offers no UTF8; what it sends
is recorded here, so that docs/pop3-server.md states the difference as seen.
The body is the same on both.
"""

from __future__ import annotations

import imaplib
import poplib
import secrets

import pytest

from fakeservers.controller import FakeMailServers
from fakeservers.pop3.downgrade import downgrade

from .environment import InteropServers
from .stdlib_clients import CLIENT_TIMEOUT

pytestmark = pytest.mark.interop


def _message(token: str) -> bytes:
    return (
        f"From: Jörg <alice@example.test>\r\nSubject: Grüße {token}\r\n"
        f"Message-ID: <{token}@interop.example.test>\r\n\r\nHällo {token}\r\n"
    ).encode()


def _port(servers: InteropServers | FakeMailServers, endpoint: str) -> int:
    if isinstance(servers, FakeMailServers):
        return servers.endpoints[endpoint].port
    return servers.port(endpoint)


def _retrieve(servers: InteropServers | FakeMailServers, token: str) -> tuple[list[str], bytes]:
    """POP3 capabilities and the appended message as RETR sends it to a non-UTF8 client."""
    account = servers.accounts[0]
    context = servers.client_context()
    imap = imaplib.IMAP4_SSL(
        servers.host, _port(servers, "imaps"), ssl_context=context, timeout=CLIENT_TIMEOUT
    )
    try:
        imap.login(account.user, account.password)
        status, _ = imap.append("INBOX", None, None, _message(token))
        assert status == "OK"
    finally:
        imap.logout()
    pop = poplib.POP3_SSL(
        servers.host, _port(servers, "pop3s"), context=context, timeout=CLIENT_TIMEOUT
    )
    try:
        capabilities = list(pop.capa())
        pop.user(account.user)
        pop.pass_(account.password)
        _, listing, _ = pop.list()
        for line in reversed(listing):
            _, lines, _ = pop.retr(int(line.split()[0]))
            data = b"".join(each + b"\r\n" for each in lines)
            if token.encode() in data:
                return capabilities, data
        raise AssertionError(f"{token} not in the maildrop")
    finally:
        pop.quit()


def test_utf8_header_fields_to_a_client_without_utf8(interop_servers: InteropServers) -> None:
    token = secrets.token_hex(6)
    dovecot_capabilities, dovecot = _retrieve(interop_servers, token)
    with FakeMailServers() as fake:
        fake_capabilities, ours = _retrieve(fake, token)
    assert "UTF8" in fake_capabilities and "UTF8" not in dovecot_capabilities
    sent = _message(token)
    # the fake server downgrades (RFC 6858 section 3); Dovecot sends the octets as stored
    assert ours.endswith(downgrade(sent)) and ours.partition(b"\r\n\r\n")[0].isascii()
    assert dovecot.endswith(sent)
    assert dovecot.partition(b"\r\n\r\n")[2] == ours.partition(b"\r\n\r\n")[2]
