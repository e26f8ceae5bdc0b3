"""The published JSON Schema agrees with the loader, on the bundled files and on mistakes."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from refclient.cli.run import bundled_scenarios
from refclient.scenario.loader import ScenarioError, load_text
from refclient.scenario.schema import scenario_schema

PUBLISHED = bundled_scenarios() / "scenario.schema.json"


@pytest.fixture(scope="module")
def validator() -> Any:
    # jsonschema needs rpds-py, a compiled extension that not every interpreter can
    # load (Wine's emulation of Windows, for one); without it, editors' view cannot be checked.
    jsonschema = pytest.importorskip(
        "jsonschema", reason="jsonschema (rpds-py) cannot be imported", exc_type=ImportError
    )
    return jsonschema.Draft202012Validator(scenario_schema())


def test_the_published_schema_is_the_generated_one() -> None:
    assert json.loads(PUBLISHED.read_text(encoding="utf-8")) == scenario_schema(), (
        "regenerate it: python -m refclient.scenario.schema > scenarios/scenario.schema.json"
    )


def test_every_bundled_scenario_is_valid_for_editors(validator: Any) -> None:
    problems = []
    count = 0
    for path in sorted(bundled_scenarios().rglob("*.yaml")):
        for index, document in enumerate(yaml.safe_load_all(path.read_text(encoding="utf-8"))):
            count += 1
            problems += [
                f"{path.name}#{index}: {e.message}" for e in validator.iter_errors(document)
            ]
    assert problems == []
    assert count >= 80


@pytest.mark.parametrize(
    "text",
    [
        "id: a\ntitle: b\nstep: []\n",
        "id: a\ntitle: b\nsteps:\n  - imap.conect: {}\n",
        "id: a\ntitle: b\nsteps:\n  - imap.connect: {endpont: imaps}\n",
        "id: a\ntitle: b\nsteps:\n  - pop3.retr: {}\n",
        "id: a\ntitle: b\nsteps:\n  - imap.noop: {}\n    error: auth-failed\n",
        "id: a\ntitle: b\nrequires: {endpoints: [imapss]}\nsteps: []\n",
    ],
)
def test_the_schema_and_the_loader_reject_the_same_mistakes(validator: Any, text: str) -> None:
    with pytest.raises(ScenarioError):
        load_text(text)
    assert not validator.is_valid(yaml.safe_load(text))
