"""Fixtures for the IMAP server tests: raw connections to a running server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fakeservers.controller import FakeMailServers
from tests.fakeservers.imap.imap_raw_client import RawFactory, RawImap


@pytest.fixture
def raw_imap(imap_server: FakeMailServers) -> Iterator[RawFactory]:
    """Open raw connections to ``imaps`` (default) or, with ``tls=False``, to ``imap``."""
    opened: list[RawImap] = []

    def connect(*, tls: bool = True) -> RawImap:
        endpoint = imap_server.endpoints["imaps" if tls else "imap"]
        client = RawImap(endpoint.port, imap_server.client_context() if tls else None)
        opened.append(client)
        return client

    yield connect
    for client in opened:
        client.close()
