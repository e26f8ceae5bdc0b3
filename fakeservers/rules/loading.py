"""Reading rules from data: a YAML file, or the mappings a profile or scenario holds.

The format (documented with examples in ``docs/rules.md``)::

    seed: 7                      # optional, for rules with a probability
    rules:
      - name: slow-fetch         # unique; hit counts are reported under it
        event: command              # connect, greeting, command, response, tls, idle, bytes
        protocol: imap           # or a list; default: every protocol
        verb: FETCH              # or a list
        delay: 2.5
      - name: bye-on-third-noop
        event: command
        verb: NOOP
        nth: 3
        send: "* BYE going away"
        then: close

The event key is ``event``, not ``on``: YAML 1.1 (PyYAML) reads a bare
``on`` as the boolean true. Every error names the rule and the key, so a
typo never silently disables a fault: unknown keys get a "did you mean"
suggestion.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from fakeservers.rules.engine import RuleSet
from fakeservers.rules.model import Action, CapabilityEdit, Chunking, Ending, Event, Match, Rule

PROTOCOLS = ("imap", "pop3", "smtp")

_MATCH_KEYS = (
    "protocol", "verb", "match", "state", "user", "mailbox", "tls",
    "nth", "times", "probability", "after_ms",
)  # fmt: skip
_ACTION_KEYS = (
    "delay", "send_before", "send", "replace", "as_literal", "truncate", "chunks",
    "send_after", "capabilities", "corrupt_tls", "then",
)  # fmt: skip
_KEYS = ("name", "event", "description", *_MATCH_KEYS, *_ACTION_KEYS)


def unknown_key(data: Mapping[Any, Any], allowed: Sequence[str]) -> str | None:
    """``unknown key 'x'; did you mean 'y'?`` for the first key not allowed, else None.

    Shared by every data file of the fake servers (rules, profiles, quirks),
    so that a typo is always named the same way.
    """
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            return f"unknown key {key!r}{hint}"
    return None


class RuleError(ValueError):
    """A rule could not be read; the message names the rule and the key."""


def load_rules_file(path: Path) -> RuleSet:
    """The rule set of a YAML rules file (``mailcompat serve --rules FILE``)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise RuleError(f"{path}: {error}") from None
    try:
        return ruleset_from_data(document)
    except RuleError as error:
        raise RuleError(f"{path}: {error}") from None


def ruleset_from_data(document: Any, *, seed: int | None = None) -> RuleSet:
    """A rule set from ``{"seed": N, "rules": [...]}`` or a bare list of rules."""
    if document is None:
        return RuleSet(seed=seed or 0)
    if isinstance(document, Mapping):
        unknown = set(document) - {"seed", "rules"}
        if unknown:
            raise RuleError(f"unknown top-level key(s) {sorted(unknown)}; expected seed, rules")
        given_seed = document.get("seed", 0)
        if not isinstance(given_seed, int) or isinstance(given_seed, bool):
            raise RuleError("seed must be an integer")
        rules = document.get("rules") or []
        seed = given_seed if seed is None else seed
    else:
        rules = document
    if not isinstance(rules, Sequence) or isinstance(rules, str | bytes):
        raise RuleError("rules must be a list of rules")
    parsed = [rule_from_data(item, index) for index, item in enumerate(rules, 1)]
    try:
        return RuleSet(parsed, seed=seed or 0)
    except ValueError as error:
        raise RuleError(str(error)) from None


def rule_from_data(data: Any, index: int = 1) -> Rule:
    """One rule from its mapping; ``index`` names it in errors when it has no name."""
    if not isinstance(data, Mapping):
        raise RuleError(f"rule {index}: must be a mapping, got {type(data).__name__}")
    name = data.get("name", f"rule-{index}")
    where = f"rule {name!r}"
    if not isinstance(name, str) or not name:
        raise RuleError(f"rule {index}: name must be a non-empty string")
    unknown = unknown_key(data, _KEYS)
    if unknown is not None:
        raise RuleError(f"{where}: {unknown}")
    reader = _Reader(data, where)
    event_name = reader.text("event", required=True)
    try:
        event = Event(event_name)
    except ValueError:
        choices = ", ".join(e.value for e in Event)
        raise RuleError(f"{where}: 'event' must be one of {choices}, got {event_name!r}") from None
    match = Match(
        protocols=reader.names("protocol", choices=PROTOCOLS, case=str.lower),
        verbs=reader.names("verb", case=str.upper),
        pattern=reader.pattern("match"),
        states=reader.names("state", case=str.lower),
        user=reader.text("user"),
        mailbox=reader.text("mailbox"),
        tls=reader.flag("tls"),
        nth=reader.count("nth"),
        times=reader.count("times"),
        probability=reader.probability("probability"),
        idle_ms=reader.count("after_ms"),
    )
    if event is Event.IDLE and match.idle_ms is None:
        raise RuleError(f"{where}: an 'idle' rule needs after_ms")
    then = reader.text("then")
    try:
        ending = Ending(then) if then is not None else None
    except ValueError:
        choices = ", ".join(e.value for e in Ending)
        raise RuleError(f"{where}: 'then' must be one of {choices}, got {then!r}") from None
    action = Action(
        delay=reader.seconds("delay"),
        send_before=reader.line("send_before"),
        send=reader.line("send"),
        replace=reader.replacements("replace"),
        as_literal=bool(reader.flag("as_literal")),
        truncate=reader.count("truncate", minimum=0),
        chunks=reader.chunking("chunks"),
        send_after=reader.line("send_after"),
        capabilities=reader.capability_edit("capabilities"),
        corrupt_tls=bool(reader.flag("corrupt_tls")),
        then=ending,
    )
    description = reader.text("description") or ""
    return Rule(name=name, event=event, match=match, action=action, description=description)


class _Reader:
    """Typed access to one rule's keys, with errors that name the rule and key."""

    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        self._data = data
        self._where = where

    def _fail(self, key: str, expected: str) -> RuleError:
        return RuleError(f"{self._where}: {key} must be {expected}, got {self._data[key]!r}")

    def text(self, key: str, *, required: bool = False) -> str | None:
        value = self._data.get(key)
        if value is None:
            if required:
                raise RuleError(f"{self._where}: missing {key!r}")
            return None
        if not isinstance(value, str):
            raise self._fail(key, "a string")
        return value

    def names(
        self, key: str, *, choices: Sequence[str] | None = None, case: Any = str
    ) -> frozenset[str] | None:
        value = self._data.get(key)
        if value is None:
            return None
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise self._fail(key, "a string or a list of strings")
        normalized = frozenset(case(item) for item in items)
        if choices is not None and not normalized <= set(choices):
            raise self._fail(key, f"among {', '.join(choices)}")
        return normalized

    def flag(self, key: str) -> bool | None:
        value = self._data.get(key)
        if value is not None and not isinstance(value, bool):
            raise self._fail(key, "true or false")
        return value

    def count(self, key: str, *, minimum: int = 1) -> int | None:
        value = self._data.get(key)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise self._fail(key, f"an integer >= {minimum}")
        return value

    def seconds(self, key: str) -> float:
        value = self._data.get(key, 0)
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise self._fail(key, "a number of seconds >= 0")
        return float(value)

    def probability(self, key: str) -> float:
        value = self._data.get(key, 1.0)
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
            raise self._fail(key, "a number between 0 and 1")
        return float(value)

    def pattern(self, key: str) -> re.Pattern[bytes] | None:
        value = self.text(key)
        if value is None:
            return None
        try:
            return re.compile(value.encode("utf-8"))
        except re.error as error:
            raise RuleError(
                f"{self._where}: {key} is not a valid regular expression: {error}"
            ) from None

    def line(self, key: str) -> bytes | None:
        """Text to send: UTF-8, with CRLF appended unless it already ends in CRLF or LF."""
        value = self.text(key)
        if value is None:
            return None
        data = value.encode("utf-8")
        return data if data.endswith(b"\n") or not data else data + b"\r\n"

    def replacements(self, key: str) -> tuple[tuple[re.Pattern[bytes], bytes], ...]:
        value = self._data.get(key)
        if value is None:
            return ()
        items = [value] if isinstance(value, Mapping) else value
        pairs = []
        for item in items if isinstance(items, list) else [None]:
            if not isinstance(item, Mapping) or set(item) != {"pattern", "with"}:
                raise self._fail(key, "a mapping {pattern, with} or a list of them")
            if not isinstance(item["pattern"], str) or not isinstance(item["with"], str):
                raise self._fail(key, "strings in pattern and with")
            try:
                compiled = re.compile(item["pattern"].encode("utf-8"))
            except re.error as error:
                raise RuleError(f"{self._where}: {key} pattern is invalid: {error}") from None
            pairs.append((compiled, item["with"].encode("utf-8")))
        return tuple(pairs)

    def chunking(self, key: str) -> Chunking | None:
        value = self._data.get(key)
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return Chunking(size=value)
        if isinstance(value, Mapping) and set(value) <= {"size", "delay"} and "size" in value:
            size, delay = value["size"], value.get("delay", 0)
            if isinstance(size, int) and size > 0 and isinstance(delay, int | float) and delay >= 0:
                return Chunking(size=size, delay=float(delay))
        raise self._fail(key, "a size in octets or {size, delay}")

    def capability_edit(self, key: str) -> CapabilityEdit | None:
        value = self._data.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping) or not set(value) <= {"add", "remove"}:
            raise self._fail(key, "a mapping with add and/or remove lists")
        lists = {}
        for part in ("add", "remove"):
            items = value.get(part, [])
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise self._fail(key, f"a list of strings in {part}")
            lists[part] = tuple(items)
        return CapabilityEdit(add=lists["add"], remove=lists["remove"])
