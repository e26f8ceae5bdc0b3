"""Every security rule of the reference client, against a scripted hostile server.

Each case is refused with a clear error, and the verdict comes from the
server's side: the password never reached it, and nothing was sent after a
stripped or failed STARTTLS beyond what the case allows.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import ssl
from collections.abc import Sequence
from pathlib import Path

import pytest
import trustme

from refclient import errors
from refclient.credentials import Credentials
from refclient.session.base import Session
from refclient.session.imap import IMAPSession
from refclient.session.options import ClientOptions
from refclient.session.pop3 import POP3Session
from refclient.session.smtp import SMTPSession
from refclient.urls import ServerURL
from tests.refclient.security.hostile import Action, Hear, HostileServer, StartTLS

SECRET = "Hostile-Test-Password-42"
USER = Credentials(user="victim@example.test", password=SECRET)
SESSIONS: dict[str, type[Session]] = {"imap": IMAPSession, "pop3": POP3Session, "smtp": SMTPSession}


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(
    cert: trustme.LeafCert, *, maximum: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    if maximum is not None:
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        context.maximum_version = maximum
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def play(
    url: str,
    script: Sequence[Action],
    *,
    ca_file: Path | None = None,
    tls: ssl.SSLContext | None = None,
    login: bool = True,
) -> tuple[errors.ClientError, bytes]:
    """Run the client against the script; the error it raised and every octet it sent."""

    async def scenario() -> tuple[errors.ClientError, bytes]:
        server = HostileServer(script, tls=tls)
        async with server.running():
            parsed = ServerURL.parse(url.format(port=server.port))
            options = ClientOptions(ca_file=ca_file, read_timeout=5, connect_timeout=5)
            session = SESSIONS[parsed.protocol](parsed, options=options)
            try:
                with pytest.raises(errors.ClientError) as failure:
                    await session.connect()  # type: ignore[attr-defined]
                    if login:
                        await session.login(USER)  # type: ignore[attr-defined]
            finally:
                await session.close()
            await asyncio.sleep(0.05)
            return failure.value, bytes(server.received)

    error, received = asyncio.run(scenario())
    assert SECRET.encode() not in received
    assert SECRET not in str(error)
    return error, received


# -- STARTTLS stripping ------------------------------------------------------------------

NOT_OFFERED = {
    "imap://127.0.0.1:{port}": [
        b"* OK hi\r\n",
        Hear(b"CAPABILITY"),
        b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK\r\n",
    ],
    "pop3://127.0.0.1:{port}": [
        b"+OK hi\r\n",
        Hear(b"CAPA"),
        b"+OK\r\nUSER\r\nSASL PLAIN\r\n.\r\n",
    ],
    "smtp://127.0.0.1:{port}": [b"220 hi\r\n", Hear(b"EHLO"), b"250-hi\r\n250 AUTH PLAIN\r\n"],
}


@pytest.mark.parametrize("url", list(NOT_OFFERED))
def test_starttls_not_offered_is_refused(url: str) -> None:
    error, received = play(url, NOT_OFFERED[url])
    assert isinstance(error, errors.SecurityViolation)
    assert "does not offer" in error.message
    assert received.count(b"\n") == 1  # only the capability request


REFUSED = {
    "imap://127.0.0.1:{port}": [
        b"* OK hi\r\n",
        Hear(b"CAPABILITY"),
        b"* CAPABILITY IMAP4rev1 STARTTLS\r\n{tag} OK\r\n",
        Hear(b"STARTTLS"),
        b"{tag} NO not today\r\n",
    ],
    "pop3://127.0.0.1:{port}": [
        b"+OK hi\r\n",
        Hear(b"CAPA"),
        b"+OK\r\nSTLS\r\nUSER\r\n.\r\n",
        Hear(b"STLS"),
        b"-ERR not today\r\n",
    ],
    "smtp://127.0.0.1:{port}": [
        b"220 hi\r\n",
        Hear(b"EHLO"),
        b"250-hi\r\n250 STARTTLS\r\n",
        Hear(b"STARTTLS"),
        b"454 4.7.0 TLS not available\r\n",
    ],
}


@pytest.mark.parametrize("url", list(REFUSED))
def test_starttls_refused_stops_the_session(url: str) -> None:
    error, received = play(url, REFUSED[url])
    assert isinstance(error, errors.SecurityViolation) and "refused" in error.message
    assert received.upper().count(b"STARTTLS") + received.upper().count(b"STLS") >= 1
    assert received.count(b"\n") == 2  # capability request and STARTTLS, nothing after


INJECTED = {
    "imap://127.0.0.1:{port}": [
        b"* OK hi\r\n",
        Hear(b"CAPABILITY"),
        b"* CAPABILITY IMAP4rev1 STARTTLS\r\n{tag} OK\r\n",
        Hear(b"STARTTLS"),
        b"{tag} OK go\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n",
    ],
    "pop3://127.0.0.1:{port}": [
        b"+OK hi\r\n",
        Hear(b"CAPA"),
        b"+OK\r\nSTLS\r\n.\r\n",
        Hear(b"STLS"),
        b"+OK go\r\n+OK injected\r\n",
    ],
    "smtp://127.0.0.1:{port}": [
        b"220 hi\r\n",
        Hear(b"EHLO"),
        b"250-hi\r\n250 STARTTLS\r\n",
        Hear(b"STARTTLS"),
        b"220 go\r\n250-injected\r\n250 AUTH PLAIN\r\n",
    ],
}


@pytest.mark.parametrize("url", list(INJECTED))
def test_bytes_injected_after_the_starttls_reply_are_refused(url: str) -> None:
    error, received = play(url, INJECTED[url])
    assert isinstance(error, errors.SecurityViolation) and "injection" in error.message
    assert received.count(b"\n") == 2


# -- authentication rules ----------------------------------------------------------------


def test_logindisabled_without_sasl_sends_no_login(ca: trustme.CA, tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    script = [StartTLS(), b"* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] hi\r\n"]
    error, received = play(
        "imaps://localhost:{port}",
        script,
        ca_file=ca_file,
        tls=server_context(ca.issue_cert("localhost")),
    )
    assert isinstance(error, errors.AuthenticationFailed) and "LOGINDISABLED" in error.message
    assert b"LOGIN" not in received


def test_auth_offered_only_before_tls_is_not_used(ca: trustme.CA, tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    script = [
        b"220 hi\r\n",
        Hear(b"EHLO"),
        b"250-hi\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n",
        Hear(b"STARTTLS"),
        b"220 go\r\n",
        StartTLS(),
        Hear(b"EHLO"),
        b"250 hi\r\n",
    ]
    error, received = play(
        "smtp://localhost:{port}",
        script,
        ca_file=ca_file,
        tls=server_context(ca.issue_cert("localhost")),
    )
    assert isinstance(error, errors.AuthenticationFailed) and "no AUTH" in error.message
    assert b"AUTH" not in received


# -- certificates and TLS versions -----------------------------------------------------------


def _tls_case(ca: trustme.CA, tmp_path: Path, context: ssl.SSLContext) -> errors.ClientError:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    error, received = play(
        "imaps://localhost:{port}", [StartTLS(), b"* OK hi\r\n"], ca_file=ca_file, tls=context
    )
    assert received == b""  # no byte of protocol, let alone a password
    return error


def test_a_certificate_for_another_host_is_refused(ca: trustme.CA, tmp_path: Path) -> None:
    error = _tls_case(ca, tmp_path, server_context(ca.issue_cert("mail.other.test")))
    assert isinstance(error, errors.TLSFailed) and "certificate" in error.message


def test_an_expired_certificate_is_refused(ca: trustme.CA, tmp_path: Path) -> None:
    past = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    cert = ca.issue_cert("localhost", not_before=past, not_after=past + datetime.timedelta(days=1))
    error = _tls_case(ca, tmp_path, server_context(cert))
    assert isinstance(error, errors.TLSFailed) and "expired" in error.message


def test_an_unknown_ca_is_refused(ca: trustme.CA, tmp_path: Path) -> None:
    stranger = trustme.CA()
    error = _tls_case(ca, tmp_path, server_context(stranger.issue_cert("localhost")))
    assert isinstance(error, errors.TLSFailed) and "certificate" in error.message


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1 is deprecated:DeprecationWarning")
def test_a_tls_1_0_only_server_is_refused(ca: trustme.CA, tmp_path: Path) -> None:
    try:
        context = server_context(ca.issue_cert("localhost"), maximum=ssl.TLSVersion.TLSv1)
    except ssl.SSLError as exc:
        pytest.skip(f"the local OpenSSL cannot even serve TLS 1.0: {exc}")
    error = _tls_case(ca, tmp_path, context)
    assert isinstance(error, errors.TLSFailed)


def test_the_same_hostile_server_with_a_valid_setup_lets_the_client_in(
    ca: trustme.CA, tmp_path: Path
) -> None:
    """The positive twin: a proper STARTTLS server gets the login, so the cases above mean it."""
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    script = [
        b"* OK hi\r\n",
        Hear(b"CAPABILITY"),
        b"* CAPABILITY IMAP4rev1 STARTTLS\r\n{tag} OK\r\n",
        Hear(b"STARTTLS"),
        b"{tag} OK go\r\n",
        StartTLS(),
        Hear(b"CAPABILITY"),
        b"* CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN\r\n{tag} OK\r\n",
        Hear(b"AUTHENTICATE"),
        b"{tag} OK [CAPABILITY IMAP4rev1] welcome\r\n",
    ]

    async def scenario() -> bytes:
        server = HostileServer(script, tls=server_context(ca.issue_cert("localhost")))
        async with server.running():
            url = ServerURL.parse(f"imap://localhost:{server.port}")
            session = IMAPSession(url, options=ClientOptions(ca_file=ca_file, read_timeout=5))
            await session.connect()
            await session.login(USER, mechanism="PLAIN")
            await session.close()
            await asyncio.sleep(0.05)
            return bytes(server.received)

    received = asyncio.run(scenario())
    # The credentials went out (SASL-IR), after the TLS handshake.
    plain = base64.b64encode(f"\0{USER.user}\0{SECRET}".encode())
    assert b"AUTHENTICATE PLAIN " + plain in received
