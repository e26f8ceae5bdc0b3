"""The published JSON Schema agrees with the loader, on the bundled files and on mistakes."""

from __future__ import annotations

import json

import pytest
import yaml

from refclient.cli.run import bundled_scenarios
from refclient.scenario.loader import ScenarioError, load_text
from refclient.scenario.schema import scenario_schema

# jsonschema needs rpds-py, a compiled extension that not every interpreter can load
# (Wine's emulation of Windows, for one); without it these checks cannot run.
jsonschema = pytest.importorskip("jsonschema", reason="jsonschema (rpds-py) cannot be imported")

PUBLISHED = bundled_scenarios() / "scenario.schema.json"
VALIDATOR = jsonschema.Draft202012Validator(scenario_schema())


def test_the_published_schema_is_the_generated_one() -> None:
    assert json.loads(PUBLISHED.read_text(encoding="utf-8")) == scenario_schema(), (
        "regenerate it: python -m refclient.scenario.schema > scenarios/scenario.schema.json"
    )


def documents() -> list[tuple[str, object]]:
    found = []
    for path in sorted(bundled_scenarios().rglob("*.yaml")):
        for index, document in enumerate(yaml.safe_load_all(path.read_text(encoding="utf-8"))):
            found.append((f"{path.name}#{index}", document))
    return found


@pytest.mark.parametrize(("name", "document"), documents())
def test_every_bundled_scenario_is_valid_for_editors(name: str, document: object) -> None:
    VALIDATOR.validate(document)


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
def test_the_schema_and_the_loader_reject_the_same_mistakes(text: str) -> None:
    with pytest.raises(ScenarioError):
        load_text(text)
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(yaml.safe_load(text))
