"""Fake servers with rules, and a raw line client for what the standard library hides."""

from __future__ import annotations

import imaplib
import socket
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fakeservers.controller import FakeMailServers
from fakeservers.pki import TestPKI
from fakeservers.rules import ruleset_from_data

ALICE = ("alice@example.test", "alice-pass")


class RawLines:
    """A socket client reading lines; TLS (verified against the test CA) when given a context."""

    def __init__(self, port: int, context: ssl.SSLContext | None = None) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if context is not None:
            sock = context.wrap_socket(sock, server_hostname="127.0.0.1")
        self.sock = sock
        self.reader = sock.makefile("rb")

    def line(self) -> bytes:
        return self.reader.readline()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def rest(self) -> bytes:
        """Everything until the server closes."""
        return self.reader.read()

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


Rules = Callable[..., FakeMailServers]


@pytest.fixture
def ruled(mail_pki: TestPKI) -> Iterator[Rules]:
    """``ruled(rule, ...)``: the six endpoints running with these rules (mappings)."""
    started: list[FakeMailServers] = []

    def start(*rules: dict[str, Any], seed: int = 0) -> FakeMailServers:
        servers = FakeMailServers(pki=mail_pki).start()
        servers.use_rules(ruleset_from_data({"seed": seed, "rules": list(rules)}))
        started.append(servers)
        return servers

    yield start
    for servers in started:
        still_serving(servers)
        servers.stop()


def still_serving(servers: FakeMailServers) -> None:
    """The server survived: a client that no rule touches logs in over IMAPS."""
    servers.use_rules(ruleset_from_data([]))
    context = servers.client_context()
    with imaplib.IMAP4_SSL("127.0.0.1", servers.endpoints["imaps"].port, ssl_context=context) as c:
        assert c.login(*ALICE)[0] == "OK"
