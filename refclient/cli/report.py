"""``mailcompat report merge RESULT.json... --html F [--markdown F]``.

Merges the ``--json`` results of several runs (CI jobs on different platforms
and Python versions) into one compatibility matrix with the platform as a
column.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from refclient.scenario.reports import render_html, render_markdown

EXIT_OK, EXIT_USAGE = 0, 2


def register(subparsers: Any) -> None:
    """Add ``report`` to the command line."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "report", help="work with run results", description="Work with run results."
    )
    actions = parser.add_subparsers(dest="report_action", metavar="ACTION", required=True)
    merge = actions.add_parser(
        "merge", help="merge JSON results into one matrix", description=__doc__
    )
    merge.add_argument("results", nargs="+", type=Path, metavar="RESULT.json")
    merge.add_argument("--html", type=Path, metavar="F", help="write the matrix page here")
    merge.add_argument("--markdown", type=Path, metavar="F", help="write a Markdown table here")
    merge.set_defaults(handler=run_merge)


def run_merge(args: argparse.Namespace) -> int:
    """Read every result file, then write the merged matrix."""
    documents = []
    for path in args.results:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"mailcompat report merge: {path}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if not isinstance(document, dict) or not isinstance(document.get("results"), list):
            print(f"mailcompat report merge: {path}: not a run result", file=sys.stderr)
            return EXIT_USAGE
        documents.append(document)
    if args.html is None and args.markdown is None:
        sys.stdout.write(render_markdown(documents))
    if args.html is not None:
        args.html.write_text(render_html(documents), encoding="utf-8")
    if args.markdown is not None:
        args.markdown.write_text(render_markdown(documents), encoding="utf-8")
    return EXIT_OK
