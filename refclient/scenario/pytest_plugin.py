"""pytest collects scenario files: one test item per scenario and target.

``pytest scenarios/`` (or any folder of scenario files) runs them, with
pytest-xdist too; ``--mailcompat-target NAME`` (repeatable) picks the targets
(default ``fake``; provider names and ``--mailcompat-targets-file F`` work as
for ``mailcompat run``). A YAML file is collected when its documents look
like scenarios (mappings with ``id`` and ``steps``); others are left alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml

from refclient.scenario.loader import ScenarioError, load_text
from refclient.scenario.model import Scenario
from refclient.scenario.providers import PROVIDERS, provider_target
from refclient.scenario.runner import FAILED, SKIPPED, run_one
from refclient.scenario.targets import Target, fake_target, load_targets_file
from refclient.session.options import ClientOptions

_TARGETS = pytest.StashKey[dict[str, Target]]()
_STACK = pytest.StashKey[ExitStack]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mailcompat")
    group.addoption("--mailcompat-target", action="append", default=[], metavar="NAME")
    group.addoption("--mailcompat-targets-file", type=Path, metavar="F")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_STACK] = ExitStack()
    config.stash[_TARGETS] = {}


def pytest_unconfigure(config: pytest.Config) -> None:
    config.stash[_STACK].close()


def _looks_like_scenarios(path: Path) -> bool:
    try:
        documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return False
    return bool(documents) and all(
        isinstance(d, dict) and "id" in d and "steps" in d for d in documents if d is not None
    )


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.File | None:
    if file_path.suffix in (".yaml", ".yml") and _looks_like_scenarios(file_path):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


def _target(config: pytest.Config, name: str) -> Target:
    targets = config.stash[_TARGETS]
    if name not in targets:
        if name in ("fake", "fake:default"):
            targets[name] = config.stash[_STACK].enter_context(fake_target())
        elif name in PROVIDERS:
            targets[name] = provider_target(name)
        else:
            path = config.getoption("--mailcompat-targets-file")
            from_file = {t.name: t for t in (load_targets_file(path) if path else [])}
            if name not in from_file:
                raise pytest.UsageError(f"unknown mailcompat target {name!r}")
            targets[name] = from_file[name]
    return targets[name]


class ScenarioFile(pytest.File):
    """A scenario file: one item per scenario and target."""

    def collect(self) -> Iterator[pytest.Item]:
        try:
            scenarios = load_text(self.path.read_text(encoding="utf-8"), file=str(self.path))
        except ScenarioError as exc:
            raise self.CollectError(str(exc)) from None
        names = self.config.getoption("--mailcompat-target") or ["fake"]
        for scenario in scenarios:
            for name in names:
                yield ScenarioItem.from_parent(
                    self, name=f"{scenario.id}[{name}]", scenario=scenario, target_name=name
                )


class ScenarioFailed(Exception):
    """A scenario failed; the message holds the reason and the transcript's tail."""


class ScenarioItem(pytest.Item):
    """One scenario against one target."""

    def __init__(self, *, scenario: Scenario, target_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.target_name = target_name
        self.extra_keyword_matches.update(scenario.tags)  # ``-k imap`` selects by tag

    def runtest(self) -> None:
        target = _target(self.config, self.target_name)
        options = ClientOptions(ca_file=target.ca_file, read_timeout=30)
        result = asyncio.run(run_one(self.scenario, target, options=options, strict=False))
        if result.status == SKIPPED:
            pytest.skip(result.reason)
        if result.status == FAILED:
            tail = "\n".join(result.transcript.splitlines()[-15:])
            raise ScenarioFailed(f"{result.reason}\n--- transcript tail ---\n{tail}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.scenario.location.line - 1, f"scenario {self.scenario.id}"
