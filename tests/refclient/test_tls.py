"""The TLS policy against real TLS servers built from a trustme CA."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from refclient.tls import (
    UNVERIFIED,
    VERIFIED,
    ALPNMismatch,
    CertificateReport,
    check_alpn,
    client_context,
    verdict,
)
from refclient.transcript import Transcript
from refclient.transport.stream import Stream, TLSInfo
from tests.refclient.security.hostile import HostileServer, StartTLS

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA(organization_name="mailcompat TLS test CA")


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_bytes(ca.cert_pem.bytes())
    return path


def server_context(
    cert: trustme.LeafCert,
    *,
    alpn: tuple[str, ...] = (),
    maximum: ssl.TLSVersion | None = None,
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    if alpn:
        context.set_alpn_protocols(list(alpn))
    if maximum is not None:
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        with warnings.catch_warnings():  # TLS 1.0 is deprecated: that is the point
            warnings.simplefilter("ignore", DeprecationWarning)
            context.maximum_version = maximum
    return context


@asynccontextmanager
async def tls_server(context: ssl.SSLContext) -> AsyncIterator[int]:
    """A server that completes the handshake, says one line and closes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK ready\r\n")
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def handshake(port: int, context: ssl.SSLContext, *, name: str = "localhost") -> TLSInfo:
    stream = await Stream.connect(
        "127.0.0.1",
        port,
        transcript=Transcript(),
        ssl_context=context,
        server_hostname=name,
        timeout=5,
    )
    try:
        assert stream.tls is not None
        return stream.tls
    finally:
        stream.abort()


def run_handshake(
    cert: trustme.LeafCert, context: ssl.SSLContext, *, name: str = "localhost", **server: object
) -> TLSInfo:
    async def main() -> TLSInfo:
        async with tls_server(server_context(cert, **server)) as port:  # type: ignore[arg-type]
            return await handshake(port, context, name=name)

    return asyncio.run(main())


# -- verification ------------------------------------------------------------------


def test_valid_certificate_is_verified_and_reported(ca: trustme.CA, ca_file: Path) -> None:
    cert = ca.issue_cert("localhost", "127.0.0.1", common_name="localhost")
    info = run_handshake(cert, client_context(ca_file=ca_file))
    assert info.version in ("TLSv1.2", "TLSv1.3")
    assert info.certificate_der is not None
    report = CertificateReport.from_der(info.certificate_der, verdict=verdict(verified=True))
    assert report.verdict == VERIFIED
    assert report.sans == ("DNS:localhost", "IP:127.0.0.1")
    assert "CN=localhost" in report.subject
    assert "mailcompat TLS test CA" in report.issuer
    assert report.days_to_expiry == (report.not_after - NOW).days
    assert report.days_to_expiry > 300
    assert report.not_before < NOW < report.not_after
    assert report.to_dict()["verdict"] == "verified"
    assert report.lines()[0] == "certificate: verified"


def test_unknown_ca_is_refused(ca: trustme.CA) -> None:
    cert = ca.issue_cert("localhost")
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        run_handshake(cert, client_context())


def test_unknown_ca_is_accepted_only_with_verification_off(
    ca: trustme.CA, caplog: pytest.LogCaptureFixture
) -> None:
    cert = ca.issue_cert("localhost")
    info = run_handshake(cert, client_context(verify=False))
    assert "verification is OFF" in caplog.text
    assert info.certificate_der is not None
    report = CertificateReport.from_der(info.certificate_der, verdict=verdict(verified=False))
    assert report.verdict == UNVERIFIED


def test_wrong_host_name_is_refused(ca: trustme.CA, ca_file: Path) -> None:
    cert = ca.issue_cert("mail.example.test")
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        run_handshake(cert, client_context(ca_file=ca_file), name="other.example.test")
    info = run_handshake(cert, client_context(ca_file=ca_file), name="mail.example.test")
    assert info.server_hostname == "mail.example.test"


def test_common_name_alone_is_not_a_host_name(ca: trustme.CA, ca_file: Path) -> None:
    """RFC 7817 section 3 / RFC 6125 section 6.4.4: a DNS-ID, never the CN, names the host."""
    cert = ca.issue_cert("other.example.test", common_name="mail.example.test")
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        run_handshake(cert, client_context(ca_file=ca_file), name="mail.example.test")


def test_expired_certificate_is_refused_and_reported(ca: trustme.CA, ca_file: Path) -> None:
    cert = ca.issue_cert(
        "localhost", not_before=NOW - dt.timedelta(days=30), not_after=NOW - dt.timedelta(days=2)
    )
    with pytest.raises(ssl.SSLCertVerificationError, match="expired") as failure:
        run_handshake(cert, client_context(ca_file=ca_file))
    info = run_handshake(cert, client_context(verify=False))
    assert info.certificate_der is not None
    reason = failure.value.verify_message
    report = CertificateReport.from_der(
        info.certificate_der, verdict=verdict(verified=False, failure=reason)
    )
    assert report.verdict == "failed: certificate has expired"
    assert report.days_to_expiry in (-3, -2)


@pytest.mark.parametrize(
    ("name", "accepted"),
    [
        ("mail.example.test", True),
        ("a.b.example.test", False),  # a wildcard covers one label only
        ("example.test", False),  # and never the parent domain
    ],
)
def test_wildcard_matches_only_the_left_most_label(
    ca: trustme.CA, ca_file: Path, name: str, accepted: bool
) -> None:
    cert = ca.issue_cert("*.example.test")
    if accepted:
        assert run_handshake(cert, client_context(ca_file=ca_file), name=name).version
    else:
        with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
            run_handshake(cert, client_context(ca_file=ca_file), name=name)


def test_tls_1_0_only_server_is_refused(ca: trustme.CA, ca_file: Path) -> None:
    cert = ca.issue_cert("localhost")
    legacy = server_context(cert, maximum=ssl.TLSVersion.TLSv1)
    legacy.set_ciphers("ALL:@SECLEVEL=0")

    async def legacy_handshake(context: ssl.SSLContext) -> TLSInfo:
        # The scripted server flushes its alert when it refuses a handshake.
        async with HostileServer([StartTLS(), b"* OK\r\n"], tls=legacy).running() as server:
            return await handshake(server.port, context)

    permissive = client_context(ca_file=ca_file, minimum_version=ssl.TLSVersion.MINIMUM_SUPPORTED)
    permissive.set_ciphers("ALL:@SECLEVEL=0")
    try:
        assert asyncio.run(legacy_handshake(permissive)).version == "TLSv1"
    except ssl.SSLError as exc:
        pytest.skip(f"the local OpenSSL cannot speak TLS 1.0 even when asked: {exc.reason}")
    with pytest.raises(ssl.SSLError, match=r"(?i)protocol.version"):
        asyncio.run(legacy_handshake(client_context(ca_file=ca_file)))


# -- ALPN --------------------------------------------------------------------------------


def test_alpn_offered_and_selected(ca: trustme.CA, ca_file: Path) -> None:
    cert = ca.issue_cert("localhost")
    info = run_handshake(cert, client_context(ca_file=ca_file, alpn=("imap",)), alpn=("imap",))
    assert info.alpn == "imap"
    check_alpn(("imap",), info.alpn)


def test_alpn_without_overlap_selects_nothing(ca: trustme.CA, ca_file: Path) -> None:
    cert = ca.issue_cert("localhost")
    info = run_handshake(cert, client_context(ca_file=ca_file, alpn=("imap",)), alpn=("http/1.1",))
    assert info.alpn is None
    check_alpn(("imap",), info.alpn)


@pytest.mark.parametrize(("offered", "selected"), [(("imap",), "http/1.1"), ((), "pop3")])
def test_alpn_selection_not_offered_is_refused(offered: tuple[str, ...], selected: str) -> None:
    with pytest.raises(ALPNMismatch, match="ALPACA"):
        check_alpn(offered, selected)


# -- reports -----------------------------------------------------------------------------


def test_verdicts() -> None:
    assert verdict(verified=True) == "verified"
    assert verdict(verified=False) == "unverified"
    assert verdict(verified=True, failure="Hostname mismatch") == "failed: Hostname mismatch"


def test_report_of_a_certificate_without_alternative_names(ca: trustme.CA) -> None:

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bare")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=10, hours=1))
        .sign(key, hashes.SHA256())
    )

    report = CertificateReport.from_der(
        certificate.public_bytes(Encoding.DER), verdict="x", now=NOW
    )
    assert report.sans == ()
    assert report.days_to_expiry == 10
    assert report.subject == report.issuer == "CN=bare"
    assert "names: (none)" in "\n".join(report.lines())
