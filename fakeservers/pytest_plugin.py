"""pytest fixtures for the fake mail servers (registered as a ``pytest11`` entry point).

Any project that installs mailcompat gets these fixtures, so its own mail
client can be tested against real IMAP, POP3 and SMTP servers on loopback::

    def test_my_client(mail_servers):
        port = mail_servers.endpoints["imaps"].port
        context = mail_servers.client_context()      # trusts the test CA
        mail_servers.store.deliver("alice@example.test", b"Subject: hi\\r\\n\\r\\nhello\\r\\n")
        ...

Every fixture gives fresh servers and a fresh store per test; the test CA is
made once per session because generating keys is the slow part.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest

from fakeservers.controller import ENDPOINTS, FakeMailServers
from fakeservers.pki import TestPKI
from fakeservers.store import MailStore


@pytest.fixture(scope="session")
def mail_pki() -> TestPKI:
    """The test CA and server certificate shared by every fixture of the session."""
    return TestPKI.create()


def _servers(pki: TestPKI, protocols: set[str]) -> FakeMailServers:
    ports: dict[str, int | None] = {
        spec.name: (0 if spec.protocol in protocols else None) for spec in ENDPOINTS
    }
    return FakeMailServers(ports=ports, pki=pki)


@pytest.fixture
def mail_servers(mail_pki: TestPKI) -> Iterator[FakeMailServers]:
    """All six endpoints (imap, imaps, pop3, pop3s, submission, submissions) over one store."""
    with _servers(mail_pki, {"imap", "pop3", "smtp"}) as servers:
        yield servers


@pytest.fixture
def imap_server(mail_pki: TestPKI) -> Iterator[FakeMailServers]:
    """Only the IMAP endpoints (``imap`` with STARTTLS, ``imaps``)."""
    with _servers(mail_pki, {"imap"}) as servers:
        yield servers


@pytest.fixture
def pop3_server(mail_pki: TestPKI) -> Iterator[FakeMailServers]:
    """Only the POP3 endpoints (``pop3`` with STLS, ``pop3s``)."""
    with _servers(mail_pki, {"pop3"}) as servers:
        yield servers


@pytest.fixture
def smtp_server(mail_pki: TestPKI) -> Iterator[FakeMailServers]:
    """Only the SMTP submission endpoints (``submission`` with STARTTLS, ``submissions``)."""
    with _servers(mail_pki, {"smtp"}) as servers:
        yield servers


@pytest.fixture
def mail_store(mail_servers: FakeMailServers) -> MailStore:
    """The store behind ``mail_servers``: deliver and inspect messages directly."""
    return mail_servers.store


@pytest.fixture
def mail_client_context(mail_pki: TestPKI) -> ssl.SSLContext:
    """A verifying client SSL context that trusts the fake servers' CA."""
    return mail_pki.client_context()
