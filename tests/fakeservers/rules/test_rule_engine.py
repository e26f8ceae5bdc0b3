"""Which rules fire (sans-IO): conditions, counts, seeded chance, combined actions."""

from __future__ import annotations

from fakeservers.rules import Event, RuleSet, ruleset_from_data


def _fires(ruleset: RuleSet, events: int, *, protocol: str = "imap") -> list[bool]:
    session = ruleset.session(protocol)
    return [bool(session.fire(Event.COMMAND, verb="NOOP", tls=True)) for _ in range(events)]


def test_nth_fires_on_that_occurrence_only_in_each_session() -> None:
    ruleset = ruleset_from_data([{"name": "second", "event": "command", "verb": "NOOP", "nth": 2}])
    assert _fires(ruleset, 4) == [False, True, False, False]
    assert _fires(ruleset, 3) == [False, True, False]  # counted per session
    assert ruleset.hits() == {"second": 2}


def test_times_is_a_budget_over_all_sessions() -> None:
    ruleset = ruleset_from_data([{"name": "twice", "event": "command", "times": 2}])
    assert _fires(ruleset, 1) + _fires(ruleset, 3) == [True, True, False, False]
    assert ruleset.hits() == {"twice": 2}


def test_probability_is_reproducible_with_its_seed() -> None:
    document = {"seed": 42, "rules": [{"name": "coin", "event": "command", "probability": 0.5}]}
    first = _fires(ruleset_from_data(document), 64)
    again = _fires(ruleset_from_data(document), 64)
    other = _fires(ruleset_from_data({**document, "seed": 43}), 64)
    assert first == again
    assert first != other
    assert 0 < sum(first) < 64  # a coin, not a constant
    never = ruleset_from_data([{"name": "never", "event": "command", "probability": 0}])
    assert _fires(never, 20) == [False] * 20


def test_conditions_must_all_hold() -> None:
    ruleset = ruleset_from_data(
        [
            {
                "name": "alice-fetch",
                "event": "command",
                "protocol": "imap",
                "verb": ["FETCH", "UID"],
                "state": "selected",
                "user": "alice",
                "mailbox": "INBOX",
                "tls": True,
                "match": "BODY",
            }
        ]
    )
    session = ruleset.session("imap")
    session.state, session.user, session.mailbox = "selected", "alice", "INBOX"
    assert session.fire(Event.COMMAND, verb="FETCH", data=b"a FETCH 1 BODY[]", tls=True)
    assert not session.fire(Event.COMMAND, verb="FETCH", data=b"a FETCH 1 FLAGS", tls=True)
    assert not session.fire(Event.COMMAND, verb="FETCH", data=b"a FETCH 1 BODY[]", tls=False)
    assert not session.fire(Event.COMMAND, verb="STORE", data=b"a STORE 1 BODY", tls=True)
    session.user = "bob"
    assert not session.fire(Event.COMMAND, verb="FETCH", data=b"a FETCH 1 BODY[]", tls=True)
    assert not ruleset.session("pop3")  # no rule concerns POP3


def test_response_rules_know_the_verb_being_answered() -> None:
    ruleset = ruleset_from_data([{"name": "r", "event": "response", "verb": "LIST"}])
    session = ruleset.session("imap")
    session.fire(Event.COMMAND, verb="LIST", tls=True)
    assert session.fire(Event.RESPONSE, data=b'* LIST () "/" INBOX\r\n', tls=True)
    session.fire(Event.COMMAND, verb="NOOP", tls=True)
    assert not session.fire(Event.RESPONSE, data=b"a OK\r\n", tls=True)


def test_actions_combine_in_order() -> None:
    ruleset = ruleset_from_data(
        [
            {"name": "a", "event": "response", "delay": 0.5, "send_before": "1", "send_after": "x"},
            {"name": "b", "event": "response", "delay": 0.25, "send_before": "2", "truncate": 12},
            {"name": "c", "event": "response", "replace": {"pattern": "INBOX", "with": "Inbox"}},
        ]
    )
    fired = ruleset.session("imap").fire(Event.RESPONSE, data=b"", tls=True)
    assert fired.names == ["a", "b", "c"]
    assert fired.delay == 0.75
    assert fired.before == b"1\r\n2\r\n"
    assert fired.after == b"x\r\n"
    assert fired.rewrite(b'* LIST () "/" INBOX\r\n') == b'* LIST () "/'  # truncated before c
    assert fired.ending is not None and fired.ending.value == "close"  # truncation closes


def test_send_fills_placeholders_and_as_literal_rewrites_quoted_strings() -> None:
    ruleset = ruleset_from_data(
        [{"name": "no", "event": "command", "send": "{tag} NO [ALERT] not now"}]
    )
    fired = ruleset.session("imap").fire(Event.COMMAND, verb="NOOP", tls=True)
    assert fired.rewrite(b"", tag="a7") == b"a7 NO [ALERT] not now\r\n"
    literal = ruleset_from_data([{"name": "lit", "event": "response", "as_literal": True}])
    fired = literal.session("imap").fire(Event.RESPONSE, tls=True)
    assert fired.rewrite(b'* LIST () "/" "a \\"b\\""\r\n') == (
        b'* LIST () {1}\r\n/ {5}\r\na "b"\r\n'
    )


def test_capability_edits_last_for_the_session() -> None:
    ruleset = ruleset_from_data(
        [
            {
                "name": "hide",
                "event": "command",
                "verb": "LOGIN",
                "capabilities": {"remove": ["SASL"]},
            }
        ]
    )
    session = ruleset.session("pop3")
    names = ["TOP", "SASL PLAIN LOGIN", "USER"]
    assert session.capabilities(names) == names
    session.fire(Event.COMMAND, verb="LOGIN", tls=True)
    assert session.capabilities(names) == ["TOP", "USER"]
    assert ruleset.session("pop3").capabilities(names) == names  # a new session is untouched
