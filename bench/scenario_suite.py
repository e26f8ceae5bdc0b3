"""The scenario suite: what users pay for each CI run and for each test.

Two results:

* ``mailcompat run`` over the bundled scenario library (or its first N
  files), each round a fresh process, as CI runs it: wall time from start to
  exit, interpreter start and imports included;
* start + stop of :class:`~fakeservers.controller.FakeMailServers` exactly as
  the pytest fixtures build them (:mod:`fakeservers.pytest_plugin`: one test
  CA per session, the endpoints of the fixture), the cost paid per test.
  ``mail_servers`` (all six endpoints) is the baseline; ``imap_server``
  (two) and ``smtp_server`` (two) show what the fewer endpoints save.

The issue's targets: the bundled library in under 30 s; fixture start + stop
under 50 ms.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

from bench.harness import Result, interleave
from fakeservers.controller import ENDPOINTS, FakeMailServers
from fakeservers.pki import TestPKI
from refclient.cli.run import bundled_scenarios

TARGET_LIBRARY_S = 30.0
TARGET_FIXTURE_MS = 50.0
#: Start/stop cycles per round of the fixture result (each is short).
CYCLES_PER_ROUND = 10
#: The fixtures' endpoints by protocol (fakeservers.pytest_plugin).
FIXTURES = {
    "mail_servers": {"imap", "pop3", "smtp"},
    "imap_server": {"imap"},
    "smtp_server": {"smtp"},
}


def scenario_files(count: int) -> list[Path]:
    """The first ``count`` bundled scenario files, in path order."""
    return sorted(bundled_scenarios().rglob("*.yaml"))[:count]


def run_library(paths: list[Path]) -> dict[str, object]:
    """``mailcompat run PATH...`` in a fresh process; its JSON report's summary."""
    with tempfile.TemporaryDirectory(prefix="mailcompat-bench-") as directory:
        report = Path(directory) / "run.json"
        command = [sys.executable, "-m", "refclient", "run", "--json", str(report)]
        completed = subprocess.run(
            [*command, *map(str, paths)], capture_output=True, check=False, stdin=subprocess.DEVNULL
        )
        if completed.returncode not in (0, 1) or not report.exists():
            raise RuntimeError(
                f"mailcompat run exited {completed.returncode}: "
                f"{completed.stderr.decode('utf-8', 'replace')[-2000:]}"
            )
        document: dict[str, object] = json.loads(report.read_text(encoding="utf-8"))
    return document


def start_and_stop(pki: TestPKI, protocols: set[str]) -> None:
    """One fixture's life: the servers it builds, started and stopped."""
    ports: dict[str, int | None] = {
        spec.name: (0 if spec.protocol in protocols else None) for spec in ENDPOINTS
    }
    with FakeMailServers(ports=ports, pki=pki):
        pass


def _cycles(pki: TestPKI, protocols: set[str], cycles: int) -> None:
    for _ in range(cycles):
        start_and_stop(pki, protocols)


def run(*, count: int, rounds: int) -> list[Result]:
    """``count`` bounds the number of scenario files (the full size takes them all)."""
    paths = scenario_files(count)
    every = len(list(bundled_scenarios().rglob("*.yaml")))
    peer = f"mailcompat run ({len(paths)} of {every} bundled files)"
    summaries: list[dict[str, object]] = []
    library = interleave(
        "Scenario library: `mailcompat run` over the bundled scenarios, a fresh process per round",
        {peer: lambda: summaries.append(run_library(paths))},
        baseline=peer,
        rounds=rounds,
    )
    counts = summaries[-1].get("counts", {})
    library.notes.append(f"scenario runs in the last round: {json.dumps(counts, sort_keys=True)}")
    for summary in summaries:
        seconds = summary.get("seconds")
        if isinstance(seconds, (int, float)):
            # The run's own clock: scenarios only, without interpreter start and imports.
            library.metric(peer, "scenarios_s", float(seconds))
    if len(paths) == every:
        library.target("bundled library wall time", library.median(peer), TARGET_LIBRARY_S, " s")
    else:
        library.notes.append("the library target is judged over every bundled file")

    pki = TestPKI.create()  # session-scoped in the plugin: not part of a test's cost
    start_and_stop(pki, FIXTURES["mail_servers"])  # warm imports and the CA's files
    cycles = CYCLES_PER_ROUND if rounds > 1 else 1
    fixtures = interleave(
        f"Fixture cost: FakeMailServers start + stop as each pytest fixture builds it "
        f"({cycles} cycles per round; times are per cycle)",
        {name: partial(_cycles, pki, protocols, cycles) for name, protocols in FIXTURES.items()},
        baseline="mail_servers",
        rounds=rounds,
    )
    for times in fixtures.rounds.values():
        times[:] = [seconds / cycles for seconds in times]
    fixtures.target(
        "mail_servers fixture start + stop",
        fixtures.median("mail_servers") * 1000,
        TARGET_FIXTURE_MS,
        " ms",
    )
    return [library, fixtures]
