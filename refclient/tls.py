"""The one place where the reference client builds SSL contexts.

Secure by default (DESIGN.md, RFC 8314, RFC 7817): certificates and host
names are verified against the system's trust store plus any ``--ca-file``;
host names match DNS-IDs only (never the subject common name) with a
wildcard allowed only as the whole left-most label; TLS 1.2 is the floor
(RFC 8996 retired 1.0 and 1.1). Turning verification off takes an explicit
option and is logged as a warning.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

log = logging.getLogger(__name__)


def client_context(
    *,
    ca_file: Path | None = None,
    verify: bool = True,
    alpn: Sequence[str] = (),
    minimum_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
) -> ssl.SSLContext:
    """A client context; ``verify=False`` is for labs only and warns.

    ``alpn`` lists the ALPN protocol ids to offer (RFC 7301; ``imap`` and
    ``pop3`` are registered, RFC 9051 / IANA); an empty list offers none.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = minimum_version
    # RFC 7817 section 3 / RFC 6125: match DNS-IDs only, never the CN.
    context.hostname_checks_common_name = False
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    if alpn:
        context.set_alpn_protocols(list(alpn))
    if not verify:
        log.warning("TLS certificate verification is OFF (--insecure-skip-verify)")
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


# -- what was negotiated, for reports -------------------------------------------------

VERIFIED = "verified"
UNVERIFIED = "unverified"


class ALPNMismatch(ssl.SSLError):
    """The server selected an ALPN protocol id the client did not offer.

    RFC 7301 section 3.2 forbids it, and accepting it is what the ALPACA
    cross-protocol attack (2021) relies on: a client must refuse the connection.
    """


def check_alpn(offered: Sequence[str], selected: str | None) -> None:
    """Refuse a selected ALPN id outside ``offered`` (no selection is always fine).

    OpenSSL already aborts such a handshake; this check keeps the rule true
    whatever TLS library sits below, and names it in the error.
    """
    if selected is not None and selected not in offered:
        shown = ", ".join(offered) or "none"
        raise ALPNMismatch(
            f"server selected ALPN protocol {selected!r}, not offered (offered: {shown}); "
            "refusing a possible cross-protocol attack (ALPACA, RFC 7301 section 3.2)"
        )


def verdict(*, verified: bool, failure: str | None = None) -> str:
    """``verified``, ``unverified`` (verification was off) or ``failed: reason``."""
    if failure is not None:
        return f"failed: {failure}"
    return VERIFIED if verified else UNVERIFIED


@dataclass(frozen=True, kw_only=True)
class CertificateReport:
    """The server certificate as a report shows it, with the client's verdict."""

    subject: str
    issuer: str
    #: Subject alternative names, e.g. ``DNS:mail.example.test``, ``IP:127.0.0.1``.
    sans: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    #: Whole days from the report's time to ``not_after`` (negative once expired).
    days_to_expiry: int
    verdict: str

    @classmethod
    def from_der(
        cls, der: bytes, *, verdict: str, now: datetime | None = None
    ) -> CertificateReport:
        """Read a DER certificate (parsed with ``cryptography``; it need not be trusted)."""
        certificate = x509.load_der_x509_certificate(der)
        moment = now or datetime.now(UTC)
        not_after = certificate.not_valid_after_utc
        return cls(
            subject=certificate.subject.rfc4514_string(),
            issuer=certificate.issuer.rfc4514_string(),
            sans=_alternative_names(certificate),
            not_before=certificate.not_valid_before_utc,
            not_after=not_after,
            days_to_expiry=(not_after - moment).days,
            verdict=verdict,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (times in ISO 8601, UTC)."""
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "sans": list(self.sans),
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "days_to_expiry": self.days_to_expiry,
            "verdict": self.verdict,
        }

    def lines(self) -> list[str]:
        """Human-readable lines for the command line's output."""
        return [
            f"certificate: {self.verdict}",
            f"  subject: {self.subject}",
            f"  issuer: {self.issuer}",
            f"  names: {', '.join(self.sans) or '(none)'}",
            f"  valid: {self.not_before:%Y-%m-%d} to {self.not_after:%Y-%m-%d} "
            f"({self.days_to_expiry} days left)",
        ]


def _alternative_names(certificate: x509.Certificate) -> tuple[str, ...]:
    try:
        extension = certificate.extensions.get_extension_for_oid(
            ExtensionOID.SUBJECT_ALTERNATIVE_NAME
        )
    except x509.ExtensionNotFound:
        return ()
    names = extension.value
    assert isinstance(names, x509.SubjectAlternativeName)
    dns = [f"DNS:{name}" for name in names.get_values_for_type(x509.DNSName)]
    ips = [f"IP:{address}" for address in names.get_values_for_type(x509.IPAddress)]
    return tuple(dns + ips)
