"""Limits and settings shared by the three fake servers.

Every limit a hostile client could push against has a value here, so that the
servers never hold unbounded memory or wait forever; ``docs/limits.md`` lists
them. A :class:`ServerConfig` is immutable: derive a variant with
:func:`dataclasses.replace`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fakeservers.profiles.model import Profile
from fakeservers.rules import RuleBook


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Resource limits of one fake server set."""

    #: Longest command line accepted, CRLF included (RFC 7162 section 4 asks >= 8192).
    max_line: int = 65536
    #: Largest IMAP literal or APPEND accepted, in octets.
    max_literal: int = 64 * 1024 * 1024
    #: Largest message accepted by SMTP (advertised as SIZE, RFC 1870), in octets.
    max_message_size: int = 64 * 1024 * 1024
    #: Seconds a session may stay silent before the server closes it.
    #: RFC 3501 section 5.4 asks at least 30 minutes for IMAP; the fakes are stricter
    #: by default because they serve tests.
    idle_timeout: float = 300.0
    #: Seconds allowed for a TLS handshake (implicit TLS or STARTTLS).
    tls_handshake_timeout: float = 10.0
    #: Bad commands in a row before the server says BYE and closes.
    max_bad_commands: int = 20


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """What every fake server needs besides the store and its TLS context."""

    #: Host name the servers announce in greetings and EHLO.
    hostname: str = "localhost"
    #: The emulated server or provider (:mod:`fakeservers.profiles`); the default is
    #: RFC-clean and lets every server compute its own greeting and capabilities.
    profile: Profile = field(default_factory=lambda: Profile(name="default", description=""))
    limits: Limits = field(default_factory=Limits)
    #: Gmail's IMAP extensions (X-GM-MSGID, X-GM-THRID, X-GM-LABELS, X-GM-RAW); also
    #: on whenever the capabilities list X-GM-EXT-1 (the gmail profile).
    gmail_extensions: bool = False
    #: The fault rules in force (:mod:`fakeservers.rules`); shared by every copy of the
    #: config, so that swapping the rule set reaches every server of the set.
    rules: RuleBook = field(default_factory=RuleBook, compare=False)
    #: Provider semantics no rule can express, switched on by quirks (``quirks.yaml``
    #: ``behaviours``): ``deleted-expunges``, ``append-dedups-message-id``,
    #: ``submission-copies-to-sent``.
    behaviours: frozenset[str] = frozenset()
    #: POP3 LOGIN-DELAY (RFC 2449 section 6.5): seconds a user must wait between two
    #: logins; advertised in CAPA and enforced with ``-ERR [LOGIN-DELAY]``. 0: none.
    pop3_login_delay: int = 0
    #: POP3 EXPIRE (RFC 2449 section 6.7): days a message is kept after retrieval,
    #: None for ``NEVER``; 0 deletes retrieved messages at QUIT even without DELE.
    pop3_expire: int | None = None
