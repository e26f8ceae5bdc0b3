"""Options shared by every session of the reference client."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class ClientLimits:
    """Bounds on what a server may make the client hold (docs/limits.md)."""

    #: Longest response line accepted, in octets.
    max_line: int = 1024 * 1024
    #: Largest literal / message accepted, in octets.
    max_literal: int = 256 * 1024 * 1024
    #: Deepest nesting of parenthesized lists (BODYSTRUCTURE) accepted.
    max_nesting: int = 100
    #: Most untagged responses accepted while one command is outstanding.
    max_untagged: int = 1_000_000
    #: Most octets the untagged responses to one command may hold, Python objects included
    #: (see docs/limits.md for how they are counted); one response alone is always accepted.
    max_untagged_octets: int = 48 * 1024 * 1024
    #: Most lines that are no IMAP response (skipped as findings) on one connection.
    max_skipped_lines: int = 100


@dataclass(frozen=True, kw_only=True)
class ClientOptions:
    """How a session connects and how strict it is."""

    #: Extra trust anchor (PEM), added to the system store.
    ca_file: Path | None = None
    #: Certificate and host-name verification; off only with an explicit option.
    verify: bool = True
    #: Seconds to connect, including the TLS handshake.
    connect_timeout: float = 30.0
    #: Seconds to wait for the next octet of a response.
    read_timeout: float = 60.0
    #: Allow credentials over clear text (only meaningful with ``+insecure`` URLs).
    allow_plaintext_auth: bool = False
    #: Turn every finding of severity ``error`` into a failure.
    strict: bool = False
    #: Offer ALPN (RFC 7301) with the protocol's id.
    alpn: bool = True
    limits: ClientLimits = field(default_factory=ClientLimits)
    #: Receives each rendered transcript line as it happens (``--transcript``).
    transcript_sink: Callable[[str], None] | None = None
