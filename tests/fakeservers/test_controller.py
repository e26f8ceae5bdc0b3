"""FakeMailServers: six endpoints over one store, servers.json, clean start and stop."""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path

import pytest

from fakeservers.controller import ENDPOINTS, AccountSpec, FakeMailServers
from fakeservers.pki import TestPKI


def _greeting(host: str, port: int, context: ssl.SSLContext | None) -> bytes:
    with socket.create_connection((host, port), timeout=10) as raw:
        if context is None:
            return raw.recv(1024)
        with context.wrap_socket(raw, server_hostname=host) as tls:
            return tls.recv(1024)


def test_every_endpoint_answers_with_its_protocol(mail_pki: TestPKI, tmp_path: Path) -> None:
    with FakeMailServers(pki=mail_pki, state_dir=tmp_path) as servers:
        assert set(servers.endpoints) == {spec.name for spec in ENDPOINTS}
        assert len({endpoint.port for endpoint in servers.endpoints.values()}) == 6
        context = servers.client_context()
        greetings = {
            name: _greeting(servers.host, ep.port, context if ep.security == "tls" else None)
            for name, ep in servers.endpoints.items()
        }
    assert greetings["imap"].startswith(b"* OK") and greetings["imaps"].startswith(b"* OK")
    assert greetings["pop3"].startswith(b"+OK") and greetings["pop3s"].startswith(b"+OK")
    assert greetings["submission"].startswith(b"220")
    assert greetings["submissions"].startswith(b"220")


def test_servers_json_matches_the_contract(mail_pki: TestPKI, tmp_path: Path) -> None:
    accounts = (AccountSpec("carol@example.test", "carol-pass"),)
    with FakeMailServers(pki=mail_pki, state_dir=tmp_path, accounts=accounts) as servers:
        state = json.loads((tmp_path / "servers.json").read_text(encoding="utf-8"))
        assert state["host"] == "127.0.0.1"
        assert state["profile"] == "default"
        assert Path(state["ca_cert"]).read_bytes() == mail_pki.ca_pem
        assert state["endpoints"]["imaps"] == {
            "port": servers.endpoints["imaps"].port,
            "security": "tls",
        }
        assert state["endpoints"]["submission"]["security"] == "starttls"
        assert state["accounts"] == [
            {
                "user": "carol@example.test",
                "password": "carol-pass",
                "address": "carol@example.test",
            }
        ]


def test_stop_closes_listeners_and_open_sessions(mail_pki: TestPKI) -> None:
    servers = FakeMailServers(pki=mail_pki, ports={"imap": 0}, accounts=()).start()
    port = servers.endpoints["imap"].port
    client = socket.create_connection((servers.host, port), timeout=10)
    assert client.recv(1024).startswith(b"* OK")
    servers.stop()
    # The open session was closed by the server: EOF, or a reset.
    try:
        rest = client.recv(1024)
    except ConnectionResetError:
        rest = b""
    assert rest == b"" or rest.startswith(b"* BYE")
    client.close()
    with pytest.raises(OSError):
        socket.create_connection((servers.host, port), timeout=2).close()


def test_startup_error_is_raised_in_the_caller(mail_pki: TestPKI) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        servers = FakeMailServers(pki=mail_pki, ports={"imap": port}, accounts=())
        with pytest.raises(OSError):
            servers.start()
    assert servers.endpoints == {}


def test_account_spec_parsing() -> None:
    assert AccountSpec.parse("u@x.test:p:w") == AccountSpec("u@x.test", "p:w")
    for bad in ("nopassword", ":p", "u:"):
        with pytest.raises(ValueError, match="USER:PASSWORD"):
            AccountSpec.parse(bad)
