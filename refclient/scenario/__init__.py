"""Scenarios: the language, its loader, the runner, targets and reports (docs/scenarios.md).

A scenario is a YAML document naming what it needs (``requires``), the steps
the reference client performs against a target, what it expects of each, and
the cleanup that always runs. :func:`load_paths` reads and validates files
(every error names file, line and column; nothing runs on an invalid file),
:func:`run` executes scenarios x targets and :mod:`refclient.scenario.reports`
renders the results.

This package (with the command line) is the only place that knows both the
reference client and the fake servers, because the ``fake`` target starts
them in-process.
"""

from __future__ import annotations

from refclient.scenario.loader import ScenarioError, load_paths, load_text
from refclient.scenario.model import Scenario

__all__ = ["Scenario", "ScenarioError", "load_paths", "load_text"]
