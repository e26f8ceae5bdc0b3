"""Server URLs (DESIGN.md, command-line contract).

``imaps://`` implicit TLS (993), ``imap://`` STARTTLS required (143),
``imap+insecure://`` clear text; the same for ``pop3s``/``pop3`` (995/110) and
``smtps``/``smtp`` (465/587). The login name may be in the URL, percent-encoded
(``imaps://alice%40example.test@host``); a password never is.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


class Security(enum.StrEnum):
    """How a connection is protected."""

    TLS = "tls"  # implicit TLS from the first byte (RFC 8314)
    STARTTLS = "starttls"  # clear text upgraded with STARTTLS/STLS, which is required
    INSECURE = "insecure"  # clear text, explicitly asked for


@dataclass(frozen=True)
class _Scheme:
    protocol: str
    security: Security
    default_port: int


SCHEMES: dict[str, _Scheme] = {
    "imaps": _Scheme("imap", Security.TLS, 993),
    "imap": _Scheme("imap", Security.STARTTLS, 143),
    "imap+insecure": _Scheme("imap", Security.INSECURE, 143),
    "pop3s": _Scheme("pop3", Security.TLS, 995),
    "pop3": _Scheme("pop3", Security.STARTTLS, 110),
    "pop3+insecure": _Scheme("pop3", Security.INSECURE, 110),
    "smtps": _Scheme("smtp", Security.TLS, 465),
    "smtp": _Scheme("smtp", Security.STARTTLS, 587),
    "smtp+insecure": _Scheme("smtp", Security.INSECURE, 587),
}


@dataclass(frozen=True, kw_only=True)
class ServerURL:
    """A parsed server URL."""

    scheme: str
    protocol: str  # imap, pop3 or smtp
    security: Security
    host: str
    port: int
    user: str | None = None

    @classmethod
    def parse(cls, text: str) -> ServerURL:
        """Parse ``text``; raises :class:`ValueError` naming what is wrong."""
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            known = ", ".join(sorted(SCHEMES))
            raise ValueError(f"unknown scheme {parts.scheme!r} in {text!r} (known: {known})")
        if parts.password is not None:
            raise ValueError(
                "a password must not be written in the URL; use MAILCOMPAT_PASSWORD "
                "or --password-command"
            )
        host = parts.hostname
        if not host:
            raise ValueError(f"no host in {text!r}")
        if parts.path not in ("", "/"):
            raise ValueError(f"unexpected path {parts.path!r} in {text!r}")
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"bad port in {text!r}: {exc}") from None
        spec = SCHEMES[scheme]
        return cls(
            scheme=scheme,
            protocol=spec.protocol,
            security=spec.security,
            host=host,
            port=port or spec.default_port,
            user=unquote(parts.username) if parts.username else None,
        )

    @property
    def label(self) -> str:
        """``scheme://host:port`` (no user): how errors and transcripts name the server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def __str__(self) -> str:
        return self.label
