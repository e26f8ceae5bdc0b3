"""Reading rules: every key, and a precise error for every kind of mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakeservers.rules import Ending, Event, RuleError, load_rules_file, ruleset_from_data


def test_every_key_is_read() -> None:
    ruleset = ruleset_from_data(
        {
            "seed": 9,
            "rules": [
                {
                    "name": "everything",
                    "event": "command",
                    "protocol": ["imap", "POP3"],
                    "verb": "fetch",
                    "match": "BODY\\[",
                    "state": "Selected",
                    "user": "alice@example.test",
                    "mailbox": "INBOX",
                    "tls": True,
                    "nth": 2,
                    "times": 3,
                    "probability": 0.5,
                    "delay": 1,
                    "send_before": "* OK before",
                    "send": "{tag} NO nope\r\n",
                    "replace": [{"pattern": "a", "with": "b"}],
                    "as_literal": True,
                    "truncate": 10,
                    "chunks": {"size": 4, "delay": 0.1},
                    "send_after": "* OK after",
                    "capabilities": {"add": ["X-NEW"], "remove": ["IDLE"]},
                    "corrupt_tls": True,
                    "then": "reset",
                    "description": "all keys at once",
                }
            ],
        }
    )
    (rule,) = ruleset.rules
    assert ruleset.seed == 9
    assert rule.event is Event.COMMAND
    assert rule.match.protocols == {"imap", "pop3"}
    assert rule.match.verbs == {"FETCH"}
    assert rule.match.states == {"selected"}
    assert rule.match.pattern is not None and rule.match.pattern.search(b"BODY[]")
    assert (rule.match.nth, rule.match.times, rule.match.probability) == (2, 3, 0.5)
    assert rule.action.send_before == b"* OK before\r\n"  # CRLF appended
    assert rule.action.send == b"{tag} NO nope\r\n"  # already ends a line
    assert rule.action.chunks is not None and rule.action.chunks.size == 4
    assert rule.action.then is Ending.RESET
    assert rule.action.capabilities is not None
    assert rule.action.capabilities.apply(["IMAP4rev1", "IDLE"]) == ["IMAP4rev1", "X-NEW"]


def test_a_bare_list_is_a_rule_set_and_names_default_to_positions() -> None:
    ruleset = ruleset_from_data([{"event": "greeting", "send": "* BYE"}, {"event": "connect"}])
    assert [rule.name for rule in ruleset.rules] == ["rule-1", "rule-2"]
    assert ruleset.seed == 0


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"event": "command", "dely": 1}, "unknown key 'dely'; did you mean 'delay'?"),
        ({"event": "comand"}, "'event' must be one of connect, greeting, command"),
        ({"verb": "NOOP"}, "missing 'event'"),
        ({"event": "idle"}, "an 'idle' rule needs after_ms"),
        ({"event": "command", "then": "explode"}, "'then' must be one of close, reset, stall"),
        ({"event": "command", "protocol": "nntp"}, "protocol must be among imap, pop3, smtp"),
        ({"event": "command", "match": "("}, "match is not a valid regular expression"),
        ({"event": "command", "probability": 2}, "probability must be a number between 0 and 1"),
        ({"event": "command", "nth": 0}, "nth must be an integer >= 1"),
        ({"event": "command", "delay": -1}, "delay must be a number of seconds >= 0"),
        ({"event": "command", "tls": "yes"}, "tls must be true or false"),
        ({"event": "command", "chunks": "big"}, "chunks must be a size in octets or {size, delay}"),
        ({"event": "command", "replace": "x"}, "replace must be a mapping {pattern, with}"),
        ({"event": "command", "capabilities": ["IDLE"]}, "capabilities must be a mapping"),
        ({"event": "command", "verb": 7}, "verb must be a string or a list of strings"),
    ],
)
def test_mistakes_are_named(rule: dict[str, object], message: str) -> None:
    with pytest.raises(RuleError) as caught:
        ruleset_from_data([{"name": "r", **rule}])
    assert message in str(caught.value)
    assert "rule 'r'" in str(caught.value) or "rule 1" in str(caught.value)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"seed": "x", "rules": []}, "seed must be an integer"),
        ({"rulez": []}, "unknown top-level key(s) ['rulez']"),
        ({"rules": "none"}, "rules must be a list"),
        (
            [{"name": "a", "event": "tls"}, {"name": "a", "event": "tls"}],
            "rule names must be unique: a",
        ),
        (["text"], "rule 1: must be a mapping"),
    ],
)
def test_document_mistakes_are_named(document: object, message: str) -> None:
    with pytest.raises(RuleError, match=None) as caught:
        ruleset_from_data(document)
    assert message in str(caught.value)


def test_a_rules_file_names_itself_in_errors(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("seed: 3\nrules:\n  - {name: bye, event: greeting, send: '* BYE'}\n")
    assert load_rules_file(good).hits() == {"bye": 0}
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - {name: bye, event: greting}\n")
    with pytest.raises(RuleError, match=r"bad\.yaml: rule 'bye': 'event' must be one of"):
        load_rules_file(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [\n")
    with pytest.raises(RuleError, match=r"broken\.yaml"):
        load_rules_file(broken)
