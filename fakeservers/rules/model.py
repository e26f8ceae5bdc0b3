"""What a rule is: an event to watch, conditions to match, and what to do instead.

A rule is data (DESIGN.md: "a fault is a rule"): it comes from a profile, a
scenario's ``server`` section, ``mailcompat serve --rules FILE`` or a test,
and the same rule works on the IMAP, POP3 and SMTP servers alike, because
every server reports the same events (:class:`Event`) and applies the same
actions through one :class:`~fakeservers.rules.wire.Wire`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class Event(enum.Enum):
    """The moments of a session a rule can act on."""

    #: A client connected: before the greeting and before any TLS handshake (implicit or STARTTLS).
    CONNECT = "connect"
    #: The server is about to send its greeting.
    GREETING = "greeting"
    #: A complete command arrived (verb, arguments, session state, user, mailbox).
    COMMAND = "command"
    #: The server is about to send a response (one write: a line, or a response with literals).
    RESPONSE = "response"
    #: A TLS handshake completed (implicit TLS or after STARTTLS).
    TLS = "tls"
    #: The client has been silent for ``idle_ms`` while the server waits for a command.
    IDLE = "idle"
    #: Octets arrived from the client (before framing).
    BYTES = "bytes"


class Ending(enum.Enum):
    """How a rule ends the connection after its other actions."""

    #: Close the connection in order (TLS close_notify, then FIN).
    CLOSE = "close"
    #: Abort with a TCP reset (SO_LINGER 0), no TLS close_notify.
    RESET = "reset"
    #: Stop reading and writing; the connection stays open until the client leaves
    #: or the idle timeout ends it.
    STALL = "stall"
    #: Half-close: shut the write side (FIN) and keep reading (a plain TCP connection;
    #: TLS has no half-close, so there the connection is closed).
    CLOSE_WRITE = "close_write"


@dataclass(frozen=True, kw_only=True)
class Match:
    """Conditions that must all hold for a rule to fire; an unset condition matches anything."""

    #: ``imap``, ``pop3``, ``smtp``.
    protocols: frozenset[str] | None = None
    #: Command verbs, upper case (for ``command``; for ``response``, the verb being answered).
    verbs: frozenset[str] | None = None
    #: Searched in the command line, the response, or the received octets.
    pattern: re.Pattern[bytes] | None = None
    #: Session states, lower case (``not authenticated``, ``selected``, ``transaction``...).
    states: frozenset[str] | None = None
    #: The logged-in user.
    user: str | None = None
    #: The selected mailbox (IMAP).
    mailbox: str | None = None
    #: Whether the connection is protected by TLS at that moment.
    tls: bool | None = None
    #: Fire only on the n-th matching event of a session (1-based).
    nth: int | None = None
    #: Fire at most this many times in all, over every session.
    times: int | None = None
    #: Fire with this probability, drawn from the rule set's seeded generator.
    probability: float = 1.0
    #: For ``idle``: the silence, in milliseconds, after which the rule fires.
    idle_ms: int | None = None


@dataclass(frozen=True, kw_only=True)
class CapabilityEdit:
    """Capabilities to add and remove from then on in the session."""

    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()

    def apply(self, names: list[str]) -> list[str]:
        """``names`` with the removals and additions.

        A removal matches a capability case-insensitively, either whole
        (``AUTH=PLAIN``) or by its first word (``SASL`` removes POP3's ``SASL
        PLAIN LOGIN``, ``SIZE`` removes SMTP's ``SIZE 1000``).
        """
        gone = {name.upper() for name in self.remove}
        kept = [
            name
            for name in names
            if name.upper() not in gone and name.split(" ", 1)[0].upper() not in gone
        ]
        kept += [name for name in self.add if name not in kept]
        return kept


@dataclass(frozen=True, kw_only=True)
class Chunking:
    """Send a response in pieces of ``size`` octets with ``delay`` seconds between them."""

    size: int
    delay: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Action:
    """What a rule does; every field is optional and they combine in a fixed order.

    Order: wait ``delay``; write ``send_before``; then the event's own output,
    replaced by ``send`` (for a command: the command is not executed), or
    rewritten by ``replace``, ``as_literal``, ``truncate`` and sent in
    ``chunks``; write ``send_after``; apply ``capabilities``; end with ``then``.
    """

    delay: float = 0.0
    send_before: bytes | None = None
    send: bytes | None = None
    replace: tuple[tuple[re.Pattern[bytes], bytes], ...] = ()
    as_literal: bool = False
    truncate: int | None = None
    chunks: Chunking | None = None
    send_after: bytes | None = None
    capabilities: CapabilityEdit | None = None
    corrupt_tls: bool = False
    then: Ending | None = None


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One rule: on ``event``, when ``match`` holds, do ``action``."""

    name: str
    event: Event
    match: Match
    action: Action
    description: str = ""
