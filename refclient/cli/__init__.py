"""The ``mailcompat`` command line (DESIGN.md, command-line contract).

Each subcommand lives in its own module exposing ``register(subparsers)``,
which adds its parser and sets ``handler`` to a function taking the parsed
arguments and returning the exit code: 0 success, 1 a check or operation
failed, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from refclient import __version__

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

#: Subcommand modules, in the order ``--help`` lists them.
SUBCOMMANDS: tuple[str, ...] = (
    "run",
    "serve",
    "profiles",
    "audit-client",
    "send",
    "fetch",
    "probe",
    "report",
    "bench",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="mailcompat",
        description="Mail compatibility test harness and strict reference client.",
    )
    parser.add_argument("--version", action="version", version=f"mailcompat {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"refclient.cli.{name.split('-')[0]}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mailcompat`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("mailcompat: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
