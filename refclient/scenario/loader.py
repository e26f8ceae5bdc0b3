"""Load and validate scenario files: every problem is named with file:line:column.

Validation happens before anything runs: unknown keys, wrong types, unknown
steps or arguments, bad choices, unknown matchers or error kinds, and
references to variables that no earlier step defines. Each problem says where
it is and, for a misspelling, what was probably meant ("did you mean ...").
A file may hold several scenarios as YAML documents separated by ``---``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from fakeservers.audit.cases import all_cases
from fakeservers.profiles.catalogue import load_quirks, profile_names
from fakeservers.rules import RuleError, ruleset_from_data
from fakeservers.tls_variants import VARIANTS
from refclient.scenario.matchers import MATCHERS
from refclient.scenario.model import (
    Expectation,
    ExpectedError,
    Location,
    Matcher,
    Requires,
    Scenario,
    ServerSection,
    Step,
)
from refclient.scenario.steps import ERROR_KINDS, STEP_MODIFIERS, STEPS, Kind
from refclient.scenario.targets import ENDPOINT_NAMES
from refclient.scenario.variables import BUILTINS, VariableError, parse_path, references


class ScenarioError(Exception):
    """One or more problems in scenario files; ``str()`` lists them, one per line."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


def _hint(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Reader:
    """Walks one YAML document's nodes, collecting problems with their locations."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[str] = []

    def where(self, node: Node) -> Location:
        mark = node.start_mark
        return Location(file=self.file, line=mark.line + 1, column=mark.column + 1)

    def problem(self, node: Node, message: str) -> None:
        self.problems.append(f"{self.where(node)}: {message}")

    @staticmethod
    def value(node: Node) -> Any:
        return SafeConstructor().construct_document(node)

    def mapping(self, node: Node, what: str) -> dict[str, tuple[Node, Node]]:
        if not isinstance(node, MappingNode):
            self.problem(node, f"{what} must be a mapping")
            return {}
        found: dict[str, tuple[Node, Node]] = {}
        for key, value in node.value:
            name = str(self.value(key))
            if name in found:
                self.problem(key, f"duplicate key {name!r} in {what}")
            found[name] = (key, value)
        return found

    def keys(self, found: dict[str, tuple[Node, Node]], allowed: Iterable[str], what: str) -> None:
        allowed = list(allowed)
        for name, (key, _value) in found.items():
            if name not in allowed:
                self.problem(key, f"unknown key {name!r} in {what}{_hint(name, allowed)}")

    def typed(self, node: Node, kind: Kind, what: str) -> Any:
        value = self.value(node)
        if isinstance(value, str) and "$" in value:
            return value  # a variable: checked when the step runs
        ok = {
            Kind.STRING: isinstance(value, str),
            Kind.INTEGER: isinstance(value, int) and not isinstance(value, bool),
            Kind.NUMBER: isinstance(value, int | float) and not isinstance(value, bool),
            Kind.BOOLEAN: isinstance(value, bool),
            Kind.STRINGS: isinstance(value, list) and all(isinstance(v, str) for v in value),
            Kind.NUMBERS: isinstance(value, int | str)
            or (isinstance(value, list) and all(isinstance(v, int) for v in value)),
            Kind.MAPPING: isinstance(value, dict),
            Kind.LIST: isinstance(value, list),
            Kind.ANY: True,
        }[kind]
        if not ok:
            article = "an" if kind.value[0] in "aeiou" else "a"
            self.problem(node, f"{what} must be {article} {kind.value}, not {type(value).__name__}")
        return value


_TOP_KEYS = (
    "id",
    "title",
    "description",
    "tags",
    "rfc",
    "requires",
    "server",
    "steps",
    "cleanup",
    "timeout",
    "strict",
)
_REQUIRES_KEYS = ("endpoints", "accounts", "capabilities", "targets", "fresh_accounts")
_SERVER_KEYS = ("profile", "quirks", "rules", "seed", "attack", "tls")


def _server(reader: _Reader, node: Node) -> ServerSection:
    """The ``server`` section: profile, quirks, rules and seed, checked against the catalogue."""
    found = reader.mapping(node, "server")
    reader.keys(found, _SERVER_KEYS, "server")
    profile = quirks = rules = seed = attack = tls = None
    if "profile" in found:
        profile = reader.typed(found["profile"][1], Kind.STRING, "server.profile")
        known = profile_names()
        if isinstance(profile, str) and profile not in known:
            hint = _hint(profile, known)
            reader.problem(found["profile"][1], f"unknown profile {profile!r}{hint}")
    if "quirks" in found:
        quirks = reader.typed(found["quirks"][1], Kind.STRINGS, "server.quirks") or []
        catalogue = load_quirks()
        for name in quirks:
            if name not in catalogue:
                hint = _hint(name, catalogue)
                reader.problem(found["quirks"][1], f"unknown quirk {name!r}{hint}")
    if "seed" in found:
        seed = reader.typed(found["seed"][1], Kind.INTEGER, "server.seed")
    if "attack" in found:
        attack = reader.typed(found["attack"][1], Kind.STRING, "server.attack")
        cases = [case.id for case in all_cases()]
        if isinstance(attack, str) and attack not in cases:
            reader.problem(
                found["attack"][1], f"unknown attack case {attack!r}{_hint(attack, cases)}"
            )
    if "tls" in found:
        tls = reader.typed(found["tls"][1], Kind.STRING, "server.tls")
        variants = [variant.name for variant in VARIANTS]
        if isinstance(tls, str) and tls not in variants:
            hint = _hint(tls, variants)
            reader.problem(found["tls"][1], f"unknown TLS variant {tls!r}{hint}")
    if "rules" in found:
        rules = reader.value(found["rules"][1])
        try:
            ruleset_from_data(rules if isinstance(rules, list) else {"rules": rules})
        except RuleError as error:
            reader.problem(found["rules"][1], f"server.rules: {error}")
    return ServerSection(
        profile=profile if isinstance(profile, str) else None,
        quirks=tuple(quirks or ()),
        rules=tuple(rules) if isinstance(rules, list) else (),
        seed=seed if isinstance(seed, int) else None,
        attack=attack if isinstance(attack, str) else None,
        tls=tls if isinstance(tls, str) else None,
    )


def _requires(reader: _Reader, node: Node) -> Requires:
    found = reader.mapping(node, "requires")
    reader.keys(found, _REQUIRES_KEYS, "requires")
    endpoints: list[str] = []
    if "endpoints" in found:
        endpoints = reader.typed(found["endpoints"][1], Kind.STRINGS, "requires.endpoints") or []
        for name in endpoints:
            if name not in ENDPOINT_NAMES:
                reader.problem(
                    found["endpoints"][1],
                    f"unknown endpoint {name!r}{_hint(name, ENDPOINT_NAMES)}",
                )
    accounts = (
        reader.typed(found["accounts"][1], Kind.INTEGER, "requires.accounts")
        if ("accounts" in found)
        else 0
    )
    targets = (
        reader.typed(found["targets"][1], Kind.STRINGS, "requires.targets")
        if ("targets" in found)
        else []
    )
    capabilities: dict[str, tuple[str, ...]] = {}
    if "capabilities" in found:
        raw = reader.typed(found["capabilities"][1], Kind.MAPPING, "requires.capabilities")
        capabilities = {str(k): tuple(v or ()) for k, v in (raw or {}).items()}
    return Requires(
        endpoints=tuple(endpoints),
        accounts=accounts if isinstance(accounts, int) else 0,
        capabilities=capabilities,
        targets=tuple(targets or ()),
        fresh_accounts=bool(
            found.get("fresh_accounts", (None, None))[1]
            and reader.value(found["fresh_accounts"][1])
        ),
    )


def _expectations(reader: _Reader, node: Node) -> tuple[Expectation, ...]:
    expectations = []
    for path, (key, value) in reader.mapping(node, "expect").items():
        where = reader.where(key)
        if isinstance(value, MappingNode):
            checks = {str(reader.value(k)): (k, v) for k, v in value.value}
        else:
            checks = {"equals": (key, value)}
        matchers = []
        for name, (name_node, operand) in checks.items():
            if name not in MATCHERS:
                reader.problem(name_node, f"unknown matcher {name!r}{_hint(name, MATCHERS)}")
                continue
            matchers.append(Matcher(op=name, operand=reader.value(operand), location=where))
        expectations.append(Expectation(path=path, matchers=tuple(matchers), location=where))
    return tuple(expectations)


def _error(reader: _Reader, node: Node) -> ExpectedError:
    if isinstance(node, ScalarNode):
        kind, message = str(reader.value(node)), None
    else:
        found = reader.mapping(node, "error")
        reader.keys(found, ("kind", "message"), "error")
        kind = str(reader.value(found["kind"][1])) if "kind" in found else "any"
        message = str(reader.value(found["message"][1])) if "message" in found else None
    if kind not in ERROR_KINDS:
        reader.problem(node, f"unknown error kind {kind!r}{_hint(kind, ERROR_KINDS)}")
    return ExpectedError(kind=kind, message=message)


def _check_references(reader: _Reader, node: Node, value: Any, defined: set[str]) -> None:
    texts = [value] if isinstance(value, str) else []
    if isinstance(value, list | dict):
        texts = [str(v) for v in (value.values() if isinstance(value, dict) else value)]
    for text in texts:
        try:
            for path in references(text):
                root, _segments = parse_path(path)
                if root not in defined:
                    reader.problem(
                        node, f"undefined variable ${root}{_hint(root, sorted(defined))}"
                    )
        except VariableError as exc:
            reader.problem(node, str(exc))


def _step(reader: _Reader, node: Node, defined: set[str]) -> Step | None:
    found = reader.mapping(node, "a step")
    actions = [name for name in found if name not in STEP_MODIFIERS]
    if not actions and list(found) == ["expect"]:
        actions = ["expect"]  # the ``expect`` step: checks on variables only
    if len(actions) != 1:
        reader.problem(node, f"a step needs exactly one action, found {actions or 'none'}")
        return None
    action = actions[0]
    key, args_node = found[action]
    spec = STEPS.get(action)
    if spec is None:
        reader.problem(key, f"unknown step {action!r}{_hint(action, STEPS)}")
        return None
    args: dict[str, Any] = {}
    if not (isinstance(args_node, ScalarNode) and reader.value(args_node) is None):
        arg_nodes = reader.mapping(args_node, f"the arguments of {action}")
        free = action in ("set", "expect")
        if not free:
            reader.keys(arg_nodes, spec.args, f"{action}")
        for name, (_k, value_node) in arg_nodes.items():
            arg = spec.args.get(name)
            value = (
                reader.typed(value_node, arg.kind, f"{action}.{name}")
                if arg
                else (reader.value(value_node))
            )
            if (
                arg
                and arg.choices
                and isinstance(value, str)
                and "$" not in value
                and (value not in arg.choices)
            ):
                reader.problem(
                    value_node,
                    f"{action}.{name} must be one of {', '.join(arg.choices)}"
                    f"{_hint(value, arg.choices)}",
                )
            _check_references(reader, value_node, value, defined)
            args[name] = value
        if action == "expect":
            for name, (k, _v) in arg_nodes.items():
                _check_references(reader, k, "$" + name.removeprefix("$"), defined)
    for name, arg in spec.args.items():
        if arg.required and name not in args:
            reader.problem(key, f"{action} needs the argument {name!r}")
    if action == "set":
        defined.update(args)
    if action == "message" and isinstance(args.get("name"), str):
        defined.add(args["name"])
    capture: dict[str, str] = {}
    if "capture" in found:
        raw = reader.typed(found["capture"][1], Kind.MAPPING, "capture") or {}
        capture = {str(k): str(v) for k, v in raw.items()}
        defined.update(capture)
    return Step(
        action=action,
        args=args,
        expect=_expectations(reader, found["expect"][1])
        if "expect" in found and action != "expect"
        else (),
        capture=capture,
        error=_error(reader, found["error"][1]) if "error" in found else None,
        location=reader.where(key),
    )


def _steps(reader: _Reader, node: Node, what: str, defined: set[str]) -> tuple[Step, ...]:
    if not isinstance(node, SequenceNode):
        reader.problem(node, f"{what} must be a list of steps")
        return ()
    steps = [_step(reader, item, defined) for item in node.value]
    return tuple(step for step in steps if step is not None)


def _scenario(reader: _Reader, node: Node) -> Scenario | None:
    found = reader.mapping(node, "a scenario")
    if not found:
        return None
    reader.keys(found, _TOP_KEYS, "a scenario")
    for required in ("id", "title", "steps"):
        if required not in found:
            reader.problem(node, f"a scenario needs {required!r}")
    if "steps" not in found:
        return None
    defined = set(BUILTINS)
    text = {
        name: str(reader.typed(found[name][1], Kind.STRING, name))
        for name in ("id", "title", "description")
        if name in found
    }
    lists = {
        name: tuple(reader.typed(found[name][1], Kind.STRINGS, name) or ())
        for name in ("tags", "rfc")
        if name in found
    }
    steps = _steps(reader, found["steps"][1], "steps", defined)
    cleanup = _steps(reader, found["cleanup"][1], "cleanup", defined) if "cleanup" in found else ()
    server = _server(reader, found["server"][1]) if "server" in found else ServerSection()
    timeout = (
        reader.typed(found["timeout"][1], Kind.NUMBER, "timeout") if "timeout" in found else 60
    )
    return Scenario(
        id=text.get("id", "?"),
        title=text.get("title", ""),
        description=text.get("description", ""),
        tags=lists.get("tags", ()),
        rfc=lists.get("rfc", ()),
        requires=_requires(reader, found["requires"][1]) if "requires" in found else Requires(),
        server=server,
        steps=steps,
        cleanup=cleanup,
        timeout=float(timeout) if isinstance(timeout, int | float) else 60.0,
        strict=bool(reader.value(found["strict"][1])) if "strict" in found else False,
        location=reader.where(node),
    )


def load_text(text: str, *, file: str = "<string>") -> list[Scenario]:
    """Every scenario in ``text``; raises :class:`ScenarioError` listing all problems."""
    reader = _Reader(file)
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else file
        raise ScenarioError([f"{where}: YAML syntax error: {exc.problem}"]) from None
    except yaml.reader.ReaderError as exc:
        # A character YAML does not allow (a control character, say): no line and
        # column, only a position in the text.
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        char = exc.character
        shown = repr(chr(char)) if isinstance(char, int) else repr(char)
        problem = f"character {shown} is not allowed in YAML"
        raise ScenarioError([f"{file}:{line}:{column}: {problem}"]) from None
    scenarios = [s for doc in documents if doc is not None if (s := _scenario(reader, doc))]
    if reader.problems:
        raise ScenarioError(reader.problems)
    return scenarios


def load_paths(paths: Iterable[Path]) -> list[Scenario]:
    """Every scenario in the files and folders (``*.yaml``, ``*.yml``), all checked first."""
    problems: list[str] = []
    scenarios: list[Scenario] = []
    for path in paths:
        files = sorted([*path.rglob("*.yaml"), *path.rglob("*.yml")]) if path.is_dir() else [path]
        if not files:
            problems.append(f"{path}: no scenario files")
        for file in files:
            try:
                scenarios += load_text(file.read_text(encoding="utf-8"), file=str(file))
            except OSError as exc:
                problems.append(f"{file}: {exc}")
            except ScenarioError as exc:
                problems += exc.problems
    seen: dict[str, Location] = {}
    for scenario in scenarios:
        if scenario.id in seen:
            problems.append(
                f"{scenario.location}: duplicate scenario id {scenario.id!r} "
                f"(first at {seen[scenario.id]})"
            )
        seen.setdefault(scenario.id, scenario.location)
    if problems:
        raise ScenarioError(problems)
    return scenarios
