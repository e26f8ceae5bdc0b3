"""The standard library's clients against the private Dovecot and Postfix.

These tests check the environment itself (so that the reference client's
interop tests stand on known ground) and record how the real servers behave
where the fake servers must match them: a message submitted through Postfix
arrives byte for byte in Dovecot, behind the trace fields listed in
``messages.py``; no credentials are accepted before TLS; wrong passwords are
refused on every endpoint; certificates verify against the test CA only.
"""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import socket
import ssl
from base64 import b64encode
from pathlib import Path

import pytest

from fakeservers.controller import ENDPOINTS, FakeMailServers

from .environment import InteropServers
from .messages import ADDED_TRACE_FIELDS, message_bytes, round_trip_message, split_trace
from .stdlib_clients import (
    CLIENT_TIMEOUT,
    fetch_imap,
    fetch_pop3,
    imap_session,
    pop3_session,
    send,
    smtp_session,
    wait_for_delivery,
)

pytestmark = pytest.mark.interop

SUBMISSION_ENDPOINTS = ("submission", "submissions")
FETCH_ENDPOINTS = ("imap", "imaps", "pop3", "pop3s")


def ssl_connection(
    servers: InteropServers, endpoint: str, context: ssl.SSLContext
) -> ssl.SSLSocket:
    """A verified implicit-TLS connection to ``endpoint`` (handshake done)."""
    raw = socket.create_connection((servers.host, servers.port(endpoint)), timeout=CLIENT_TIMEOUT)
    try:
        return context.wrap_socket(raw, server_hostname=servers.host)
    except BaseException:
        raw.close()
        raise


def _plain(user: str, password: str) -> str:
    """The initial response of SASL PLAIN (RFC 4616), base64 as AUTH sends it (RFC 4954)."""
    return b64encode(f"\0{user}\0{password}".encode()).decode("ascii")


def _fetch(servers: InteropServers, endpoint: str, message_id: str) -> bytes:
    bob = servers.accounts[1]
    if servers.endpoints[endpoint].protocol == "imap":
        return fetch_imap(servers, endpoint, bob, message_id)
    wait_for_delivery(servers, bob, message_id)
    return fetch_pop3(servers, endpoint, bob, message_id)


@pytest.mark.parametrize("fetch_endpoint", FETCH_ENDPOINTS)
@pytest.mark.parametrize("send_endpoint", SUBMISSION_ENDPOINTS)
def test_round_trip_is_byte_exact_behind_trace_fields(
    interop_servers: InteropServers, send_endpoint: str, fetch_endpoint: str
) -> None:
    alice, bob = interop_servers.accounts
    message = round_trip_message(sender=alice.user, recipient=bob.user)
    sent = message_bytes(message)
    send(interop_servers, send_endpoint, alice, sent, [bob.user])

    fetched = _fetch(interop_servers, fetch_endpoint, str(message["Message-ID"]))

    trace, rest = split_trace(fetched)
    assert trace == list(ADDED_TRACE_FIELDS)
    assert rest == sent


def test_round_trip_detects_a_changed_byte(interop_servers: InteropServers) -> None:
    """The comparison above can fail: a message differing in one byte is not equal."""
    alice, bob = interop_servers.accounts
    message = round_trip_message(sender=alice.user, recipient=bob.user)
    sent = message_bytes(message)
    send(interop_servers, "submission", alice, sent, [bob.user])

    _, rest = split_trace(fetch_imap(interop_servers, "imaps", bob, str(message["Message-ID"])))

    assert rest == sent
    assert rest != sent.replace(b"\r\n..two", b"\r\n.two", 1)


@pytest.mark.parametrize("endpoint", SUBMISSION_ENDPOINTS)
def test_smtp_login_accepted(interop_servers: InteropServers, endpoint: str) -> None:
    alice = interop_servers.accounts[0]
    with smtp_session(interop_servers, endpoint) as session:
        code, _ = session.login(alice.user, alice.password)
    assert code == 235


def test_smtp_wrong_password_refused(interop_servers: InteropServers) -> None:
    alice = interop_servers.accounts[0]
    with smtp_session(interop_servers, "submissions") as session:
        session.ehlo()
        code, reply = session.docmd("AUTH", "PLAIN " + _plain(alice.user, "not-" + alice.password))
    # RFC 4954 section 6: 535 5.7.8 Authentication credentials invalid.
    assert code == 535, reply


def test_smtp_without_auth_cannot_submit(interop_servers: InteropServers) -> None:
    alice, bob = interop_servers.accounts
    with smtp_session(interop_servers, "submission") as session:
        session.ehlo()
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            session.sendmail(alice.user, [bob.user], b"Subject: no auth\r\n\r\nx\r\n")
    code, _ = refused.value.recipients[bob.user]
    assert code == 554


def test_smtp_auth_offered_only_after_starttls(interop_servers: InteropServers) -> None:
    with smtplib.SMTP(
        interop_servers.host, interop_servers.port("submission"), timeout=CLIENT_TIMEOUT
    ) as session:
        session.ehlo()
        offered_before = session.has_extn("auth")
        session.starttls(context=interop_servers.client_context())
        session.ehlo()
        offered_after = session.has_extn("auth")
    assert not offered_before
    assert offered_after


def test_smtp_auth_in_clear_text_refused(interop_servers: InteropServers) -> None:
    alice = interop_servers.accounts[0]
    with smtplib.SMTP(
        interop_servers.host, interop_servers.port("submission"), timeout=CLIENT_TIMEOUT
    ) as session:
        session.ehlo()
        code, reply = session.docmd("AUTH", "PLAIN " + _plain(alice.user, alice.password))
    # RFC 3207 section 4: "530 Must issue a STARTTLS command first".
    assert code == 530, reply


@pytest.mark.parametrize("endpoint", ["imap", "imaps"])
def test_imap_login_accepted(interop_servers: InteropServers, endpoint: str) -> None:
    alice = interop_servers.accounts[0]
    session = imap_session(interop_servers, endpoint)
    try:
        status, _ = session.login(alice.user, alice.password)
    finally:
        session.logout()
    assert status == "OK"


def test_imap_wrong_password_refused(interop_servers: InteropServers) -> None:
    alice = interop_servers.accounts[0]
    session = imap_session(interop_servers, "imap")
    try:
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            session.login(alice.user, "not-" + alice.password)
    finally:
        session.logout()


def test_imap_login_in_clear_text_refused(interop_servers: InteropServers) -> None:
    alice = interop_servers.accounts[0]
    session = imaplib.IMAP4(
        interop_servers.host, interop_servers.port("imap"), timeout=CLIENT_TIMEOUT
    )
    try:
        # RFC 3501 section 6.2.3: LOGINDISABLED before TLS.
        assert "LOGINDISABLED" in session.capabilities
        with pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED"):
            session.login(alice.user, alice.password)
    finally:
        session.logout()


@pytest.mark.parametrize("endpoint", ["pop3", "pop3s"])
def test_pop3_login_accepted(interop_servers: InteropServers, endpoint: str) -> None:
    alice = interop_servers.accounts[0]
    session = pop3_session(interop_servers, endpoint)
    try:
        session.user(alice.user)
        reply = session.pass_(alice.password)
    finally:
        session.quit()
    assert reply.startswith(b"+OK")


def test_pop3_wrong_password_refused(interop_servers: InteropServers) -> None:
    alice = interop_servers.accounts[0]
    session = pop3_session(interop_servers, "pop3s")
    try:
        session.user(alice.user)
        with pytest.raises(poplib.error_proto, match="AUTH"):
            session.pass_("not-" + alice.password)
    finally:
        session.quit()


def test_pop3_login_in_clear_text_refused(interop_servers: InteropServers) -> None:
    alice = interop_servers.accounts[0]
    session = poplib.POP3(
        interop_servers.host, interop_servers.port("pop3"), timeout=CLIENT_TIMEOUT
    )
    try:
        with pytest.raises(poplib.error_proto, match="Plaintext authentication disallowed"):
            session.user(alice.user)
            session.pass_(alice.password)
    finally:
        session.quit()


@pytest.mark.parametrize("endpoint", ["imaps", "pop3s", "submissions"])
def test_certificate_verifies_against_the_test_ca(
    interop_servers: InteropServers, endpoint: str
) -> None:
    context = interop_servers.client_context()
    with ssl_connection(interop_servers, endpoint, context) as tls:
        assert tls.version() in {"TLSv1.2", "TLSv1.3"}


@pytest.mark.parametrize("endpoint", ["imaps", "pop3s", "submissions"])
def test_certificate_from_another_ca_refused(
    interop_servers: InteropServers, endpoint: str
) -> None:
    context = ssl.create_default_context()  # the system's trust store, not the test CA
    with pytest.raises(ssl.SSLCertVerificationError):
        ssl_connection(interop_servers, endpoint, context).close()


def test_describe_has_the_shape_of_the_fake_servers_servers_json(
    interop_servers: InteropServers,
) -> None:
    fake = FakeMailServers().describe()
    described = interop_servers.describe()
    assert set(described) == set(fake)
    assert set(described["endpoints"]) == {spec.name for spec in ENDPOINTS}
    assert described["endpoints"]["imaps"] == {
        "port": interop_servers.port("imaps"),
        "security": "tls",
    }
    assert described["accounts"] == fake["accounts"]
    assert Path(described["ca_cert"]).read_bytes() == interop_servers.pki.ca_pem
