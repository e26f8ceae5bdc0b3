"""``python -m bench [NAME...] [--tiny] [--rounds N] [--count N] [--json FILE]``: run benchmarks."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import (
    imap_fetch,
    imap_metadata,
    large_messages,
    many_clients,
    scenario_suite,
    smtp_submit,
)
from bench.harness import Result, machine, write_json

#: name -> (function taking count and rounds, full-size count, smoke-run count); what the
#: count counts is each benchmark's own (messages, sessions, megabytes, scenario files).
BENCHMARKS: dict[str, tuple[Callable[..., list[Result]], int, int]] = {
    "imap-fetch": (imap_fetch.run, 2000, 10),
    "imap-metadata": (imap_metadata.run, 2000, 10),
    "smtp-submit": (smtp_submit.run, 2000, 10),
    "many-clients": (many_clients.run, 1000, 10),
    "large-messages": (large_messages.run, 50, 1),
    "scenario-suite": (scenario_suite.run, 10_000, 1),
}


def main(argv: Sequence[str] | None = None) -> int:
    # ``mailcompat bench`` runs this module and names itself in usage and error lines.
    naming = argparse.ArgumentParser(add_help=False)
    naming.add_argument("--prog", default="python -m bench")
    named, argv = naming.parse_known_args(argv)
    parser = argparse.ArgumentParser(prog=named.prog, description=__doc__)
    parser.add_argument("names", nargs="*", choices=[*BENCHMARKS, []], metavar="NAME")
    parser.add_argument("--tiny", action="store_true", help="smoke run: tiny sizes, one round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per peer (default 5)")
    parser.add_argument(
        "--count", type=int, help="override the size (messages, sessions, MB, scenario files)"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    results: list[Result] = []
    print(f"machine: {machine()}")
    for name in args.names or list(BENCHMARKS):
        function, full, tiny = BENCHMARKS[name]
        count, rounds = (tiny, 1) if args.tiny else (full, args.rounds)
        if args.count is not None:
            count = args.count
        for result in function(count=count, rounds=rounds):
            print(result.render(), flush=True)
            results.append(result)
    if args.json is not None:
        write_json(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
