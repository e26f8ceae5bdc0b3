"""``mailcompat audit-client``: judge any mail client against the malicious-server cases.

``mailcompat audit-client --protocol imap --client-cmd 'CMD {url} {user} ...'``
runs the client once per case against fake servers misbehaving that way
(:mod:`fakeservers.audit`), and prints each verdict: ``safe``,
``vulnerable``, ``violation`` or ``inconclusive``, with the evidence. Exit
code: 0 when every case is safe, 1 when any is vulnerable, a violation or
inconclusive, 2 for a usage error. ``--list`` shows the cases.
"""

from __future__ import annotations

import argparse
import html
import json
import platform
import sys
from pathlib import Path
from typing import Any

from fakeservers.audit.audit import CaseRun, run_audit
from fakeservers.audit.cases import AttackCase, all_cases

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def register(subparsers: Any) -> None:
    """Add ``audit-client`` to the command line."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "audit-client",
        help="judge an external mail client against malicious servers (STARTTLS, TLS)",
        description="Run a mail client command against each malicious-server case and judge "
        "it from the server's side. Placeholders in --client-cmd: {host} {port} {user} "
        "{password} {ca_file} {url}.",
    )
    parser.add_argument("--protocol", action="append", choices=("imap", "pop3", "smtp"))
    parser.add_argument("--client-cmd", metavar="CMD", help="the client command line")
    parser.add_argument("--case", action="append", default=[], metavar="ID")
    parser.add_argument("--timeout", type=float, default=20.0, metavar="S")
    parser.add_argument("--json", type=Path, metavar="F")
    parser.add_argument("--html", type=Path, metavar="F")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.set_defaults(handler=run)


def _select(args: argparse.Namespace) -> list[AttackCase]:
    cases = all_cases()
    if args.protocol:
        cases = [case for case in cases if case.protocol in args.protocol]
    if args.case:
        known = {case.id for case in cases}
        unknown = [name for name in args.case if name not in known]
        if unknown:
            raise ValueError(f"unknown case(s) {', '.join(unknown)} (see --list)")
        wanted = set(args.case)
        cases = [case for case in cases if case.id in wanted or case.control]
    return cases


def run(args: argparse.Namespace) -> int:
    """List the cases, or run the client against them and report."""
    try:
        cases = _select(args)
    except ValueError as error:
        print(f"mailcompat audit-client: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.list:
        for case in cases:
            print(f"{case.id:<40} {case.family:<13} {case.title}")
        return EXIT_OK
    if not args.client_cmd:
        print("mailcompat audit-client: --client-cmd is required", file=sys.stderr)
        return EXIT_USAGE
    if args.timeout <= 0:
        print("mailcompat audit-client: --timeout must be positive", file=sys.stderr)
        return EXIT_USAGE

    def progress(case_run: CaseRun) -> None:
        judgement = case_run.judgement
        print(
            f"{judgement.verdict.value:<13} {case_run.case.id:<40} {judgement.reason}", flush=True
        )
        for line in judgement.evidence:
            print(f"    {line}", flush=True)

    runs = run_audit(cases, args.client_cmd, timeout=args.timeout, progress=progress)
    document = {
        "client_cmd": args.client_cmd,
        "platform": platform.system().lower(),
        "python": platform.python_version(),
        "cases": [case_run.to_dict() for case_run in runs],
    }
    if args.json:
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    if args.html:
        args.html.write_text(render_html(document), encoding="utf-8")
    counts: dict[str, int] = {}
    for case_run in runs:
        verdict = case_run.judgement.verdict.value
        counts[verdict] = counts.get(verdict, 0) + 1
    print(", ".join(f"{count} {verdict}" for verdict, count in sorted(counts.items())))
    return EXIT_OK if set(counts) == {"safe"} else EXIT_FAILED


def render_html(document: dict[str, Any]) -> str:
    """One self-contained page: each case, its verdict, evidence and transcript."""
    rows = []
    for case in document["cases"]:
        evidence = "".join(
            f"<li><code>{html.escape(line)}</code></li>" for line in case["evidence"]
        )
        transcript = html.escape("\n".join(case["transcript"]))
        rows.append(
            f"<tr class='{case['verdict']}'><td>{html.escape(case['id'])}</td>"
            f"<td>{case['verdict']}</td><td>{html.escape(case['title'])}<br>"
            f"<small>expected: {html.escape(case['correct'])}<br>"
            f"source: {html.escape(case['source'])}</small></td>"
            f"<td>{html.escape(case['reason'])}<ul>{evidence}</ul>"
            f"<details><summary>transcript</summary><pre>{transcript}</pre></details></td></tr>"
        )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>mailcompat client audit</title>"
        "<style>body{font-family:sans-serif}td{vertical-align:top;padding:4px;"
        "border-bottom:1px solid #ccc}.safe td:nth-child(2){color:green}"
        ".vulnerable td:nth-child(2){color:red;font-weight:bold}"
        ".violation td:nth-child(2){color:darkorange}.inconclusive td:nth-child(2){color:gray}"
        "</style></head><body>"
        f"<h1>Client audit</h1><p><code>{html.escape(document['client_cmd'])}</code> on "
        f"{html.escape(document['platform'])}, Python {html.escape(document['python'])}</p>"
        "<table><tr><th>case</th><th>verdict</th><th>what the server did</th><th>evidence</th>"
        f"</tr>{''.join(rows)}</table></body></html>\n"
    )
