"""Load and validate scenario files before anything runs.

Scenario files are YAML; a file holds one scenario or several documents
separated by ``---``. The loader works on PyYAML's node graph (``compose``),
not on plain objects, because nodes carry their position: every problem (a
YAML syntax error, an unknown key, a wrong type, an unknown step, a missing
field, a reference to a variable not defined before) becomes a
:class:`ScenarioError` naming ``file:line:column``, with a "did you mean"
suggestion from :func:`difflib.get_close_matches` where one is close.
The command line maps it to exit code 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from refclient.scenario import variables
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
from refclient.scenario.steps import ERROR_KINDS, STEP_MODIFIERS, STEPS, Arg, Kind

SCENARIO_KEYS = (
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
REQUIRED_SCENARIO_KEYS = ("id", "title", "steps")
REQUIRES_KEYS = ("endpoints", "accounts", "capabilities", "targets", "fresh_accounts")
SERVER_KEYS = ("profile", "seed", "mailboxes", "rules")
ENDPOINTS = ("imap", "imaps", "pop3", "pop3s", "submission", "submissions")
PROTOCOLS = ("imap", "pop3", "smtp")
TARGET_KINDS = ("fake", "server")
SUFFIXES = (".yaml", ".yml")


class ScenarioError(Exception):
    """An invalid scenario file; ``str()`` is ``file:line:column: message``."""

    def __init__(self, message: str, location: Location | None = None) -> None:
        super().__init__(f"{location}: {message}" if location else message)
        self.message = message
        self.location = location


def suggest(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when a choice is close to ``word``, else ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _python_type(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return f"{_value(node)!r}"


def _value(node: yaml.Node) -> Any:
    """The plain Python value of a node (YAML 1.1 safe types)."""
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


class NodeReader:
    """Typed access to the nodes of one file, every error with its position."""

    def __init__(self, file: str) -> None:
        self.file = file

    def at(self, node: yaml.Node) -> Location:
        mark = node.start_mark
        return Location(file=self.file, line=mark.line + 1, column=mark.column + 1)

    def error(self, node: yaml.Node, message: str) -> ScenarioError:
        return ScenarioError(message, self.at(node))

    def mapping(self, node: yaml.Node, what: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """Key -> (key node, value node); duplicate and non-string keys are errors."""
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, f"{what} must be a mapping, not {_python_type(node)}")
        items: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = _value(key_node)
            if not isinstance(key, str):
                raise self.error(key_node, f"keys of {what} must be strings, not {key!r}")
            if key in items:
                raise self.error(key_node, f"duplicate key {key!r} in {what}")
            items[key] = (key_node, value_node)
        return items

    def check_keys(
        self,
        items: Mapping[str, tuple[yaml.Node, yaml.Node]],
        allowed: Sequence[str],
        what: str,
        *,
        required: Sequence[str] = (),
        node: yaml.Node,
    ) -> None:
        for key, (key_node, _) in items.items():
            if key not in allowed:
                raise self.error(key_node, f"unknown key {key!r} in {what}{suggest(key, allowed)}")
        for key in required:
            if key not in items:
                raise self.error(node, f"{what} is missing the required key {key!r}")

    def scalar(self, node: yaml.Node, types: tuple[type, ...], what: str, expected: str) -> Any:
        value = _value(node) if isinstance(node, yaml.ScalarNode) else None
        if (
            value is None
            or not isinstance(value, types)
            or (isinstance(value, bool) and bool not in types)
        ):
            raise self.error(node, f"{what} must be {expected}, not {_python_type(node)}")
        return value

    def string(self, node: yaml.Node, what: str) -> str:
        value: str = self.scalar(node, (str,), what, "a string")
        return value

    def integer(self, node: yaml.Node, what: str) -> int:
        value: int = self.scalar(node, (int,), what, "an integer")
        return value

    def number(self, node: yaml.Node, what: str) -> float:
        value: float = self.scalar(node, (int, float), what, "a number")
        return float(value)

    def boolean(self, node: yaml.Node, what: str) -> bool:
        value: bool = self.scalar(node, (bool,), what, "true or false")
        return value

    def strings(
        self, node: yaml.Node, what: str, *, choices: Sequence[str] = ()
    ) -> tuple[str, ...]:
        """A list of strings (a single string is a list of one)."""
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        result = []
        for item in items:
            text = self.string(item, f"each item of {what}")
            if choices and text not in choices:
                raise self.error(
                    item,
                    f"unknown value {text!r} in {what}{suggest(text, choices)}; "
                    f"known: {', '.join(choices)}",
                )
            result.append(text)
        return tuple(result)


class _ScenarioBuilder:
    """Builds one :class:`Scenario` from its document node."""

    def __init__(self, reader: NodeReader) -> None:
        self.r = reader
        self.defined: set[str] = set(variables.BUILTINS)

    def build(self, node: yaml.Node) -> Scenario:
        r = self.r
        items = r.mapping(node, "a scenario")
        r.check_keys(items, SCENARIO_KEYS, "a scenario", required=REQUIRED_SCENARIO_KEYS, node=node)

        def get(key: str) -> yaml.Node | None:
            return items[key][1] if key in items else None

        id_node, title_node, steps_node = get("id"), get("title"), get("steps")
        assert id_node is not None and title_node is not None and steps_node is not None
        scenario_id = r.string(id_node, "id")
        if not scenario_id or any(ch.isspace() for ch in scenario_id):
            raise r.error(id_node, "id must be a non-empty word without spaces")
        steps = self.steps(steps_node, "steps")
        if not steps:
            raise r.error(steps_node, "steps must not be empty")
        cleanup_node = get("cleanup")
        optional = {
            "description": lambda n: r.string(n, "description"),
            "tags": lambda n: r.strings(n, "tags"),
            "rfc": lambda n: r.strings(n, "rfc"),
            "timeout": lambda n: r.number(n, "timeout"),
            "strict": lambda n: r.boolean(n, "strict"),
            "requires": self.requires,
            "server": self.server,
        }
        extra = {key: convert(items[key][1]) for key, convert in optional.items() if key in items}
        return Scenario(
            id=scenario_id,
            title=r.string(title_node, "title"),
            steps=steps,
            cleanup=self.steps(cleanup_node, "cleanup") if cleanup_node is not None else (),
            location=r.at(node),
            **extra,
        )

    def requires(self, node: yaml.Node) -> Requires:
        r = self.r
        items = r.mapping(node, "requires")
        r.check_keys(items, REQUIRES_KEYS, "requires", node=node)
        values: dict[str, Any] = {}
        for key, (_, value) in items.items():
            if key == "endpoints":
                values[key] = r.strings(value, "requires.endpoints", choices=ENDPOINTS)
            elif key == "targets":
                values[key] = r.strings(value, "requires.targets", choices=TARGET_KINDS)
            elif key == "accounts":
                values[key] = r.integer(value, "requires.accounts")
            elif key == "fresh_accounts":
                values[key] = r.boolean(value, "requires.fresh_accounts")
            else:
                capabilities = r.mapping(value, "requires.capabilities")
                r.check_keys(capabilities, PROTOCOLS, "requires.capabilities", node=value)
                values[key] = {
                    protocol: tuple(c.upper() for c in r.strings(v, f"capabilities.{protocol}"))
                    for protocol, (_, v) in capabilities.items()
                }
        return Requires(**values)

    def server(self, node: yaml.Node) -> ServerSection:
        r = self.r
        items = r.mapping(node, "server")
        r.check_keys(items, SERVER_KEYS, "server", node=node)
        profile = items.get("profile")
        return ServerSection(
            profile=r.string(profile[1], "server.profile") if profile else None,
            extra={key: _value(value) for key, (_, value) in items.items() if key != "profile"},
        )

    # -- steps ----------------------------------------------------------------------

    def steps(self, node: yaml.Node, what: str) -> tuple[Step, ...]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.r.error(node, f"{what} must be a list of steps, not {_python_type(node)}")
        return tuple(self.step(item) for item in node.value)

    def step(self, node: yaml.Node) -> Step:
        r = self.r
        if isinstance(node, yaml.ScalarNode) and isinstance(_value(node), str):
            # A step without arguments may be written as its bare name.
            node = yaml.MappingNode(
                "tag:yaml.org,2002:map",
                [(node, yaml.ScalarNode("tag:yaml.org,2002:null", "", node.start_mark))],
                node.start_mark,
                node.end_mark,
            )
        items = r.mapping(node, "a step")
        actions = [key for key in items if key not in STEP_MODIFIERS]
        if not actions and list(items) == ["expect"]:
            actions = ["expect"]  # a check of variables on its own
            items = {"expect": items["expect"]}
        for key in actions:
            if key not in STEPS:
                choices = [*STEPS, *STEP_MODIFIERS]
                raise r.error(items[key][0], f"unknown step {key!r}{suggest(key, choices)}")
        if not actions:
            raise r.error(node, "a step needs an action, e.g. 'imap.connect:'")
        if len(actions) > 1:
            raise r.error(items[actions[1]][0], f"one action per step, got {', '.join(actions)}")
        action = actions[0]
        args = self.arguments(action, items[action][1])
        has_expect = "expect" in items and action != "expect"
        expect = self.expectations(items["expect"][1]) if has_expect else ()
        error = self.expected_error(items["error"][1]) if "error" in items else None
        capture = self.capture(items["capture"][1]) if "capture" in items else {}
        self.define(action, args)
        self.defined.update(capture)
        return Step(
            action=action,
            args=args,
            expect=expect,
            capture=capture,
            error=error,
            location=r.at(node),
        )

    def define(self, action: str, args: Mapping[str, Any]) -> None:
        if action == "set":
            self.defined.update(args)
        elif action == "message":
            self.defined.add(args["name"])

    def arguments(self, action: str, node: yaml.Node) -> dict[str, Any]:
        r = self.r
        if isinstance(node, yaml.ScalarNode) and _value(node) is None:
            node = yaml.MappingNode("tag:yaml.org,2002:map", [], node.start_mark, node.end_mark)
        what = f"the arguments of {action}"
        items = r.mapping(node, what)
        if action == "expect":
            return {"checks": self.expectations(node)}
        if action == "set":
            for key, (key_node, value_node) in items.items():
                if not _is_name(key):
                    raise r.error(key_node, f"{key!r} is not a variable name")
                self.check_references(value_node)
            return {key: _value(value) for key, (_, value) in items.items()}
        spec = STEPS[action]
        r.check_keys(items, list(spec.args), what, node=node)
        args: dict[str, Any] = {}
        for name, arg in spec.args.items():
            if name in items:
                args[name] = self.argument(f"{action} {name}", arg, items[name][1])
            elif arg.required:
                raise r.error(node, f"{action} is missing the required argument {name!r}")
        if action == "message" and not _is_name(args["name"]):
            raise r.error(items["name"][1], f"{args['name']!r} is not a variable name")
        return args

    def argument(self, what: str, arg: Arg, node: yaml.Node) -> Any:
        r = self.r
        self.check_references(node)
        if _is_whole_reference(node):
            return _value(node)  # typed when substituted, at run time
        checks = {
            Kind.STRING: lambda: r.string(node, what),
            Kind.INTEGER: lambda: r.integer(node, what),
            Kind.NUMBER: lambda: r.number(node, what),
            Kind.BOOLEAN: lambda: r.boolean(node, what),
            Kind.STRINGS: lambda: list(r.strings(node, what)),
            Kind.NUMBERS: lambda: self.numbers(node, what),
            Kind.MAPPING: lambda: {k: _value(v) for k, (_, v) in r.mapping(node, what).items()},
            Kind.LIST: lambda: self.sequence(node, what),
            Kind.ANY: lambda: _value(node),
        }
        value = checks[arg.kind]()
        if arg.choices and value not in arg.choices:
            raise r.error(
                node,
                f"{what} must be one of {', '.join(arg.choices)}, not {value!r}"
                f"{suggest(str(value), arg.choices)}",
            )
        return value

    def numbers(self, node: yaml.Node, what: str) -> Any:
        value = _value(node)
        if isinstance(value, int) and not isinstance(value, bool):
            return [value]
        if isinstance(value, str):
            return value
        if isinstance(value, list) and all(
            isinstance(item, int | str) and not isinstance(item, bool) for item in value
        ):
            return value
        raise self.r.error(node, f"{what} must be a number, a list or a set like 1:*")

    def sequence(self, node: yaml.Node, what: str) -> list[Any]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.r.error(node, f"{what} must be a list, not {_python_type(node)}")
        return list(_value(node))

    def check_references(self, node: yaml.Node) -> None:
        """Every ``$reference`` in the node names a variable defined before this point."""
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                self.check_references(key)
                self.check_references(value)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                self.check_references(item)
        elif isinstance(node, yaml.ScalarNode) and isinstance(_value(node), str):
            self.check_text(node, node.value)

    def check_text(self, node: yaml.Node, text: str) -> None:
        try:
            paths = list(variables.references(text))
        except variables.VariableError as exc:
            raise self.r.error(node, str(exc)) from None
        for path in paths:
            root, _ = variables.parse_path(path)
            if root not in self.defined:
                hint = suggest(root, sorted(self.defined))
                raise self.r.error(node, f"undefined variable ${root}{hint}")

    # -- expectations -----------------------------------------------------------------

    def expectations(self, node: yaml.Node) -> tuple[Expectation, ...]:
        items = self.r.mapping(node, "expect")
        result = []
        for path, (key_node, value_node) in items.items():
            self.check_path(key_node, path.removeprefix("$"), variable=path.startswith("$"))
            result.append(
                Expectation(
                    path=path,
                    matchers=self.matchers(value_node),
                    location=self.r.at(key_node),
                )
            )
        return tuple(result)

    def check_path(self, node: yaml.Node, path: str, *, variable: bool) -> None:
        try:
            root, _ = variables.parse_path(path)
        except variables.VariableError as exc:
            raise self.r.error(node, str(exc)) from None
        if variable and root not in self.defined:
            raise self.r.error(node, f"undefined variable ${root}{suggest(root, self.defined)}")

    def matchers(self, node: yaml.Node) -> tuple[Matcher, ...]:
        r = self.r
        self.check_references(node)
        if not isinstance(node, yaml.MappingNode):
            return (Matcher(op="equals", operand=_value(node), location=r.at(node)),)
        items = r.mapping(node, "a matcher")
        r.check_keys(items, list(MATCHERS), "a matcher", node=node)
        return tuple(
            Matcher(op=op, operand=_value(value), location=r.at(key))
            for op, (key, value) in items.items()
        )

    def expected_error(self, node: yaml.Node) -> ExpectedError:
        r = self.r
        if isinstance(node, yaml.MappingNode):
            items = r.mapping(node, "error")
            r.check_keys(items, ("kind", "message"), "error", required=("kind",), node=node)
            kind_node = items["kind"][1]
            message = r.string(items["message"][1], "error.message") if "message" in items else None
        else:
            kind_node, message = node, None
        kind = r.string(kind_node, "error kind")
        if kind not in ERROR_KINDS:
            raise r.error(kind_node, f"unknown error kind {kind!r}{suggest(kind, ERROR_KINDS)}")
        return ExpectedError(kind=kind, message=message)

    def capture(self, node: yaml.Node) -> dict[str, str]:
        r = self.r
        items = r.mapping(node, "capture")
        captured = {}
        for name, (key_node, value_node) in items.items():
            if not _is_name(name):
                raise r.error(key_node, f"{name!r} is not a variable name")
            path = r.string(value_node, f"capture {name}")
            self.check_path(value_node, path, variable=False)
            captured[name] = path
        return captured


def _is_name(text: str) -> bool:
    return text.isidentifier() and text not in variables.BUILTINS


def _is_whole_reference(node: yaml.Node) -> bool:
    if not isinstance(node, yaml.ScalarNode) or (node.style is not None and node.value == ""):
        return False
    text = node.value
    return (
        isinstance(_value(node), str)
        and text.startswith("$")
        and not text.startswith("$$")
        and (len(list(variables.references(text))) == 1 and " " not in text)
    )


# -- entry points -----------------------------------------------------------------------


def load_text(text: str, *, file: str = "<string>") -> list[Scenario]:
    """The scenarios of one YAML text (a stream of documents)."""
    reader = NodeReader(file)
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        location = Location(file=file, line=mark.line + 1, column=mark.column + 1) if mark else None
        raise ScenarioError(f"YAML syntax error: {exc.problem or exc.context}", location) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"YAML error: {exc}", Location(file=file, line=1, column=1)) from None
    return [_ScenarioBuilder(reader).build(node) for node in documents if node is not None]


def scenario_files(paths: Iterable[Path]) -> list[Path]:
    """The scenario files named by ``paths``: files as given, directories searched recursively."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            raise ScenarioError(f"{path}: no such file or directory")
    return files


def load_paths(paths: Iterable[Path]) -> list[Scenario]:
    """Load and validate every scenario under ``paths``; ids must be unique."""
    scenarios: list[Scenario] = []
    seen: dict[str, Location] = {}
    for file in scenario_files(paths):
        try:
            text = file.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ScenarioError(f"{file}: not UTF-8: {exc}") from None
        for scenario in load_text(text, file=str(file)):
            if scenario.id in seen:
                raise ScenarioError(
                    f"duplicate scenario id {scenario.id!r} (first at {seen[scenario.id]})",
                    scenario.location,
                )
            seen[scenario.id] = scenario.location
            scenarios.append(scenario)
    return scenarios
