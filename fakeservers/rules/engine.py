"""Deciding which rules fire: a :class:`RuleSet` per server set, :class:`SessionRules` per session.

This part is sans-IO: it sees events and returns what fired; the
:class:`~fakeservers.rules.wire.Wire` carries the actions out. Every
matching rule fires, in the order the rules were given, and their actions
combine (delays add up, texts to send before and after are concatenated,
rewrites apply in order; the last ``send`` replacing the output wins).

Randomness (``probability``) comes from one generator seeded by the rule
set, so a run with the same seed and the same client makes the same choices.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fakeservers.audit.journal import Journal
from fakeservers.rules.model import Action, CapabilityEdit, Chunking, Ending, Event, Rule

_QUOTED = re.compile(rb'"((?:[^"\\\r\n]|\\.)*)"')


class RuleSet:
    """The rules of one server set, their seeded generator and their hit counts."""

    def __init__(
        self, rules: Sequence[Rule] = (), *, seed: int = 0, journal: Journal | None = None
    ) -> None:
        names = [rule.name for rule in rules]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"rule names must be unique: {', '.join(duplicated)}")
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.seed = seed
        self._random = random.Random(seed)
        self._hits: Counter[str] = Counter()
        #: Records every event of every session when set (:mod:`fakeservers.audit`).
        self.journal = journal

    def __bool__(self) -> bool:
        return bool(self.rules) or self.journal is not None

    def __repr__(self) -> str:
        return f"RuleSet({[rule.name for rule in self.rules]!r}, seed={self.seed})"

    def combined(self, more: Iterable[Rule]) -> RuleSet:
        """A new rule set with ``more`` rules after these (same seed, fresh counts)."""
        return RuleSet([*self.rules, *more], seed=self.seed, journal=self.journal)

    def session(self, protocol: str) -> SessionRules:
        """The rule state of one new session of ``protocol`` (``imap``, ``pop3``, ``smtp``)."""
        return SessionRules(self, protocol)

    def hits(self) -> dict[str, int]:
        """How many times each rule fired, by name (rules that never fired count 0)."""
        return {rule.name: self._hits[rule.name] for rule in self.rules}

    def draw(self) -> float:
        """The next number in [0, 1) of the seeded generator."""
        return self._random.random()

    def record_hit(self, rule: Rule) -> bool:
        """Record a hit unless the rule's ``times`` budget is spent."""
        limit = rule.match.times
        if limit is not None and self._hits[rule.name] >= limit:
            return False
        self._hits[rule.name] += 1
        return True


class RuleBook:
    """The rule set a running server set uses now; tests may swap it while it runs.

    Each session takes the rule set current when it starts; the swap is one
    reference assignment, safe from any thread.
    """

    def __init__(self, ruleset: RuleSet | None = None) -> None:
        self.current = ruleset if ruleset is not None else RuleSet()

    def replace(self, ruleset: RuleSet) -> None:
        """Use ``ruleset`` for sessions that start from now on."""
        self.current = ruleset

    def session(self, protocol: str) -> SessionRules:
        """The rule state of a new session of ``protocol``."""
        return self.current.session(protocol)


@dataclass(frozen=True)
class Fired:
    """The rules that fired for one event, and their combined actions."""

    rules: tuple[Rule, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.rules)

    @property
    def names(self) -> list[str]:
        """The names of the rules that fired, in order."""
        return [rule.name for rule in self.rules]

    @property
    def _actions(self) -> list[Action]:
        return [rule.action for rule in self.rules]

    @property
    def instant(self) -> bool:
        """Whether the actions need no waiting and end nothing (they can run at once)."""
        return self.delay == 0 and self.chunks is None and self.ending is None

    @property
    def delay(self) -> float:
        """Seconds to wait first."""
        return sum(action.delay for action in self._actions)

    @property
    def before(self) -> bytes:
        """Octets to write before the event's own output."""
        return b"".join(action.send_before or b"" for action in self._actions)

    @property
    def after(self) -> bytes:
        """Octets to write after the event's own output."""
        return b"".join(action.send_after or b"" for action in self._actions)

    @property
    def replacement(self) -> bytes | None:
        """What to send instead of the event's output (for a command: instead of running it)."""
        sends = [action.send for action in self._actions if action.send is not None]
        return sends[-1] if sends else None

    @property
    def chunks(self) -> Chunking | None:
        """How to split the output, if any rule says so."""
        chunkings = [action.chunks for action in self._actions if action.chunks is not None]
        return chunkings[-1] if chunkings else None

    @property
    def truncated(self) -> bool:
        """Whether the output is cut short (the connection then closes)."""
        return any(action.truncate is not None for action in self._actions)

    @property
    def ending(self) -> Ending | None:
        """How the connection ends afterwards; a truncation implies a close."""
        endings = [action.then for action in self._actions if action.then is not None]
        if endings:
            return endings[0]
        return Ending.CLOSE if self.truncated else None

    @property
    def corrupt_tls(self) -> bool:
        """Whether the next TLS handshake is to be corrupted."""
        return any(action.corrupt_tls for action in self._actions)

    @property
    def capability_edits(self) -> list[CapabilityEdit]:
        """Capability changes to apply from now on."""
        return [action.capabilities for action in self._actions if action.capabilities]

    def rewrite(self, data: bytes, **fields: str) -> bytes:
        """The output after ``send``, ``replace``, ``as_literal`` and ``truncate``, in order.

        ``fields`` fill ``{name}`` placeholders of ``send`` texts (the IMAP
        tag as ``{tag}``, for example).
        """
        for action in self._actions:
            if action.send is not None:
                data = fill(action.send, fields)
            for pattern, replacement in action.replace:
                data = pattern.sub(replacement, data)
            if action.as_literal:
                data = _QUOTED.sub(_literal, data)
            if action.truncate is not None:
                data = data[: action.truncate]
        return data


def fill(text: bytes, fields: dict[str, str]) -> bytes:
    """Replace ``{name}`` placeholders with ``fields`` (unknown ones stay as they are)."""
    for name, value in fields.items():
        text = text.replace(b"{" + name.encode() + b"}", value.encode("utf-8"))
    return text


def _literal(quoted: re.Match[bytes]) -> bytes:
    """A quoted string (RFC 3501 section 4.3) rewritten as the equivalent literal."""
    content = re.sub(rb"\\(.)", rb"\1", quoted.group(1))
    return b"{%d}\r\n" % len(content) + content


class SessionRules:
    """What one session has seen: per-rule match counts, capability changes, the current verb."""

    def __init__(self, ruleset: RuleSet, protocol: str) -> None:
        self._ruleset = ruleset
        self.protocol = protocol
        self._rules = [
            rule
            for rule in ruleset.rules
            if rule.match.protocols is None or protocol in rule.match.protocols
        ]
        self._seen: Counter[str] = Counter()
        self._edits: list[CapabilityEdit] = []
        self._journal = ruleset.journal
        self._session = 0
        if self._journal is not None:
            # Created when the connection is accepted: before any TLS handshake.
            self._session = self._journal.new_session()
            self._journal.record(self._session, protocol, "accept", verb=None, data=b"", tls=False)
        #: The verb of the command being answered (for ``response`` rules).
        self.verb: str | None = None
        #: Session facts the server keeps current (for ``state``, ``user``, ``mailbox``).
        self.state: str | None = None
        self.user: str | None = None
        self.mailbox: str | None = None

    def __bool__(self) -> bool:
        return bool(self._rules) or self._journal is not None

    def watches(self, event: Event) -> bool:
        """Whether any rule of this session's protocol waits for ``event`` (or a journal does)."""
        return self._journal is not None or any(rule.event is event for rule in self._rules)

    @property
    def idle_ms(self) -> int | None:
        """The shortest silence an ``idle`` rule waits for, if any."""
        waits = [
            rule.match.idle_ms
            for rule in self._rules
            if rule.event is Event.IDLE and rule.match.idle_ms is not None
        ]
        return min(waits) if waits else None

    def fire(self, event: Event, *, data: bytes = b"", verb: str | None = None, tls: bool) -> Fired:
        """The rules that fire for ``event`` now; records their hits."""
        if event is Event.COMMAND:
            self.verb = verb
        if self._journal is not None:
            self._journal.record(
                self._session, self.protocol, event.value, verb=self.verb, data=data, tls=tls
            )
        fired: list[Rule] = []
        for rule in self._rules:
            if rule.event is event and self._matches(rule, data=data, tls=tls):
                fired.append(rule)
        fired = [rule for rule in fired if self._ruleset.record_hit(rule)]
        for rule in fired:
            if rule.action.capabilities is not None:
                self._edits.append(rule.action.capabilities)
        return Fired(tuple(fired))

    def capabilities(self, names: Iterable[str]) -> list[str]:
        """``names`` as the rules fired so far in this session have changed them."""
        edited = list(names)
        for edit in self._edits:
            edited = edit.apply(edited)
        return edited

    def _matches(self, rule: Rule, *, data: bytes, tls: bool) -> bool:
        match = rule.match
        if match.verbs is not None and (self.verb or "").upper() not in match.verbs:
            return False
        if match.states is not None and (self.state or "") not in match.states:
            return False
        if match.user is not None and match.user != self.user:
            return False
        if match.mailbox is not None and match.mailbox != self.mailbox:
            return False
        if match.tls is not None and match.tls != tls:
            return False
        if match.pattern is not None and not match.pattern.search(data):
            return False
        self._seen[rule.name] += 1
        if match.nth is not None and self._seen[rule.name] != match.nth:
            return False
        return match.probability >= 1.0 or self._ruleset.draw() < match.probability
