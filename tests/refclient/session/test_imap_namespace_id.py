"""NAMESPACE (RFC 2342) and ID (RFC 2971) through IMAPSession and the blocking facade,
against the fake IMAP server; and a bare non-protocol line before the greeting.

Each positive case is paired with a failure: a server that does not offer the
extension, a malformed answer played by a rule, fields over RFC 2971's limits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from fakeservers.config import ServerConfig
from fakeservers.controller import ENDPOINTS, FakeMailServers
from fakeservers.pki import TestPKI
from fakeservers.profiles.catalogue import server_config
from fakeservers.rules import RuleSet, rule_from_data
from refclient import errors
from refclient.blocking import IMAPClient
from refclient.credentials import Credentials
from refclient.session.imap import IMAPSession, Namespace, Namespaces
from refclient.session.options import ClientOptions
from refclient.urls import ServerURL

ALICE = Credentials(user="alice@example.test", password="alice-pass")


def _servers(pki: TestPKI, config: ServerConfig) -> FakeMailServers:
    ports: dict[str, int | None] = {
        spec.name: (0 if spec.protocol == "imap" else None) for spec in ENDPOINTS
    }
    return FakeMailServers(ports=ports, pki=pki, config=config)


def _answer(verb: str, line: str) -> RuleSet:
    """A rule that makes the server answer ``verb`` with ``line`` and a tagged OK."""
    rule = rule_from_data(
        {
            "name": f"{verb.lower()}-answer",
            "event": "command",
            "protocol": "imap",
            "verb": verb,
            "send": line + "\r\n{tag} OK done",
        },
        1,
    )
    return RuleSet([rule])


def run(servers: FakeMailServers, body: Callable[[IMAPSession], Awaitable[Any]]) -> Any:
    async def scenario() -> Any:
        url = ServerURL.parse(servers.url("imaps"))
        options = ClientOptions(ca_file=servers.ca_file, read_timeout=10)
        async with IMAPSession(url, options=options) as imap:
            await imap.login(ALICE)
            return await body(imap), imap

    return asyncio.run(scenario())


def test_namespace_gives_the_personal_namespace(imap_server: FakeMailServers) -> None:
    namespaces, _ = run(imap_server, lambda imap: imap.namespace())
    assert namespaces == Namespaces(personal=(Namespace("", "/"),))


def test_namespace_reads_every_group_with_extensions(mail_pki: TestPKI) -> None:
    line = (
        '* NAMESPACE (("" "/")("#mh/" "/" "X-PARAM" ("FLAG1" "FLAG2"))) '
        '(("~" "/")) (("#shared/" "/")("#public/" NIL))'
    )
    config = server_config("default", rules=_answer("NAMESPACE", line))
    with _servers(mail_pki, config) as servers:
        namespaces, _ = run(servers, lambda imap: imap.namespace())
    assert [n.prefix for n in namespaces.personal] == ["", "#mh/"]
    assert namespaces.personal[1].extensions == {"X-PARAM": ("FLAG1", "FLAG2")}
    assert namespaces.other == (Namespace("~", "/"),)
    assert namespaces.shared == (Namespace("#shared/", "/"), Namespace("#public/", None))


def test_a_malformed_namespace_is_a_protocol_violation(mail_pki: TestPKI) -> None:
    config = server_config("default", rules=_answer("NAMESPACE", '* NAMESPACE (("" "/"))'))
    with _servers(mail_pki, config) as servers, pytest.raises(errors.ProtocolViolation):
        run(servers, lambda imap: imap.namespace())


def test_namespace_needs_the_capability(mail_pki: TestPKI) -> None:
    with _servers(mail_pki, server_config("default")) as servers:

        async def without(imap: IMAPSession) -> None:
            imap.engine.capabilities = imap.capabilities - {"NAMESPACE"}
            await imap.namespace()

        with pytest.raises(errors.CommandFailed, match="NAMESPACE"):
            run(servers, without)


def test_id_sends_the_fields_and_returns_the_servers(imap_server: FakeMailServers) -> None:
    answer, imap = run(imap_server, lambda imap: imap.identify({"name": "tests", "os": None}))
    assert answer == {"name": "mailcompat"}
    assert 'ID ("name" "tests" "os" NIL)' in imap.transcript.render()
    nil, imap = run(imap_server, lambda imap: imap.identify())
    assert nil == {"name": "mailcompat"}
    assert " ID NIL\n" in imap.transcript.render()


def test_id_nil_from_the_server_is_none(mail_pki: TestPKI) -> None:
    config = server_config("default", rules=_answer("ID", "* ID NIL"))
    with _servers(mail_pki, config) as servers:
        answer, _ = run(servers, lambda imap: imap.identify({"name": "tests"}))
    assert answer is None


def test_a_malformed_id_answer_is_a_protocol_violation(mail_pki: TestPKI) -> None:
    config = server_config("default", rules=_answer("ID", '* ID ("name")'))
    with _servers(mail_pki, config) as servers, pytest.raises(errors.ProtocolViolation):
        run(servers, lambda imap: imap.identify({"name": "tests"}))


def test_id_fields_over_the_limits_are_refused_unsent(imap_server: FakeMailServers) -> None:
    with pytest.raises(ValueError, match="30 octets"):
        run(imap_server, lambda imap: imap.identify({"n" * 31: "x"}))
    with pytest.raises(ValueError, match="1024"):
        run(imap_server, lambda imap: imap.identify({"name": "x" * 1025}))
    with pytest.raises(ValueError, match="30 fields"):
        run(imap_server, lambda imap: imap.identify({f"f{i}": "x" for i in range(31)}))


def test_the_blocking_facade_has_namespace_and_id(imap_server: FakeMailServers) -> None:
    url = ServerURL.parse(imap_server.url("imaps"))
    with IMAPClient(url, options=ClientOptions(ca_file=imap_server.ca_file)) as imap:
        imap.login(ALICE)
        assert imap.namespace().personal == (Namespace("", "/"),)
        assert imap.identify({"name": "tests"}) == {"name": "mailcompat"}


def test_a_bare_line_before_the_greeting_is_a_finding(mail_pki: TestPKI) -> None:
    with _servers(mail_pki, server_config("default", quirks=["bare-line"])) as servers:
        _, imap = run(servers, lambda imap: imap.noop())
    found = [f for f in imap.findings if f.id == "imap.non-protocol-line"]
    assert [f.line for f in found] == [b"Server Unavailable."]


def test_without_the_quirk_there_is_no_such_finding(imap_server: FakeMailServers) -> None:
    _, imap = run(imap_server, lambda imap: imap.noop())
    assert "imap.non-protocol-line" not in {f.id for f in imap.findings}
