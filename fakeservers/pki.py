"""The fake servers' test PKI: a throw-away CA and a server certificate.

Built on trustme, so that clients can verify the servers for real: the
certificate names ``localhost``, ``127.0.0.1`` and ``::1``, and the CA's PEM is
written where a client (or a person's Thunderbird) can be pointed at it.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

#: Names every fake server certificate carries (RFC 6125 DNS-ID and IP addresses).
SERVER_NAMES: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")


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
