"""Server TLS variants, each shown by real clients on implicit TLS and STARTTLS alike.

For every variant, a standard-library client (imaplib, poplib, smtplib) with a
verifying context that trusts the test CA (``ca.pem``) either completes a
session or fails the handshake with exactly the variant's expected error; then
a client that accepts the variant completes a session on the same endpoint, so
the server survived. curl and the reference client (``refclient``) confirm a
few variants independently.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import imaplib
import json
import poplib
import shutil
import smtplib
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from fakeservers.controller import ENDPOINTS, FakeMailServers
from fakeservers.pki import TestPKI
from fakeservers.tls_variants import (
    VARIANTS,
    PreparedTLS,
    TLSVariant,
    TLSVariantUnavailable,
    UnknownTLSVariant,
    tls_variant,
)
from refclient import errors
from refclient.cli import main
from refclient.session.imap import IMAPSession
from refclient.session.options import ClientOptions
from refclient.tls import CertificateReport, verdict
from refclient.urls import ServerURL

USER, PASSWORD = "alice@example.test", "alice-pass"
ENDPOINT_NAMES = [spec.name for spec in ENDPOINTS]
TIMEOUT = 20  # a safety net for a hung peer, never an assertion


# -- servers, one per variant for the whole module ------------------------------------

Start = Callable[[str], FakeMailServers]


@pytest.fixture(scope="module")
def variant_servers(mail_pki: TestPKI) -> Iterator[Start]:
    """Start (once) the six endpoints presenting a variant; skip where OpenSSL cannot."""
    running: dict[str, FakeMailServers] = {}
    unavailable: dict[str, str] = {}

    def start(name: str) -> FakeMailServers:
        if name in unavailable:
            pytest.skip(unavailable[name])
        if name not in running:
            try:
                running[name] = FakeMailServers(pki=mail_pki, tls=name).start()
            except TLSVariantUnavailable as reason:
                unavailable[name] = str(reason)
                pytest.skip(str(reason))
        return running[name]

    yield start
    for servers in running.values():
        servers.stop()


def prepared(servers: FakeMailServers) -> PreparedTLS:
    assert servers.tls is not None
    return servers.tls


# -- one session per endpoint, with the standard library's clients --------------------


def run_session(servers: FakeMailServers, endpoint: str, context: ssl.SSLContext) -> str:
    """Log in as alice over ``endpoint``, one harmless command, log out; the TLS version."""
    host, port = servers.host, servers.endpoints[endpoint].port
    if endpoint in ("imap", "imaps"):
        imap: imaplib.IMAP4
        if endpoint == "imaps":
            imap = imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=TIMEOUT)
        else:
            imap = imaplib.IMAP4(host, port, timeout=TIMEOUT)
            imap.starttls(ssl_context=context)  # RFC 9051 section 6.2.1
        try:
            version = _version(imap.sock)
            assert imap.login(USER, PASSWORD)[0] == "OK"
            assert imap.noop()[0] == "OK"
        finally:
            imap.shutdown()
        return version
    if endpoint in ("pop3", "pop3s"):
        pop: poplib.POP3
        if endpoint == "pop3s":
            pop = poplib.POP3_SSL(host, port, context=context, timeout=TIMEOUT)
        else:
            pop = poplib.POP3(host, port, timeout=TIMEOUT)
            pop.stls(context=context)  # RFC 2595 section 4
        try:
            pop.user(USER)
            pop.pass_(PASSWORD)
            pop.stat()
            version = _version(pop.sock)
            pop.quit()
        finally:
            pop.close()
        return version
    smtp: smtplib.SMTP
    if endpoint == "submissions":
        smtp = smtplib.SMTP_SSL(host, port, context=context, timeout=TIMEOUT)
    else:
        smtp = smtplib.SMTP(host, port, timeout=TIMEOUT)
        smtp.ehlo()
        smtp.starttls(context=context)  # RFC 3207 section 4
    try:
        smtp.ehlo()
        smtp.login(USER, PASSWORD)
        assert smtp.noop()[0] == 250
        version = _version(smtp.sock)
        smtp.quit()
    finally:
        smtp.close()
    return version


def _version(sock: object) -> str:
    assert isinstance(sock, ssl.SSLSocket)
    version = sock.version()
    assert version is not None
    return version


def causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and what it was raised from or while handling (imaplib wraps SSL errors)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def assert_refused(variant: TLSVariant, error: BaseException) -> None:
    failure = variant.failure
    assert failure is not None
    chain = list(causes(error))
    assert any(failure.matches(cause) for cause in chain), chain


# -- every variant, every endpoint ----------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINT_NAMES)
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda variant: variant.name)
def test_a_verifying_client_concludes_what_the_variant_states(
    variant_servers: Start, variant: TLSVariant, endpoint: str
) -> None:
    servers = variant_servers(variant.name)
    tls = prepared(servers)
    # Trusts ca.pem, verifies the variant's host name, and (to see the refusal) offers
    # no client certificate.
    verifying = tls.client_context(client_certificate=False)
    if variant.failure is None:
        version = run_session(servers, endpoint, verifying)
        assert version in ("TLSv1.2", "TLSv1.3")
        if variant.name == "tls1.3-only":
            assert version == "TLSv1.3"
    else:
        with pytest.raises(
            (ssl.SSLError, OSError, imaplib.IMAP4.error, poplib.error_proto)
        ) as info:
            run_session(servers, endpoint, verifying)
        assert_refused(variant, info.value)
    # The server survived: a client that accepts the variant completes a session.
    accepting = tls.client_context(lenient=True)
    version = run_session(servers, endpoint, accepting)
    if variant.legacy_protocol:
        assert version in ("TLSv1", "TLSv1.1")


@pytest.mark.parametrize(
    "name", [variant.name for variant in VARIANTS if variant.failure is not None]
)
def test_the_stated_conclusion_is_what_openssl_reports(variant_servers: Start, name: str) -> None:
    servers = variant_servers(name)
    variant = servers.tls_variant
    with pytest.raises(ssl.SSLError) as info:
        run_session(servers, "imaps", prepared(servers).client_context(client_certificate=False))
    error = info.value
    if isinstance(error, ssl.SSLCertVerificationError):
        # OpenSSL 1.1.1 wrote "self signed", 3.x "self-signed".
        assert variant.expect.replace("-", " ") in error.verify_message.replace("-", " ")
    else:
        assert variant.failure is not None and error.reason in variant.failure.reasons


@pytest.mark.parametrize("endpoint", ENDPOINT_NAMES)
def test_a_client_certificate_from_the_test_ca_is_accepted(
    variant_servers: Start, endpoint: str
) -> None:
    servers = variant_servers("client-cert-required")
    with_certificate = prepared(servers).client_context()  # verifying, nothing relaxed
    assert run_session(servers, endpoint, with_certificate) in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize("endpoint", ENDPOINT_NAMES)
def test_a_client_certificate_from_another_ca_is_refused(
    variant_servers: Start, endpoint: str
) -> None:
    servers = variant_servers("client-cert-required")
    context = prepared(servers).client_context(client_certificate=False)
    TestPKI.create().issue(USER).configure(context)
    with pytest.raises((ssl.SSLError, OSError, imaplib.IMAP4.error, poplib.error_proto)) as info:
        run_session(servers, endpoint, context)
    # TLS 1.3: the server rejects the certificate after the client finished (unknown CA).
    reasons = {getattr(cause, "reason", None) for cause in causes(info.value)}
    assert reasons & {"TLSV1_ALERT_UNKNOWN_CA", "SSLV3_ALERT_BAD_CERTIFICATE"}, reasons


@pytest.mark.parametrize("endpoint", ENDPOINT_NAMES)
def test_tls13_only_refuses_a_client_capped_at_tls12(variant_servers: Start, endpoint: str) -> None:
    servers = variant_servers("tls1.3-only")
    capped = prepared(servers).client_context()
    capped.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises((ssl.SSLError, OSError, imaplib.IMAP4.error)) as info:
        run_session(servers, endpoint, capped)
    reasons = {getattr(cause, "reason", None) for cause in causes(info.value)}
    assert reasons & {"TLSV1_ALERT_PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL"}, reasons


@pytest.mark.parametrize("name", ["tls1.0-only", "tls1.1-only"])
def test_an_old_protocol_variant_is_really_below_the_floor(
    variant_servers: Start, name: str
) -> None:
    servers = variant_servers(name)
    variant = servers.tls_variant
    assert variant.legacy_protocol
    version = run_session(servers, "imaps", prepared(servers).client_context(lenient=True))
    assert version == {"tls1.0-only": "TLSv1", "tls1.1-only": "TLSv1.1"}[name]


# -- the certificates themselves ------------------------------------------------------


def test_certificates_differ_from_valid_in_the_one_stated_way(variant_servers: Start) -> None:
    weak = prepared(variant_servers("weak-key")).certificate.leaf
    weak_key = weak.public_key()
    assert isinstance(weak_key, rsa.RSAPublicKey) and weak_key.key_size == 1024
    sha1 = prepared(variant_servers("sha1-signature")).certificate.leaf
    assert sha1.signature_hash_algorithm is not None
    assert sha1.signature_hash_algorithm.name == "sha1"
    valid = prepared(variant_servers("valid")).certificate.leaf
    assert valid.signature_hash_algorithm is not None
    assert valid.signature_hash_algorithm.name == "sha256"
    missing = prepared(variant_servers("missing-intermediate")).certificate
    assert len(missing.chain_pem) == 1  # the intermediate is withheld
    assert missing.leaf.issuer != x509.load_pem_x509_certificate(missing.chain_pem[0]).subject
    partial = prepared(variant_servers("wildcard-non-leftmost")).certificate.leaf
    names = partial.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["mail.*.test"]


def test_unknown_variant_names_the_choices(mail_pki: TestPKI) -> None:
    with pytest.raises(UnknownTLSVariant, match="expired"):
        FakeMailServers(pki=mail_pki, tls="expird")
    assert tls_variant("expired").failure is not None
    assert tls_variant("valid").failure is None


def test_a_variant_openssl_cannot_complete_is_unavailable_with_the_reason(
    mail_pki: TestPKI,
) -> None:
    # No version satisfies both bounds: the in-memory self-check handshake fails.
    impossible = dataclasses.replace(
        tls_variant("tls1.3-only"),
        name="impossible",
        minimum_version=ssl.TLSVersion.TLSv1_3,
        maximum_version=ssl.TLSVersion.TLSv1_2,
    )
    with pytest.raises(TLSVariantUnavailable, match="'impossible'"):
        FakeMailServers(pki=mail_pki, tls=impossible, ports={"imaps": 0}).start()
    assert tls_variant("tls1.3-only").prepare(mail_pki).server_context is not None


# -- servers.json and the command line ------------------------------------------------


def test_servers_json_states_the_variant_and_its_files(mail_pki: TestPKI, tmp_path: Path) -> None:
    with FakeMailServers(pki=mail_pki, tls="client-cert-required", state_dir=tmp_path) as servers:
        state = json.loads((tmp_path / "servers.json").read_text(encoding="utf-8"))
        tls = state["tls"]
        assert tls["variant"] == "client-cert-required"
        assert Path(tls["trust"]) == servers.ca_file == tmp_path / "ca.pem"
        client_pem = Path(tls["client_cert"])
        assert client_pem == tmp_path / "client.pem"
        # What the file says works: a stdlib client loading it logs in.
        context = ssl.create_default_context(cafile=tls["trust"])
        context.load_cert_chain(client_pem)
        assert run_session(servers, "pop3s", context).startswith("TLSv1")


def test_servers_json_of_the_default_variant_names_no_client_certificate(
    mail_pki: TestPKI, tmp_path: Path
) -> None:
    with FakeMailServers(pki=mail_pki, state_dir=tmp_path):
        tls = json.loads((tmp_path / "servers.json").read_text(encoding="utf-8"))["tls"]
    assert tls["variant"] == "valid" and tls["expect"] == "verified"
    assert tls["client_cert"] is None
    assert not (tmp_path / "client.pem").exists()


def test_serve_tls_list_names_every_variant(capsys: pytest.CaptureFixture[str]) -> None:
    for word in ("list", "help"):
        assert main(["serve", "--tls", word]) == 0
        listed = capsys.readouterr().out.splitlines()
        assert [line.split()[0] for line in listed] == [variant.name for variant in VARIANTS]


def test_serve_refuses_an_unknown_variant(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--tls", "nonsense"]) == 2
    assert "unknown TLS variant 'nonsense'" in capsys.readouterr().err


# -- curl -----------------------------------------------------------------------------

needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")

#: CURLE_PEER_FAILED_VERIFICATION (60) for certificates, CURLE_SSL_CONNECT_ERROR (35)
#: for handshakes the server ends.
CURL_EXIT = {"valid": 0, "expired": 60, "wrong-host": 60, "wildcard": 0, "self-signed": 60}


def _curl(
    servers: FakeMailServers, endpoint: str, *extra: str
) -> subprocess.CompletedProcess[bytes]:
    tls = prepared(servers)
    scheme = {"imaps": "imaps", "imap": "imap", "pop3s": "pop3s", "pop3": "pop3"}[endpoint]
    url = f"{scheme}://{tls.variant.verify_as}:{servers.endpoints[endpoint].port}/"
    command = ["curl", "--silent", "--show-error", "--max-time", str(TIMEOUT)]
    command += ["--connect-to", f"::{servers.host}:", "--cacert", str(servers.ca_file)]
    command += ["-u", f"{USER}:{PASSWORD}"]
    if not endpoint.endswith("s"):
        command.append("--ssl-reqd")  # STARTTLS or nothing
    return subprocess.run(
        [*command, *extra, url], capture_output=True, timeout=TIMEOUT + 10, check=False
    )


@pytest.mark.curl
@needs_curl
@pytest.mark.parametrize("endpoint", ["imaps", "imap", "pop3s", "pop3"])
@pytest.mark.parametrize("name", sorted(CURL_EXIT))
def test_curl_concludes_what_the_variant_states(
    variant_servers: Start, name: str, endpoint: str
) -> None:
    result = _curl(variant_servers(name), endpoint)
    assert result.returncode == CURL_EXIT[name], result.stderr


@pytest.mark.curl
@needs_curl
@pytest.mark.parametrize("endpoint", ["imaps", "imap"])
def test_curl_with_and_without_the_client_certificate(
    variant_servers: Start, endpoint: str, tmp_path: Path
) -> None:
    servers = variant_servers("client-cert-required")
    tls = prepared(servers)
    assert tls.client_certificate is not None
    client_pem = tmp_path / "client.pem"
    client_pem.write_bytes(tls.client_certificate.pem())
    assert _curl(servers, endpoint, "--cert", str(client_pem)).returncode == 0
    refused = _curl(servers, endpoint)
    assert refused.returncode in (35, 56), refused.stderr  # handshake or first read fails


# -- the reference client -------------------------------------------------------------


def _refclient_connect(servers: FakeMailServers, options: ClientOptions) -> IMAPSession:
    async def connect() -> IMAPSession:
        session = IMAPSession(ServerURL.parse(servers.url("imaps")), options=options)
        try:
            await session.connect()
        finally:
            await session.close()
        return session

    return asyncio.run(connect())


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("expired", "certificate rejected: certificate has expired"),
        ("self-signed", "certificate rejected: self"),
        ("wrong-host", "certificate rejected: IP address mismatch"),
        ("missing-intermediate", "certificate rejected: unable to get local issuer certificate"),
        ("tls1.0-only", "TLS failed:"),
    ],
)
def test_the_reference_client_refuses_with_the_reason(
    variant_servers: Start, name: str, message: str
) -> None:
    servers = variant_servers(name)
    with pytest.raises(errors.TLSFailed) as info:
        _refclient_connect(servers, ClientOptions(ca_file=servers.ca_file))
    assert info.value.message.startswith(message), info.value.message
    assert verdict(verified=True, failure=info.value.message).startswith("failed: ")


def test_the_reference_client_verifies_the_valid_variant(variant_servers: Start) -> None:
    servers = variant_servers("valid")
    session = _refclient_connect(servers, ClientOptions(ca_file=servers.ca_file))
    assert session.tls is not None and session.tls.certificate_der is not None
    report = CertificateReport.from_der(session.tls.certificate_der, verdict=verdict(verified=True))
    assert report.verdict == "verified"
    assert {"DNS:localhost", "IP:127.0.0.1"} <= set(report.sans)
    assert report.days_to_expiry > 0


@pytest.mark.parametrize("name", ["expired", "not-yet-valid"])
def test_the_certificate_report_shows_the_validity_fault(variant_servers: Start, name: str) -> None:
    servers = variant_servers(name)
    # Verification off (a lab option) to read the certificate the server presents.
    session = _refclient_connect(servers, ClientOptions(ca_file=servers.ca_file, verify=False))
    assert session.tls is not None and session.tls.certificate_der is not None
    report = CertificateReport.from_der(
        session.tls.certificate_der, verdict=verdict(verified=False)
    )
    assert report.verdict == "unverified"
    if name == "expired":
        assert report.days_to_expiry < 0
    else:
        assert report.not_before > dt.datetime.now(dt.UTC)  # not valid yet
        assert report.days_to_expiry > 0


def test_serve_tls_writes_the_variant_into_servers_json(tmp_path: Path) -> None:
    ports = [f"--{spec.name}-port=0" for spec in ENDPOINTS]
    command = [sys.executable, "-m", "refclient", "serve", "--state-dir", str(tmp_path)]
    process = subprocess.Popen(
        [*command, *ports, "--tls", "client-cert-required"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        # The table is printed once servers.json is written.
        first_line = process.stdout.readline() if process.stdout else b""
        assert first_line.startswith(b"mailcompat fake servers"), first_line
        tls = json.loads((tmp_path / "servers.json").read_text(encoding="utf-8"))["tls"]
    finally:
        process.terminate()
        process.communicate(timeout=TIMEOUT)
    assert tls["variant"] == "client-cert-required"
    assert Path(tls["trust"]) == tmp_path / "ca.pem"
    assert Path(tls["client_cert"]).read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
