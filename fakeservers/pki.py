"""The fake servers' test PKI: a throw-away CA, its server certificate, and deliberately bad ones.

Built on trustme, so that clients can verify the servers for real: the
certificate names ``localhost``, ``127.0.0.1`` and ``::1``, and the CA's PEM is
written where a client (or a person's Thunderbird) can be pointed at it.

The TLS variants (:mod:`fakeservers.tls_variants`) need certificates trustme
does not make: an RSA-1024 key, a SHA-1 signature, a wildcard outside the
left-most label, a self-signed leaf. :meth:`TestPKI.issue` and
:func:`self_signed` build those with ``cryptography``, signed by the same CA
(or by an intermediate or foreign CA), so each variant differs from a valid
certificate in exactly one way.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Names every fake server certificate carries (RFC 6125 DNS-ID and IP addresses).
SERVER_NAMES: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")

#: Key types :meth:`TestPKI.issue` can give a certificate.
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

#: Validity of certificates that are meant to be in date: a margin either side of now.
_VALID_BEFORE = dt.timedelta(days=1)
_VALID_FOR = dt.timedelta(days=365)


@dataclass(frozen=True)
class ServerCertificate:
    """A certificate chain as a TLS peer sends it, with its private key (PEM).

    ``chain_pem[0]`` is the leaf; what follows is exactly what the peer sends
    after it (RFC 8446 section 4.4.2): intermediates, or nothing when a variant
    withholds them.
    """

    chain_pem: tuple[bytes, ...]
    key_pem: bytes

    @classmethod
    def from_trustme(cls, leaf: trustme.LeafCert) -> ServerCertificate:
        """A trustme leaf with the chain trustme gives it (intermediates, never the root)."""
        return cls(
            chain_pem=tuple(blob.bytes() for blob in leaf.cert_chain_pems),
            key_pem=leaf.private_key_pem.bytes(),
        )

    @property
    def leaf(self) -> x509.Certificate:
        """The end-entity certificate, parsed."""
        return x509.load_pem_x509_certificate(self.chain_pem[0])

    def without_chain(self) -> ServerCertificate:
        """The leaf alone: a server that forgets to send its intermediates."""
        return ServerCertificate(chain_pem=self.chain_pem[:1], key_pem=self.key_pem)

    def with_chain(self, *extra_pem: bytes) -> ServerCertificate:
        """The same chain with ``extra_pem`` certificates sent after it."""
        return ServerCertificate(chain_pem=self.chain_pem + extra_pem, key_pem=self.key_pem)

    def pem(self) -> bytes:
        """Chain and key in one PEM file, as ``curl --cert`` and ``load_cert_chain`` take it."""
        return b"".join(self.chain_pem) + self.key_pem

    def configure(self, context: ssl.SSLContext) -> None:
        """Load this chain and key into ``context``.

        ``load_cert_chain`` only reads files; a private temporary directory
        (not a held-open temporary file, which Windows could not reopen)
        keeps the key off any shared path. Raises :class:`ssl.SSLError` when
        the context's security level refuses the key or signature.
        """
        with tempfile.TemporaryDirectory(prefix="mailcompat-cert-") as directory:
            path = Path(directory) / "chain.pem"
            path.write_bytes(self.pem())
            context.load_cert_chain(str(path))


@dataclass(frozen=True)
class TestPKI:
    """A CA and one server certificate issued by it."""

    __test__ = False  # not a pytest test class despite the name

    ca: trustme.CA
    server_cert: trustme.LeafCert

    @classmethod
    def create(cls, *, names: tuple[str, ...] = SERVER_NAMES) -> TestPKI:
        """A fresh CA with a server certificate for ``names``."""
        ca = trustme.CA(organization_name="mailcompat test CA")
        return cls(ca=ca, server_cert=ca.issue_cert(*names))

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate, PEM."""
        return bytes(self.ca.cert_pem.bytes())

    def write_ca(self, path: Path) -> Path:
        """Write the CA certificate to ``path`` (binary, so the same on every platform)."""
        path.write_bytes(self.ca_pem)
        return path

    def server_context(self) -> ssl.SSLContext:
        """A server-side context: TLS 1.2 floor (DESIGN.md, RFC 8996), this certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.server_cert.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context trusting this CA (for tests and stdlib clients)."""
        context = ssl.create_default_context()
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.ca.configure_trust(context)
        return context

    @property
    def server_certificate(self) -> ServerCertificate:
        """The valid server certificate as a :class:`ServerCertificate`."""
        return ServerCertificate.from_trustme(self.server_cert)

    def issue(
        self,
        *names: str,
        issuer: trustme.CA | None = None,
        key: PrivateKey | None = None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        sha1: bool = False,
    ) -> ServerCertificate:
        """A leaf for ``names`` signed by ``issuer`` (default: this CA).

        Unlike trustme, names are taken literally, so a wildcard may sit in
        any label (``mail.*.test``, ``m*.example.test``); ``key`` may be weak;
        ``sha1`` signs with SHA-1 (RFC 3279 section 2.2). The chain holds
        ``issuer``'s own intermediates, as trustme's leaves do.
        """
        authority = issuer or self.ca
        authority_cert = x509.load_pem_x509_certificate(authority.cert_pem.bytes())
        authority_key = serialization.load_pem_private_key(
            authority.private_key_pem.bytes(), password=None
        )
        if not isinstance(authority_key, PrivateKey):
            raise TypeError(f"unsupported CA key type {type(authority_key).__name__}")
        leaf_key = key or ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        builder = _leaf_builder(
            names,
            subject_key=leaf_key,
            issuer=authority_cert,
            not_before=not_before or now - _VALID_BEFORE,
            not_after=not_after or now + _VALID_FOR,
        )
        certificate = builder.sign(authority_key, hashes.SHA256())
        der = certificate.public_bytes(serialization.Encoding.DER)
        if sha1:
            der = _resign_with_sha1(certificate, authority_key)
        leaf_pem = x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
        intermediates = _intermediates_of(authority)
        return ServerCertificate(chain_pem=(leaf_pem, *intermediates), key_pem=_key_pem(leaf_key))


def self_signed(*names: str) -> ServerCertificate:
    """A leaf that signs itself: no CA anywhere vouches for it (RFC 5280 section 3.2)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    subject = _subject("self-signed server")
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _VALID_BEFORE)
        .not_valid_after(now + _VALID_FOR)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(_general_names(names)), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
            critical=False,
        )
    )
    certificate = builder.sign(key, hashes.SHA256())
    return ServerCertificate(
        chain_pem=(certificate.public_bytes(serialization.Encoding.PEM),), key_pem=_key_pem(key)
    )


def _subject(unit: str) -> x509.Name:
    # No common name: RFC 6125 section 6.4.4 lets DNS-IDs alone decide, so no CN
    # can rescue a name a variant means to get wrong.
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mailcompat test server"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
        ]
    )


def _general_names(names: tuple[str, ...]) -> list[x509.GeneralName]:
    """``127.0.0.1`` and ``::1`` as IP addresses, ``a@b`` as RFC 822 names, the rest as DNS."""
    general: list[x509.GeneralName] = []
    for name in names:
        if "@" in name:
            general.append(x509.RFC822Name(name))
            continue
        try:
            general.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            general.append(x509.DNSName(name))  # literally: wildcards wherever given
    return general


def _leaf_builder(
    names: tuple[str, ...],
    *,
    subject_key: PrivateKey,
    issuer: x509.Certificate,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.CertificateBuilder:
    public_key = subject_key.public_key()
    key_usage_rsa = isinstance(subject_key, rsa.RSAPrivateKey)
    issuer_ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(_subject(names[0] if names else "server"))
        .issuer_name(issuer.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(_general_names(names)), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=key_usage_rsa,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    )


def _intermediates_of(authority: trustme.CA) -> tuple[bytes, ...]:
    """PEMs of ``authority`` and its parents up to, not including, the root."""
    chain: list[bytes] = []
    current = authority
    while current.parent_cert is not None:
        chain.append(current.cert_pem.bytes())
        current = current.parent_cert
    return tuple(chain)


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


# -- SHA-1 signatures -----------------------------------------------------------------
#
# ``cryptography`` no longer signs certificates with SHA-1, though its primitives
# still sign bytes with it. So the certificate is built with SHA-256, its
# AlgorithmIdentifier swapped for the SHA-1 one in both places RFC 5280 section
# 4.1.1.2 puts it (inside TBSCertificate and after it), and the new
# TBSCertificate signed again. DER (X.690) is rebuilt with definite lengths.

#: AlgorithmIdentifier DER: SHA-256 and SHA-1 variants for ECDSA (RFC 5758 section 3.2,
#: RFC 3279 section 2.2.3, no parameters) and RSA (RFC 4055 section 5, RFC 3279
#: section 2.2.1, NULL parameters).
_SHA256_TO_SHA1 = {
    "ecdsa": (
        bytes.fromhex("300a06082a8648ce3d040302"),
        bytes.fromhex("300906072a8648ce3d0401"),
    ),
    "rsa": (
        bytes.fromhex("300d06092a864886f70d01010b0500"),
        bytes.fromhex("300d06092a864886f70d0101050500"),
    ),
}


def _resign_with_sha1(certificate: x509.Certificate, issuer_key: PrivateKey) -> bytes:
    kind = "rsa" if isinstance(issuer_key, rsa.RSAPrivateKey) else "ecdsa"
    old, new = _SHA256_TO_SHA1[kind]
    tbs_content = _der_content(certificate.tbs_certificate_bytes)
    if tbs_content.count(old) != 1:
        raise ValueError("cannot find the signature algorithm in the certificate")
    tbs = _der(0x30, tbs_content.replace(old, new))
    if isinstance(issuer_key, rsa.RSAPrivateKey):
        signature = issuer_key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    else:
        signature = issuer_key.sign(tbs, ec.ECDSA(hashes.SHA1()))
    # signatureValue is a BIT STRING with no unused bits (the leading 0x00).
    return _der(0x30, tbs + new + _der(0x03, b"\x00" + signature))


def _der(tag: int, content: bytes) -> bytes:
    """One DER TLV (X.690 section 8.1.3: short form below 128, else long form)."""
    size = len(content)
    if size < 0x80:
        length = bytes([size])
    else:
        octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(octets)]) + octets
    return bytes([tag]) + length + content


def _der_content(tlv: bytes) -> bytes:
    """The content octets of one DER TLV."""
    first = tlv[1]
    if first < 0x80:
        return tlv[2 : 2 + first]
    count = first & 0x7F
    size = int.from_bytes(tlv[2 : 2 + count], "big")
    return tlv[2 + count : 2 + count + size]
