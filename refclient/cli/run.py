"""``mailcompat run``: run scenarios against targets and report (DESIGN.md contract).

With no paths, the bundled scenarios run; with no ``--target``, against the
embedded fake servers. Exit codes: 0 nothing failed, 1 a scenario failed,
2 an invalid scenario file, target or option (nothing runs then), 130 the
run was interrupted (Ctrl-C).

Ctrl-C is handled the asyncio way, the same on every platform: ``asyncio.run``
turns SIGINT (Windows: CTRL_C_EVENT, which Python delivers as SIGINT) into a
cancellation of the run, every running scenario closes its sessions and keeps
its partial transcript, the fake servers stop as the stack unwinds, and the
reports are written with the unfinished scenarios marked ``interrupted``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from fakeservers.profiles.catalogue import profile_names
from refclient.scenario.loader import ScenarioError, load_paths
from refclient.scenario.model import Scenario
from refclient.scenario.providers import PROVIDERS, provider_target
from refclient.scenario.reports import (
    summary,
    write_html,
    write_json,
    write_junit,
    write_transcripts,
)
from refclient.scenario.runner import FAILED, INTERRUPTED, Result, run_all
from refclient.scenario.targets import Target, TargetError, fake_target, load_targets_file
from refclient.session.options import ClientOptions

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: The conventional status of a program stopped by SIGINT (128 + 2); Ctrl-C on Windows too.
EXIT_INTERRUPTED = 130


def bundled_scenarios() -> Path:
    """The scenarios shipped with mailcompat (the top-level ``scenarios/`` folder)."""
    return Path(__file__).resolve().parents[2] / "scenarios"


def register(subparsers: Any) -> None:
    """Add ``run`` to the command line."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "run",
        help="run scenarios against the fake servers or real targets",
        description="Run scenario files (default: the bundled ones) against targets "
        "(default: the embedded fake servers).",
    )
    parser.add_argument("paths", nargs="*", type=Path, metavar="PATH")
    parser.add_argument("--target", action="append", default=[], metavar="T")
    parser.add_argument("--targets-file", type=Path, metavar="F")
    parser.add_argument("--tag", action="append", default=[], metavar="T", help="only these tags")
    parser.add_argument("--jobs", type=int, default=8, metavar="N", help="concurrent runs")
    parser.add_argument("--junit", type=Path, metavar="F")
    parser.add_argument("--json", type=Path, metavar="F")
    parser.add_argument("--html", type=Path, metavar="F")
    parser.add_argument("--transcripts", type=Path, metavar="DIR")
    parser.add_argument("--strict", action="store_true", help="fail on error-level findings")
    parser.set_defaults(handler=run)


def _select(scenarios: list[Scenario], tags: list[str]) -> list[Scenario]:
    if not tags:
        return scenarios
    return [s for s in scenarios if set(tags) & set(s.tags)]


def _targets(args: argparse.Namespace, stack: ExitStack) -> list[Target]:
    from_file = load_targets_file(args.targets_file) if args.targets_file else []
    by_name = {target.name: target for target in from_file}
    names = args.target or (list(by_name) if by_name else ["fake"])
    chosen = []
    for name in names:
        if name == "fake" or name.startswith("fake:"):
            profile = name.partition(":")[2] or "default"
            if profile not in profile_names():
                known = ", ".join(f"fake:{p}" for p in profile_names())
                raise TargetError(f"unknown fake profile in {name!r} (known: {known})")
            chosen.append(stack.enter_context(fake_target(profile)))
        elif name in by_name:
            chosen.append(by_name[name])
        elif name in PROVIDERS:
            chosen.append(provider_target(name))
        else:
            known = ", ".join(["fake", "fake:PROFILE", *by_name, *PROVIDERS])
            raise TargetError(f"unknown target {name!r} (known: {known})")
    return chosen


def _progress(total: int) -> Any:
    interactive = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    done = 0

    def report(result: Result) -> None:
        nonlocal done
        done += 1
        if interactive:
            print(f"\r[{done}/{total}] {result.scenario.id[:60]:<60}", end="", flush=True)
        elif result.status == FAILED:
            print(f"FAILED {result.scenario.id} [{result.target}]", flush=True)

    return report


def run(args: argparse.Namespace) -> int:
    """Load everything first (exit 2 on any problem), then run and report."""
    try:
        scenarios = _select(load_paths(args.paths or [bundled_scenarios()]), args.tag)
    except ScenarioError as exc:
        print(f"mailcompat run: invalid scenarios:\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(
            "mailcompat run: interrupted (Ctrl-C) while loading the scenarios; "
            "nothing ran, so no report was written",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if args.jobs < 1:
        print("mailcompat run: --jobs must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    with ExitStack() as stack:
        try:
            targets = _targets(args, stack)
        except TargetError as exc:
            print(f"mailcompat run: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            # The targets started so far stop as the stack unwinds.
            print(
                "mailcompat run: interrupted (Ctrl-C) while starting the targets; "
                "nothing ran, so no report was written",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
        secrets = [secret for target in targets for secret in target.secrets]
        options = ClientOptions(read_timeout=30, connect_timeout=30)
        started = time.perf_counter()
        finished: list[Result] = []
        show = _progress(len(scenarios) * len(targets))

        def progress(result: Result) -> None:
            finished.append(result)
            show(result)

        interrupted = False
        try:
            asyncio.run(_run(scenarios, targets, options, args, progress))
        except KeyboardInterrupt:
            # asyncio.run has cancelled the scenarios still running (on Windows too);
            # the fake servers stop as the stack unwinds; what finished is reported.
            interrupted = True
        seconds = time.perf_counter() - started
        results = _in_order(scenarios, targets, finished)
    if sys.stdout.isatty():
        print()
    print(summary(results, seconds))
    if args.json:
        write_json(args.json, results, seconds, secrets)
    if args.junit:
        write_junit(args.junit, results, secrets)
    if args.html:
        write_html(args.html, results, seconds, secrets)
    if args.transcripts:
        write_transcripts(args.transcripts, results, secrets)
    if interrupted:
        unfinished = sum(result.status == INTERRUPTED for result in results)
        print(
            f"mailcompat run: interrupted (Ctrl-C); the reports hold what finished, "
            f"{unfinished} unfinished scenario run(s) marked interrupted",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    return EXIT_FAILED if any(r.status == FAILED for r in results) else EXIT_OK


def _in_order(
    scenarios: list[Scenario], targets: list[Target], finished: list[Result]
) -> list[Result]:
    """Every pair in the run's order: its result, or ``interrupted`` if it never started."""
    done = {(result.target, result.scenario.id): result for result in finished}
    ordered = []
    for target in targets:
        for scenario in scenarios:
            result = done.get((target.name, scenario.id))
            if result is None:
                reason = "interrupted (Ctrl-C) before it started"
                result = Result(scenario, target.name, status=INTERRUPTED, reason=reason)
            ordered.append(result)
    return ordered


async def _run(
    scenarios: list[Scenario],
    targets: list[Target],
    options: ClientOptions,
    args: argparse.Namespace,
    progress: Any,
) -> list[Result]:
    per_target = []
    for target in targets:
        target_options = ClientOptions(
            ca_file=target.ca_file,
            read_timeout=options.read_timeout,
            connect_timeout=options.connect_timeout,
        )
        per_target += await run_all(
            scenarios,
            [target],
            options=target_options,
            jobs=args.jobs,
            strict=args.strict,
            progress=progress,
        )
    return per_target
