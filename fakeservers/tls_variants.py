"""Server TLS variants: one deliberately specific certificate or protocol fault each.

``FakeMailServers(tls="expired")`` and ``mailcompat serve --tls expired`` make
every TLS endpoint (implicit TLS and STARTTLS alike) present that fault, so a
client can be tested for what it must conclude. Each :class:`TLSVariant`
states:

- the one way it differs from ``valid`` (``summary``);
- the CA file a client should trust: always the test CA the servers write as
  ``ca.pem``, so that the fault named is the only reason to refuse;
- the host name a client must verify (``verify_as``; ``localhost`` unless the
  variant is about names);
- what a verifying client must conclude (``expect``), and as data
  (``failure``): the OpenSSL verification code (``X509_V_ERR_*``) or the
  OpenSSL reasons of a protocol-level refusal.

Variants the local OpenSSL cannot serve (TLS 1.0 where it is compiled out, an
RSA-1024 key under a forced security level) raise :class:`TLSVariantUnavailable`
with the reason, found by a real in-memory handshake rather than by guessing
from version numbers.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
from cryptography.hazmat.primitives.asymmetric import rsa

from fakeservers.pki import SERVER_NAMES, ServerCertificate, TestPKI, self_signed

#: OpenSSL certificate verification codes (``X509_V_ERR_*``, ``x509_vfy.h``); stable
#: across OpenSSL 1.1.1 and 3.x, unlike the messages' wording.
X509_V_ERR_CERT_NOT_YET_VALID = 9
X509_V_ERR_CERT_HAS_EXPIRED = 10
X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT = 18
X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN = 19
X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20
X509_V_ERR_HOSTNAME_MISMATCH = 62
X509_V_ERR_EE_KEY_TOO_SMALL = 66
X509_V_ERR_CA_MD_TOO_WEAK = 68

#: OpenSSL reasons a client sees when the server speaks only a protocol version
#: below its floor (which side notices first differs between versions).
_VERSION_REFUSED = frozenset(
    {
        "UNSUPPORTED_PROTOCOL",
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "NO_PROTOCOLS_AVAILABLE",
        "WRONG_SSL_VERSION",
        "VERSION_TOO_LOW",
    }
)
#: What a client without a certificate sees from a server that requires one: after
#: its own handshake completed in TLS 1.3 (RFC 8446 section 4.4.2.4, alert
#: certificate_required), during it in TLS 1.2 (RFC 5246 section 7.4.6).
_CLIENT_CERT_REFUSED = frozenset(
    {
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
        "PEER_DID_NOT_RETURN_A_CERTIFICATE",
    }
)

#: The name wildcard variants are verified against (an RFC 2606 test domain):
#: a client needs ``mail.example.test`` to reach 127.0.0.1 (hosts file, or curl's
#: ``--connect-to``) or to verify that name while connecting elsewhere.
WILDCARD_HOST = "mail.example.test"


class TLSVariantUnavailable(RuntimeError):
    """The local OpenSSL cannot serve this variant; the message says why."""


class UnknownTLSVariant(ValueError):
    """No variant has this name."""


@dataclass(frozen=True)
class Failure:
    """How a verifying client's handshake fails against a variant."""

    #: The ``X509_V_ERR_*`` code of a certificate verification failure.
    verify_code: int | None = None
    #: OpenSSL reason names (``ssl.SSLError.reason``) of a protocol-level refusal.
    reasons: frozenset[str] = frozenset()

    def matches(self, error: BaseException) -> bool:
        """Whether ``error`` (raised by a client) is this failure."""
        if self.verify_code is not None:
            return (
                isinstance(error, ssl.SSLCertVerificationError)
                and error.verify_code == self.verify_code
            )
        return isinstance(error, ssl.SSLError) and error.reason in self.reasons


CertificateMaker = Callable[[TestPKI], ServerCertificate]


@dataclass(frozen=True, kw_only=True)
class TLSVariant:
    """One server TLS configuration: a certificate and the protocol versions offered."""

    name: str
    #: One line for ``mailcompat serve --tls list``.
    summary: str
    #: What a client verifying against ``ca.pem`` and ``verify_as`` must conclude.
    expect: str
    #: ``None``: such a client completes the handshake.
    failure: Failure | None
    #: The RFC section the expected behaviour rests on.
    reference: str
    certificate: CertificateMaker = field(repr=False)
    verify_as: str = "localhost"
    minimum_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2
    maximum_version: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED
    #: Lower the server's OpenSSL security level to 0 (a weak key, a SHA-1
    #: signature, TLS 1.0/1.1 are refused at the default level 2).
    legacy_security: bool = False
    client_certificate_required: bool = False

    @property
    def legacy_protocol(self) -> bool:
        """Whether this variant offers only a version below TLS 1.2 (RFC 8996)."""
        highest = self.maximum_version
        return highest is not ssl.TLSVersion.MAXIMUM_SUPPORTED and highest < ssl.TLSVersion.TLSv1_2

    def prepare(self, pki: TestPKI, state_dir: Path | None = None) -> PreparedTLS:
        """Build the certificate and server context from ``pki``'s CA, and check them.

        With ``state_dir``, a variant requiring client certificates writes one
        issued by the test CA there as ``client.pem`` (chain and key). Raises
        :class:`TLSVariantUnavailable` when the local OpenSSL refuses the
        variant: loading it, or completing a handshake with a client willing
        to accept it.
        """
        certificate = self.certificate(pki)
        client_certificate = (
            pki.issue("alice@example.test") if self.client_certificate_required else None
        )
        try:
            context = self._server_context(pki, certificate)
        except (ssl.SSLError, ValueError) as error:
            raise TLSVariantUnavailable(
                f"TLS variant {self.name!r}: the local {ssl.OPENSSL_VERSION} will not load it "
                f"({error})"
            ) from error
        client_file = None
        if client_certificate is not None and state_dir is not None:
            client_file = state_dir / "client.pem"
            client_file.write_bytes(client_certificate.pem())
        prepared = PreparedTLS(
            variant=self,
            certificate=certificate,
            server_context=context,
            ca_pem=pki.ca_pem,
            client_certificate=client_certificate,
            client_certificate_file=client_file,
        )
        try:
            _handshake_in_memory(context, prepared.client_context(lenient=True))
        except ssl.SSLError as error:
            raise TLSVariantUnavailable(
                f"TLS variant {self.name!r}: the local {ssl.OPENSSL_VERSION} cannot complete "
                f"a handshake with it even with a client willing to accept it ({error})"
            ) from error
        return prepared

    def _server_context(self, pki: TestPKI, certificate: ServerCertificate) -> ssl.SSLContext:
        context = (
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            if self.name == "valid"  # exactly the servers' usual context
            else AlertingServerContext(ssl.PROTOCOL_TLS_SERVER)
        )
        if self.legacy_security:
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():  # TLS 1.0 and 1.1 are deprecated: that is the point
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = self.minimum_version
            context.maximum_version = self.maximum_version
        if self.client_certificate_required:
            # RFC 8446 section 4.3.2: ask for a certificate; refuse the handshake without one.
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cadata=pki.ca_pem.decode("ascii"))
        certificate.configure(context)
        return context

    def describe(self) -> dict[str, Any]:
        """The variant's facts for ``servers.json`` (without the files' paths)."""
        return {
            "variant": self.name,
            "summary": self.summary,
            "verify_as": self.verify_as,
            "expect": self.expect,
            "reference": self.reference,
            "trust": None,
            "client_cert": None,
        }


@dataclass(frozen=True, kw_only=True)
class PreparedTLS:
    """A variant made real: its certificate, the servers' context, client material."""

    variant: TLSVariant
    certificate: ServerCertificate
    server_context: ssl.SSLContext
    #: The test CA (``ca.pem``) a client should trust.
    ca_pem: bytes
    client_certificate: ServerCertificate | None = None
    client_certificate_file: Path | None = None

    def client_context(
        self, *, lenient: bool = False, client_certificate: bool = True
    ) -> VerifyAsContext:
        """A client context for this variant: trusts the test CA, verifies ``verify_as``.

        It carries the client certificate when the variant requires one (unless
        ``client_certificate`` is false, to see the server refuse). With
        ``lenient``, it also gives up exactly what the variant breaks (certificate
        verification, or the TLS 1.2 floor), so that it can still talk to the
        server: a lab client, e.g. to show the server keeps serving.
        """
        context = VerifyAsContext(ssl.PROTOCOL_TLS_CLIENT)
        context.verify_as = self.variant.verify_as
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_verify_locations(cadata=self.ca_pem.decode("ascii"))
        if self.client_certificate is not None and client_certificate:
            self.client_certificate.configure(context)
        failure = self.variant.failure
        if lenient and failure is not None and failure.verify_code is not None:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if lenient and self.variant.legacy_security:
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
        if lenient and self.variant.legacy_protocol:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                context.minimum_version = self.variant.minimum_version
        return context

    def describe(self, ca_file: Path | None = None) -> dict[str, Any]:
        """The ``tls`` entry of ``servers.json``."""
        described = self.variant.describe()
        described["trust"] = str(ca_file) if ca_file is not None else None
        described["client_cert"] = (
            str(self.client_certificate_file) if self.client_certificate_file else None
        )
        return described


class VerifyAsContext(ssl.SSLContext):
    """A client context that verifies one fixed host name, whatever address it connects to.

    The standard library's clients verify the host they connect to; this lets
    them connect to 127.0.0.1 and still check ``mail.example.test`` (what
    curl's ``--connect-to`` does), so name variants need no hosts file.
    """

    verify_as: str = "localhost"

    def wrap_socket(  # noqa: PLR0917 (the signature of SSLContext.wrap_socket)
        self,
        sock: socket.socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        """``SSLContext.wrap_socket`` with ``server_hostname`` set to :attr:`verify_as`."""
        return super().wrap_socket(
            sock,
            server_side=server_side,
            do_handshake_on_connect=do_handshake_on_connect,
            suppress_ragged_eofs=suppress_ragged_eofs,
            server_hostname=None if server_side else self.verify_as,
            session=session,
        )

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        """``SSLContext.wrap_bio`` (used by asyncio) with :attr:`verify_as`."""
        return super().wrap_bio(
            incoming,
            outgoing,
            server_side=server_side,
            server_hostname=None if server_side else self.verify_as,
            session=session,
        )


class AlertingSSLObject(ssl.SSLObject):
    """A server-side TLS object whose refusal reaches the client as a TLS alert.

    asyncio's TLS layer (and aiosmtpd's, built on it) drops the fatal alert
    OpenSSL has queued when a server-side handshake fails and just closes the
    connection, so a client would see a bare EOF where a real server sends,
    e.g., ``protocol_version`` (RFC 8446 section 6.2) or
    ``certificate_required`` (RFC 8446 section 4.4.2.4). When the handshake
    fails with an alert pending, this object first reports "want read", so the
    pump sends the alert, and raises the error on the next call (or the client
    closes, which ends the handshake too).
    """

    outgoing: ssl.MemoryBIO | None = None
    _deferred: ssl.SSLError | None = None

    def do_handshake(self) -> None:
        """``SSLObject.do_handshake``, delivering a fatal alert before failing."""
        if self._deferred is not None:
            raise self._deferred
        try:
            super().do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise
        except ssl.SSLError as error:
            if self.outgoing is None or not self.outgoing.pending:
                raise
            self._deferred = error
            raise ssl.SSLWantReadError("sending the alert first") from error


class AlertingServerContext(ssl.SSLContext):
    """A server context whose TLS objects are :class:`AlertingSSLObject`."""

    sslobject_class = AlertingSSLObject

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        """``SSLContext.wrap_bio``, letting the object see the BIO its alert goes to."""
        wrapped = super().wrap_bio(
            incoming,
            outgoing,
            server_side=server_side,
            server_hostname=server_hostname,
            session=session,
        )
        if isinstance(wrapped, AlertingSSLObject):
            wrapped.outgoing = outgoing
        return wrapped


def _handshake_in_memory(server: ssl.SSLContext, client: ssl.SSLContext) -> None:
    """Run one full handshake between two contexts over memory BIOs; raise its error."""
    client_in, client_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_in, server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    sides = [
        (
            client.wrap_bio(client_in, client_out, server_hostname="localhost"),
            client_out,
            server_in,
        ),
        (server.wrap_bio(server_in, server_out, server_side=True), server_out, client_in),
    ]
    done = [False, False]
    for _ in range(16):  # a handshake takes a handful of flights
        for index, (endpoint, outgoing, peer_incoming) in enumerate(sides):
            if not done[index]:
                try:
                    endpoint.do_handshake()
                    done[index] = True
                except ssl.SSLWantReadError:
                    pass
            data = outgoing.read()
            if data:
                peer_incoming.write(data)
        if all(done):
            return
    raise ssl.SSLError("the in-memory handshake did not complete")


# -- the catalogue --------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _valid(pki: TestPKI) -> ServerCertificate:
    return pki.server_certificate


def _expired(pki: TestPKI) -> ServerCertificate:
    return pki.issue(
        *SERVER_NAMES,
        not_before=_now() - dt.timedelta(days=60),
        not_after=_now() - dt.timedelta(days=30),
    )


def _not_yet_valid(pki: TestPKI) -> ServerCertificate:
    return pki.issue(
        *SERVER_NAMES,
        not_before=_now() + dt.timedelta(days=30),
        not_after=_now() + dt.timedelta(days=395),
    )


def _self_signed(pki: TestPKI) -> ServerCertificate:
    return self_signed(*SERVER_NAMES)


def _unknown_ca(pki: TestPKI) -> ServerCertificate:
    # Sent with its root, as servers of a private CA often do.
    other = trustme.CA(organization_name="mailcompat unknown CA")
    return pki.issue(*SERVER_NAMES, issuer=other).with_chain(other.cert_pem.bytes())


def _names(*names: str) -> CertificateMaker:
    def make(pki: TestPKI) -> ServerCertificate:
        return pki.issue(*names)

    return make


def _weak_key(pki: TestPKI) -> ServerCertificate:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return pki.issue(*SERVER_NAMES, key=key)


def _sha1(pki: TestPKI) -> ServerCertificate:
    return pki.issue(*SERVER_NAMES, sha1=True)


def _missing_intermediate(pki: TestPKI) -> ServerCertificate:
    intermediate = pki.ca.create_child_ca()
    return pki.issue(*SERVER_NAMES, issuer=intermediate).without_chain()


_MISMATCH = Failure(verify_code=X509_V_ERR_HOSTNAME_MISMATCH)

VARIANTS: tuple[TLSVariant, ...] = (
    TLSVariant(
        name="valid",
        summary="a certificate for localhost, 127.0.0.1 and ::1 from the test CA",
        expect="verified",
        failure=None,
        reference="RFC 8314 section 2; RFC 6125 section 6",
        certificate=_valid,
    ),
    TLSVariant(
        name="expired",
        summary="the certificate's validity ended 30 days ago",
        expect="certificate has expired",
        failure=Failure(verify_code=X509_V_ERR_CERT_HAS_EXPIRED),
        reference="RFC 5280 section 4.1.2.5",
        certificate=_expired,
    ),
    TLSVariant(
        name="not-yet-valid",
        summary="the certificate's validity starts in 30 days",
        expect="certificate is not yet valid",
        failure=Failure(verify_code=X509_V_ERR_CERT_NOT_YET_VALID),
        reference="RFC 5280 section 4.1.2.5",
        certificate=_not_yet_valid,
    ),
    TLSVariant(
        name="self-signed",
        summary="a certificate that signs itself; no CA vouches for it",
        expect="self-signed certificate",
        failure=Failure(verify_code=X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT),
        reference="RFC 5280 section 6.1",
        certificate=_self_signed,
    ),
    TLSVariant(
        name="unknown-ca",
        summary="issued (and sent with its root) by a CA other than the test CA",
        expect="self-signed certificate in certificate chain",
        failure=Failure(verify_code=X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN),
        reference="RFC 5280 section 6.1",
        certificate=_unknown_ca,
    ),
    TLSVariant(
        name="wrong-host",
        summary="a certificate for mail.example.test only, presented for localhost",
        expect="Hostname mismatch, certificate is not valid for 'localhost'",
        failure=_MISMATCH,
        reference="RFC 6125 section 6.3; RFC 7817 section 3",
        certificate=_names("mail.example.test"),
    ),
    TLSVariant(
        name="wildcard",
        summary="*.example.test presented for mail.example.test (a valid wildcard match)",
        expect="verified",
        failure=None,
        reference="RFC 6125 section 6.4.3",
        certificate=_names("*.example.test"),
        verify_as=WILDCARD_HOST,
    ),
    TLSVariant(
        name="wildcard-for-localhost",
        summary="*.example.test presented for localhost (matches another domain only)",
        expect="Hostname mismatch, certificate is not valid for 'localhost'",
        failure=_MISMATCH,
        reference="RFC 6125 section 6.4.3",
        certificate=_names("*.example.test"),
    ),
    TLSVariant(
        name="wildcard-two-labels",
        summary="*.example.test presented for imap.mail.example.test (* spans one label)",
        expect="Hostname mismatch, certificate is not valid for 'imap.mail.example.test'",
        failure=_MISMATCH,
        reference="RFC 6125 section 6.4.3",
        certificate=_names("*.example.test"),
        verify_as=f"imap.{WILDCARD_HOST}",
    ),
    TLSVariant(
        name="wildcard-non-leftmost",
        summary="mail.*.test presented for mail.example.test (wildcard not in the left-most label)",
        expect="Hostname mismatch, certificate is not valid for 'mail.example.test'",
        failure=_MISMATCH,
        reference="RFC 6125 section 6.4.3; RFC 9525 section 6.3",
        certificate=_names("mail.*.test"),
        verify_as=WILDCARD_HOST,
    ),
    TLSVariant(
        name="wildcard-partial-label",
        summary="m*.example.test presented for mail.example.test (partial-label wildcard)",
        expect="Hostname mismatch, certificate is not valid for 'mail.example.test'",
        failure=_MISMATCH,
        reference="RFC 9525 section 6.3 (forbids what RFC 6125 section 6.4.3 allowed)",
        certificate=_names("m*.example.test"),
        verify_as=WILDCARD_HOST,
    ),
    TLSVariant(
        name="weak-key",
        summary="a 1024-bit RSA key (the server runs at OpenSSL security level 0)",
        expect="EE certificate key too weak",
        failure=Failure(verify_code=X509_V_ERR_EE_KEY_TOO_SMALL),
        reference="NIST SP 800-131A (112-bit floor); RFC 8603 section 4",
        certificate=_weak_key,
        legacy_security=True,
    ),
    TLSVariant(
        name="sha1-signature",
        summary="the test CA signed the certificate with SHA-1",
        expect="CA signature digest algorithm too weak",
        failure=Failure(verify_code=X509_V_ERR_CA_MD_TOO_WEAK),
        reference="RFC 9155 section 2 (SHA-1 deprecated); RFC 3279 section 2.2",
        certificate=_sha1,
        legacy_security=True,
    ),
    TLSVariant(
        name="missing-intermediate",
        summary="issued by an intermediate of the test CA that the server does not send",
        expect="unable to get local issuer certificate",
        failure=Failure(verify_code=X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY),
        reference="RFC 8446 section 4.4.2; RFC 5280 section 6.1",
        certificate=_missing_intermediate,
    ),
    TLSVariant(
        name="tls1.0-only",
        summary="only TLS 1.0, below the TLS 1.2 floor (where the local OpenSSL still has it)",
        expect="unsupported protocol: TLS 1.0 is below the client's TLS 1.2 floor",
        failure=Failure(reasons=_VERSION_REFUSED),
        reference="RFC 8996 section 2; RFC 8314 section 4.1",
        certificate=_valid,
        minimum_version=ssl.TLSVersion.TLSv1,
        maximum_version=ssl.TLSVersion.TLSv1,
        legacy_security=True,
    ),
    TLSVariant(
        name="tls1.1-only",
        summary="only TLS 1.1, below the TLS 1.2 floor (where the local OpenSSL still has it)",
        expect="unsupported protocol: TLS 1.1 is below the client's TLS 1.2 floor",
        failure=Failure(reasons=_VERSION_REFUSED),
        reference="RFC 8996 section 3; RFC 8314 section 4.1",
        certificate=_valid,
        minimum_version=ssl.TLSVersion.TLSv1_1,
        maximum_version=ssl.TLSVersion.TLSv1_1,
        legacy_security=True,
    ),
    TLSVariant(
        name="tls1.3-only",
        summary="only TLS 1.3; a client capped at TLS 1.2 cannot connect",
        expect="verified (TLSv1.3)",
        failure=None,
        reference="RFC 8446; RFC 8996",
        certificate=_valid,
        minimum_version=ssl.TLSVersion.TLSv1_3,
    ),
    TLSVariant(
        name="client-cert-required",
        summary="the server requires a client certificate from the test CA (client.pem)",
        expect="certificate required: present client.pem, or the server ends the handshake",
        failure=Failure(reasons=_CLIENT_CERT_REFUSED),
        reference="RFC 8446 sections 4.3.2 and 4.4.2.4; RFC 5246 section 7.4.6",
        certificate=_valid,
        client_certificate_required=True,
    ),
)

_BY_NAME = {variant.name: variant for variant in VARIANTS}


def tls_variant(name: str) -> TLSVariant:
    """The variant called ``name``; raises :class:`UnknownTLSVariant` naming the choices."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UnknownTLSVariant(
            f"unknown TLS variant {name!r}; choose one of {', '.join(_BY_NAME)}"
        ) from None


def variant_listing() -> str:
    """One line per variant, for ``mailcompat serve --tls list``."""
    width = max(len(name) for name in _BY_NAME)
    return "\n".join(f"{variant.name:<{width}}  {variant.summary}" for variant in VARIANTS)
