"""AUTHENTICATE with every server mechanism, with and without SASL-IR (RFC 4959).

The client side is the reference client's SASL, an implementation written
independently of the server's (DESIGN.md: two independent implementations).
"""

from __future__ import annotations

import base64

import pytest

from fakeservers import sasl
from fakeservers.controller import FakeMailServers
from refclient.credentials import Credentials
from refclient.sasl import ClientMechanism, create_mechanism

from .imap_raw_client import RawFactory, RawImap

USER = "alice@example.test"
TOKEN = "ya29.test-token"


@pytest.fixture
def client(raw_imap: RawFactory, imap_server: FakeMailServers) -> RawImap:
    imap_server.store.account(USER).tokens.add(TOKEN)
    return raw_imap()


def _credentials(mechanism: str, *, right: bool) -> Credentials:
    if mechanism in ("XOAUTH2", "OAUTHBEARER"):
        return Credentials(user=USER, oauth2_token=TOKEN if right else "expired")
    return Credentials(user=USER, password="alice-pass" if right else "wrong")


def _authenticate(
    client: RawImap, name: str, mechanism: ClientMechanism, *, initial_response: bool
) -> bytes:
    """Run the exchange as RFC 3501 section 6.2.2 says; returns the tagged reply."""
    command = b"A AUTHENTICATE " + name.encode()
    initial = mechanism.initial_response() if initial_response else None
    if initial is not None:
        command += b" " + (base64.b64encode(initial) or b"=")
    client.send(command + b"\r\n")
    while True:
        line = client.line()
        if not line.startswith(b"+ "):
            return line
        challenge = base64.b64decode(line[2:].rstrip(b"\r\n"))
        client.send(base64.b64encode(mechanism.respond(challenge)) + b"\r\n")


@pytest.mark.parametrize("initial_response", [True, False], ids=["sasl-ir", "no-ir"])
@pytest.mark.parametrize("name", sasl.MECHANISMS)
def test_every_mechanism_logs_in(client: RawImap, name: str, initial_response: bool) -> None:
    mechanism = create_mechanism(name, _credentials(name, right=True))
    reply = _authenticate(client, name, mechanism, initial_response=initial_response)
    assert reply.startswith(b"A OK [CAPABILITY IMAP4rev1 "), reply
    mechanism.finish(None)  # SCRAM: the server proved it knows the password
    assert client.command(b"S", b"SELECT INBOX")[-1].startswith(b"S OK")


@pytest.mark.parametrize("name", sasl.MECHANISMS)
def test_every_mechanism_refuses_wrong_secrets(client: RawImap, name: str) -> None:
    mechanism = create_mechanism(name, _credentials(name, right=False))
    reply = _authenticate(client, name, mechanism, initial_response=True)
    assert reply.startswith(b"A NO [AUTHENTICATIONFAILED] Authentication failed"), reply
    assert client.command(b"S", b"SELECT INBOX")[-1].startswith(b"S BAD SELECT is not allowed")


def test_client_cancels_with_star(client: RawImap) -> None:
    client.send(b"A AUTHENTICATE LOGIN\r\n")
    assert client.line().startswith(b"+ ")
    client.send(b"*\r\n")
    assert client.line() == b"A BAD AUTHENTICATE cancelled\r\n"
    assert client.command(b"N", b"NOOP") == [b"N OK NOOP completed\r\n"]


def test_bad_base64_is_bad(client: RawImap) -> None:
    assert client.command(b"A", b"AUTHENTICATE PLAIN !!!") == [
        b"A BAD Initial response is not valid base64\r\n"
    ]
    client.send(b"B AUTHENTICATE PLAIN\r\n")
    assert client.line() == b"+ \r\n"
    client.send(b"not base64!\r\n")
    assert client.line() == b"B BAD SASL response is not valid base64\r\n"


def test_unknown_mechanism_is_no(client: RawImap) -> None:
    assert client.command(b"A", b"AUTHENTICATE KERBEROS_V4") == [
        b"A NO Unsupported authentication mechanism KERBEROS_V4\r\n"
    ]


def test_authenticate_is_refused_before_starttls(raw_imap: RawFactory) -> None:
    client = raw_imap(tls=False)
    initial = base64.b64encode(b"\0alice@example.test\0alice-pass")
    assert client.command(b"A", b"AUTHENTICATE PLAIN " + initial) == [
        b"A NO [PRIVACYREQUIRED] AUTHENTICATE is disabled until STARTTLS\r\n"
    ]
