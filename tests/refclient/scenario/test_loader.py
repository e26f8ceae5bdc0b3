"""Invalid scenario files get precise errors (file:line:column, a suggestion); valid ones load."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakeservers.audit.cases import all_cases
from refclient import errors
from refclient.cli.run import bundled_scenarios
from refclient.scenario.context import error_kind
from refclient.scenario.loader import ScenarioError, load_paths, load_text
from refclient.scenario.steps import ERROR_KINDS

VALID = """
id: ok
title: fine
tags: [imap]
requires: {endpoints: [imaps], accounts: 1}
steps:
  - imap.connect: {endpoint: imaps}
    capture: {caps: capabilities}
  - expect:
      $caps: {contains: IMAP4REV1}
cleanup:
  - imap.logout: {}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as failure:
        load_text(text, file="s.yaml")
    return failure.value.problems


def test_a_valid_scenario_loads_with_locations() -> None:
    (scenario,) = load_text(VALID, file="s.yaml")
    assert scenario.id == "ok" and scenario.requires.endpoints == ("imaps",)
    assert [step.action for step in scenario.steps] == ["imap.connect", "expect"]
    assert str(scenario.steps[0].location) == "s.yaml:7:5"
    assert scenario.cleanup[0].action == "imap.logout"


HEAD = "id: a\ntitle: b\n"


def steps(*lines: str) -> str:
    return HEAD + "steps:\n" + "".join(f"{line}\n" for line in lines)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HEAD + "step: []\n", "s.yaml:3:1: unknown key 'step' in a scenario (did you mean 'steps'"),
        (steps("  - imap.conect: {}"), "s.yaml:4:5: unknown step 'imap.conect' (did you mean"),
        (steps("  - imap.connect: {endpont: imaps}"), "s.yaml:4:20: unknown key 'endpont'"),
        (steps("  - imap.connect: {endpoint: imapz}"), "s.yaml:4:30: imap.connect.endpoint must"),
        (steps("  - pop3.top: {number: one}"), "s.yaml:4:24: pop3.top.number must be an integer"),
        (steps("  - pop3.retr: {}"), "s.yaml:4:5: pop3.retr needs the argument 'number'"),
        (steps("  - imap.login: {password: $pasword}"), "s.yaml:4:28: undefined variable $pasword"),
        (
            steps("  - imap.noop: {}", "    expect: {x: {contain: 1}}"),
            "s.yaml:5:18: unknown matcher 'contain' (did you mean 'contains'?)",
        ),
        (
            steps("  - imap.noop: {}", "    error: auth-failed"),
            "s.yaml:5:12: unknown error kind 'auth-failed'",
        ),
        (
            HEAD + "requires: {endpoints: [imapss]}\nsteps: []\n",
            "s.yaml:3:23: unknown endpoint 'imapss'",
        ),
        ("title: b\nsteps: []\n", "s.yaml:1:1: a scenario needs 'id'"),
        (
            steps("  - imap.noop: {}", "    imap.list: {}"),
            "s.yaml:4:5: a step needs exactly one action",
        ),
        ("id: a\ntitle: [b\n", "s.yaml:3:1: YAML syntax error"),
    ],
)
def test_each_kind_of_mistake_is_located_and_explained(text: str, expected: str) -> None:
    found = problems(text)
    assert any(problem.startswith(expected) for problem in found), found


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ("{profile: gmial}", "s.yaml:3:19: unknown profile 'gmial' (did you mean 'gmail'?)"),
        ("{quirks: [repeated-bey]}", "unknown quirk 'repeated-bey' (did you mean 'repeated-bye'?)"),
        ("{rules: [{event: comand}]}", "server.rules: rule 'rule-1': 'event' must be one of"),
        ("{rules: [{event: command, dely: 1}]}", "unknown key 'dely'; did you mean 'delay'?"),
        ("{seed: one}", "server.seed must be an integer"),
        ("{profil: gmail}", "unknown key 'profil' in server (did you mean 'profile'"),
        ("{attack: imap-contrl}", "unknown attack case 'imap-contrl' (did you mean 'imap-control'"),
        ("{tls: expird}", "unknown TLS variant 'expird' (did you mean 'expired'?)"),
    ],
)
def test_server_section_mistakes_are_located(server: str, expected: str) -> None:
    text = HEAD + f"server: {server}\nsteps:\n  - imap.noop: {{}}\n"
    assert any(expected in problem for problem in problems(text)), problems(text)


def test_a_server_section_loads() -> None:
    text = HEAD + (
        "server: {profile: gmail, quirks: [repeated-bye], seed: 3,"
        " rules: [{event: greeting, send: '* BYE'}]}\nsteps:\n  - imap.noop: {}\n"
    )
    (scenario,) = load_text(text, file="s.yaml")
    assert scenario.server.profile == "gmail"
    assert scenario.server.quirks == ("repeated-bye",)
    assert scenario.server.seed == 3
    assert scenario.server.changes_server


def test_every_audit_case_has_a_bundled_security_scenario() -> None:
    attacks = [s.server.attack for s in load_paths([bundled_scenarios()]) if s.server.attack]
    assert sorted(attacks) == sorted(case.id for case in all_cases())


def test_every_client_error_has_a_kind_scenarios_can_name() -> None:
    kinds = {
        error_kind(cls.__new__(cls))
        for cls in vars(errors).values()
        if isinstance(cls, type)
        and issubclass(cls, errors.ClientError)
        and cls is not errors.ClientError
    }
    assert "tls-failed" in kinds
    assert kinds <= set(ERROR_KINDS)


def test_a_control_character_is_located_not_a_crash() -> None:
    # Found by the fuzzer (tests/fuzz): PyYAML's reader error has no mark.
    assert problems("id: a\ntitle: \x01\n") == [
        "s.yaml:2:8: character '\\x01' is not allowed in YAML"
    ]


def test_every_problem_is_reported_at_once() -> None:
    text = "id: a\ntitle: b\nsteps:\n  - imap.conect: {}\n  - pop3.retr: {}\n"
    assert len(problems(text)) == 2


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(VALID, encoding="utf-8")
    (tmp_path / "two.yaml").write_text(VALID, encoding="utf-8")
    with pytest.raises(ScenarioError, match="duplicate scenario id 'ok'"):
        load_paths([tmp_path])


def test_the_bundled_library_loads() -> None:
    scenarios = load_paths([bundled_scenarios()])
    assert len(scenarios) >= 50
    assert len({s.id for s in scenarios}) == len(scenarios)
    assert {"imap", "pop3", "smtp", "roundtrip"} <= {tag for s in scenarios for tag in s.tags}
