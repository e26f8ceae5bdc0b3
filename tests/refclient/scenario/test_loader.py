"""The scenario loader: valid files load; each kind of invalid file fails at file:line:column."""

from __future__ import annotations

import pytest

from refclient.scenario import ScenarioError, load_text

VALID = """\
id: greeting
title: A greeting
steps:
  - wire.connect: {endpoint: imaps}
    expect: {greeting: {matches: OK}}
    capture: {first: greeting}
  - expect: {$first: {contains: OK}}
"""


def test_valid_scenario_loads() -> None:
    (scenario,) = load_text(VALID, file="s.yaml")
    assert scenario.id == "greeting"
    assert [step.action for step in scenario.steps] == ["wire.connect", "expect"]
    assert scenario.steps[0].capture == {"first": "greeting"}


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("id: a\ntitle: b\nstep: []\n", "s.yaml:3:1", "did you mean 'steps'"),
        ("id: a\ntitle: b\nsteps:\n  - wire.conect: {}\n", "s.yaml:4:5", "did you mean"),
        ("id: a\ntitle: b\nsteps:\n  - wire.connect: {endpoint: 3}\n", "s.yaml:4:30", "string"),
        ("id: a\ntitle: b\nsteps:\n  - wire.connect: {}\n", "s.yaml:4:19", "required"),
        ("id: a\ntitle: b\nsteps:\n  - wire.command: {line: $x}\n", "s.yaml:4:26", "$x"),
        ("id: [a\n", "s.yaml:2:1", "YAML syntax error"),
        ("title: b\nsteps: []\n", "s.yaml:1:1", "'id'"),
    ],
)
def test_invalid_files_fail_with_position(text: str, where: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_text(text, file="s.yaml")
    assert str(caught.value).startswith(where + ": ")
    assert message in str(caught.value)
