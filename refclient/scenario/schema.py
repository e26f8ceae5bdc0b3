"""The JSON Schema of scenario files, generated from the step registry.

Editors use it to validate and complete scenario files (for example with the
YAML language server: ``# yaml-language-server: $schema=scenario.schema.json``).
The published copy is ``scenarios/scenario.schema.json``; a test keeps it equal
to what this module generates, so the schema and the loader never disagree.

    python -m refclient.scenario.schema > scenarios/scenario.schema.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

from fakeservers.audit.cases import all_cases
from fakeservers.profiles.catalogue import load_quirks, profile_names
from fakeservers.tls_variants import VARIANTS
from refclient.scenario.matchers import MATCHERS
from refclient.scenario.steps import ERROR_KINDS, STEPS, Arg, Kind
from refclient.scenario.targets import ENDPOINT_NAMES

_VARIABLE = {"type": "string", "pattern": r"\$"}
_KINDS: dict[Kind, dict[str, Any]] = {
    Kind.STRING: {"type": "string"},
    Kind.INTEGER: {"anyOf": [{"type": "integer"}, _VARIABLE]},
    Kind.NUMBER: {"anyOf": [{"type": "number"}, _VARIABLE]},
    Kind.BOOLEAN: {"anyOf": [{"type": "boolean"}, _VARIABLE]},
    Kind.STRINGS: {"anyOf": [{"type": "array", "items": {"type": "string"}}, _VARIABLE]},
    Kind.NUMBERS: {
        "anyOf": [
            {"type": "integer"},
            {"type": "string"},
            {"type": "array", "items": {"type": "integer"}},
        ]
    },
    Kind.MAPPING: {"anyOf": [{"type": "object"}, _VARIABLE]},
    Kind.LIST: {"anyOf": [{"type": "array"}, _VARIABLE]},
    Kind.ANY: {},
}


def _argument(arg: Arg) -> dict[str, Any]:
    schema = dict(_KINDS[arg.kind])
    if arg.choices:
        schema = {"anyOf": [{"enum": list(arg.choices)}, _VARIABLE]}
    if arg.doc:
        schema["description"] = arg.doc
    return schema


def _step(name: str) -> dict[str, Any]:
    spec = STEPS[name]
    free = name in ("set", "expect")
    arguments: dict[str, Any] = {"type": ["object", "null"]}
    if not free:
        arguments["properties"] = {key: _argument(arg) for key, arg in spec.args.items()}
        arguments["additionalProperties"] = False
        required = [key for key, arg in spec.args.items() if arg.required]
        if required:
            arguments["required"] = required
    properties: dict[str, Any] = {name: arguments}
    if name != "expect":
        properties |= {
            "expect": {"$ref": "#/$defs/expectations"},
            "capture": {"type": "object", "additionalProperties": {"type": "string"}},
            "error": {"$ref": "#/$defs/error"},
        }
    return {
        "type": "object",
        "description": spec.doc,
        "properties": properties,
        "required": [name],
        "additionalProperties": False,
    }


def scenario_schema() -> dict[str, Any]:
    """The schema of one scenario document."""
    strings = {"type": "array", "items": {"type": "string"}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "mailcompat scenario",
        "type": "object",
        "required": ["id", "title", "steps"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "tags": strings,
            "rfc": strings,
            "timeout": {"type": "number"},
            "strict": {"type": "boolean"},
            "requires": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "endpoints": {"type": "array", "items": {"enum": list(ENDPOINT_NAMES)}},
                    "accounts": {"type": "integer", "minimum": 0},
                    "capabilities": {"type": "object", "additionalProperties": strings},
                    "targets": {"type": "array", "items": {"enum": ["fake", "server"]}},
                    "fresh_accounts": {"type": "boolean"},
                },
            },
            "server": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "profile": {"enum": profile_names()},
                    "quirks": {"type": "array", "items": {"enum": sorted(load_quirks())}},
                    "rules": {"type": "array", "items": {"type": "object"}},
                    "seed": {"type": "integer"},
                    "attack": {"enum": [case.id for case in all_cases()]},
                    "tls": {"enum": [variant.name for variant in VARIANTS]},
                },
            },
            "steps": {"type": "array", "items": {"$ref": "#/$defs/step"}},
            "cleanup": {"type": "array", "items": {"$ref": "#/$defs/step"}},
        },
        "$defs": {
            "step": {"oneOf": [_step(name) for name in STEPS]},
            "expectations": {
                "type": "object",
                "additionalProperties": {
                    "anyOf": [
                        {
                            "type": "object",
                            "propertyNames": {"enum": sorted(MATCHERS)},
                        },
                        {"not": {"type": "object"}},
                    ]
                },
            },
            "error": {
                "anyOf": [
                    {"enum": list(ERROR_KINDS)},
                    {
                        "type": "object",
                        "properties": {
                            "kind": {"enum": list(ERROR_KINDS)},
                            "message": {"type": "string"},
                        },
                        "additionalProperties": False,
                    },
                ]
            },
        },
    }


def main() -> int:
    """Print the schema (``python -m refclient.scenario.schema``)."""
    sys.stdout.write(json.dumps(scenario_schema(), indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
