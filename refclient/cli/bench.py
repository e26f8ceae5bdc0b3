"""``mailcompat bench [NAME...] [--tiny] [--rounds N] [--count N] [--json FILE]``.

The benchmarks (``bench/``, docs/performance.md) come with the source tree,
not with the installed package: they need peers (Dovecot, Postfix,
imapclient, aioimaplib) that a user of the harness does not. This command
finds the checkout the package runs from and runs ``python -m bench`` there
in a child interpreter, so the arguments, the output and the exit code are
exactly those of ``python -m bench``; from an installed wheel it says where
the benchmarks are instead.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

import refclient

EXIT_USAGE = 2


def checkout_root(package: Path | None = None) -> Path | None:
    """The source checkout holding ``bench/`` next to the ``refclient`` package, if any."""
    root = (package or Path(refclient.__file__).resolve().parent).parent
    return root if (root / "bench" / "__main__.py").is_file() else None


def register(subparsers: Any) -> None:
    """Add ``bench``; every argument after it goes to ``python -m bench`` unchanged."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "bench",
        help="run the side-by-side benchmarks (from a source checkout)",
        description="Run the benchmarks of bench/ (python -m bench); "
        "`mailcompat bench --help` lists their options.",
        add_help=False,
        # No option prefix: every argument, ``--help`` included, is bench's own.
        prefix_chars="\0",
    )
    parser.add_argument("arguments", nargs=argparse.REMAINDER)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run ``python -m bench`` in the checkout; 2 when there is none."""
    root = checkout_root()
    if root is None:
        print(
            "mailcompat bench: the benchmarks come with the source tree (bench/), not with "
            "the installed package: run it from a checkout of mailcompat "
            "(pip install -e '.[bench]'), see docs/performance.md",
            file=sys.stderr,
        )
        return EXIT_USAGE
    command = [sys.executable, "-m", "bench", "--prog", "mailcompat bench", *args.arguments]
    return subprocess.run(command, cwd=root, check=False).returncode
