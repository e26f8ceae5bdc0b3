"""What a profile holds, per protocol; every field has the RFC-clean default.

``None`` in a capability field means "what the server computes" (the
``default`` profile); a list means "exactly this", as the provider sends it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fakeservers.rules import Rule


@dataclass(frozen=True, kw_only=True)
class CapabilitySets:
    """Capabilities by session state, as the provider advertises them.

    ``starttls`` is the list on a clear-text port before STARTTLS (derived
    from ``before_login`` when absent: AUTH offers removed, STARTTLS and
    LOGINDISABLED added, because the fake never takes credentials in clear
    text); ``before_login`` applies under TLS before authentication;
    ``after_login`` once authenticated.
    """

    starttls: tuple[str, ...] | None = None
    before_login: tuple[str, ...] = ()
    after_login: tuple[str, ...] = ()

    def current(
        self,
        *,
        tls: bool,
        authenticated: bool,
        credentials: Callable[[str], bool],
        starttls_offer: Sequence[str],
    ) -> list[str]:
        """The list for the session's state.

        On a clear-text connection without a declared ``starttls`` list, the
        ``before_login`` list loses every entry ``credentials`` says offers a
        way to log in, and gains ``starttls_offer`` (RFC 2595 section 2.2,
        RFC 3207 section 4).
        """
        if authenticated:
            return list(self.after_login)
        if tls:
            return list(self.before_login)
        if self.starttls is not None:
            return list(self.starttls)
        kept = [name for name in self.before_login if not credentials(name)]
        return kept + [name for name in starttls_offer if name not in kept]


@dataclass(frozen=True, kw_only=True)
class ImapProfile:
    """The IMAP side of a profile."""

    #: Text of the greeting after ``* OK`` (``{hostname}`` and ``{peer}`` are filled in).
    greeting: str | None = None
    #: Whether the greeting carries a ``[CAPABILITY ...]`` response code.
    greeting_capabilities: bool = True
    capabilities: CapabilitySets | None = None
    #: Folders (name, SPECIAL-USE attribute or None) every account gets.
    folders: tuple[tuple[str, str | None], ...] | None = None


@dataclass(frozen=True, kw_only=True)
class Pop3Profile:
    """The POP3 side of a profile."""

    #: The greeting line after ``+OK`` (``{hostname}``, ``{timestamp}`` filled in).
    greeting: str | None = None
    capabilities: CapabilitySets | None = None


@dataclass(frozen=True, kw_only=True)
class SmtpProfile:
    """The SMTP side of a profile."""

    #: The text after ``220 hostname`` in the greeting.
    greeting: str | None = None
    #: EHLO keywords: ``starttls`` before STARTTLS on the submission port,
    #: ``before_login`` under TLS (AUTH is offered here). ``after_login`` is unused
    #: (SMTP does not re-advertise after AUTH).
    capabilities: CapabilitySets | None = None


#: Server behaviours a quirk can switch on, where a rule cannot express them.
BEHAVIOURS = {
    "deleted-expunges": "IMAP: a message flagged \\Deleted leaves the mailbox at once (Gmail)",
    "append-dedups-message-id": "IMAP: APPEND of a Message-ID already in the mailbox adds "
    "nothing and answers with the existing UID (Gmail)",
    "submission-copies-to-sent": "SMTP: a submitted message is also stored in the sender's "
    "\\Sent mailbox (Gmail, Outlook)",
}


#: Server settings a quirk may set, with the type each takes.
SETTINGS: dict[str, type] = {"pop3_login_delay": int, "pop3_expire": int}


@dataclass(frozen=True, kw_only=True)
class Quirk:
    """A named deviation a real server shows, expressed as rules."""

    name: str
    description: str
    rules: tuple[Rule, ...]
    source: str = ""
    #: Behaviours of the servers the quirk switches on (see ``BEHAVIOURS``).
    behaviours: tuple[str, ...] = ()
    #: Server settings the quirk sets (fields of ``ServerConfig`` named in ``SETTINGS``).
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Profile:
    """One emulated server or provider."""

    name: str
    description: str
    sources: tuple[str, ...] = ()
    imap: ImapProfile = field(default_factory=ImapProfile)
    pop3: Pop3Profile = field(default_factory=Pop3Profile)
    smtp: SmtpProfile = field(default_factory=SmtpProfile)
    #: Overrides of :class:`fakeservers.config.Limits` fields.
    limits: dict[str, Any] = field(default_factory=dict)
    quirks: tuple[str, ...] = ()
    #: Rules of the profile itself, besides those of its quirks.
    rules: tuple[Rule, ...] = ()

    def capabilities(self, protocol: str) -> CapabilitySets | None:
        """The declared capability sets of ``protocol`` (None: the server's own)."""
        side: ImapProfile | Pop3Profile | SmtpProfile = getattr(self, protocol)
        return side.capabilities
