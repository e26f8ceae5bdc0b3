"""Reports of a run: the terminal summary, JSON, JUnit XML, transcripts and an HTML matrix.

Every report is swept for the targets' secrets before it is written; the
transcripts are already redacted, and a secret found anyway is replaced.

A run stopped by Ctrl-C reports every scenario: those that finished as they
ended, the rest with the status ``interrupted`` (JUnit has no such state, so
there they are ``skipped`` with a message saying interrupted); a scenario
that was running keeps its partial transcript.
"""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from refclient.scenario.runner import FAILED, INTERRUPTED, PASSED, SKIPPED, Result, environment


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


def summary(results: Sequence[Result], seconds: float) -> str:
    """The table printed at the end of a run."""
    lines = []
    width = max((len(r.scenario.id) for r in results), default=10)
    for result in results:
        if result.status != PASSED:
            mark = {FAILED: "FAIL", INTERRUPTED: "intr"}.get(result.status, "skip")
            lines.append(
                f"  {mark}  {result.scenario.id:<{width}}  [{result.target}]  {result.reason}"
            )
    counts = Counter(result.status for result in results)
    stopped = f", {counts[INTERRUPTED]} interrupted" if counts[INTERRUPTED] else ""
    lines.append(
        f"{counts[PASSED]} passed, {counts[FAILED]} failed, {counts[SKIPPED]} skipped{stopped} "
        f"in {seconds:.1f} s"
    )
    return "\n".join(lines)


def document(results: Sequence[Result], seconds: float) -> dict[str, Any]:
    """Everything, for ``--json`` and ``report merge``."""
    counts = Counter(result.status for result in results)
    tally = {PASSED: counts[PASSED], FAILED: counts[FAILED], SKIPPED: counts[SKIPPED]}
    doc: dict[str, Any] = {"environment": environment(), "seconds": round(seconds, 3)}
    if counts[INTERRUPTED]:
        # Only an interrupted run says so: complete runs keep the same document.
        doc["interrupted"] = True
        tally[INTERRUPTED] = counts[INTERRUPTED]
    return {**doc, "counts": tally, "results": [result.to_dict() for result in results]}


def write_json(
    path: Path, results: Sequence[Result], seconds: float, secrets: Sequence[str]
) -> None:
    text = json.dumps(document(results, seconds), indent=2, default=str)
    path.write_text(_scrub(text, secrets) + "\n", encoding="utf-8")


def write_junit(path: Path, results: Sequence[Result], secrets: Sequence[str]) -> None:
    """One testcase per scenario x target; the transcript in system-out on failure."""
    suite = ET.Element(
        "testsuite",
        name="mailcompat",
        tests=str(len(results)),
        failures=str(sum(r.status == FAILED for r in results)),
        skipped=str(sum(r.status in (SKIPPED, INTERRUPTED) for r in results)),
    )
    for result in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=result.target,
            name=result.scenario.id,
            time=f"{result.seconds:.3f}",
        )
        if result.status == FAILED:
            ET.SubElement(case, "failure", message=_scrub(result.reason, secrets)[:1000])
            ET.SubElement(case, "system-out").text = _scrub(result.transcript, secrets)
        elif result.status == SKIPPED:
            ET.SubElement(case, "skipped", message=result.reason)
        elif result.status == INTERRUPTED:
            ET.SubElement(case, "skipped", type="interrupted", message=result.reason)
            if result.transcript:
                ET.SubElement(case, "system-out").text = _scrub(result.transcript, secrets)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def write_transcripts(directory: Path, results: Sequence[Result], secrets: Sequence[str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for result in results:
        if result.transcript:
            name = f"{result.target}--{result.scenario.id}.txt".replace("/", "_")
            (directory / name).write_text(_scrub(result.transcript, secrets), encoding="utf-8")


_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
.passed{background:#dfd}.failed{background:#fdd}.skipped{background:#eee}
.interrupted{background:#ffd}
pre{white-space:pre-wrap;font-size:.8em;max-height:30em;overflow:auto}
"""
_SCRIPT = """
function only(status){for(const row of document.querySelectorAll('tbody tr')){
row.hidden = status !== 'all' && !row.querySelector('td.' + status);}}
"""


def render_html(documents: Sequence[dict[str, Any]]) -> str:
    """One self-contained page: scenarios x columns (target, or platform/target when merged)."""
    columns: list[str] = []
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    titles: dict[str, str] = {}
    for doc in documents:
        env = doc.get("environment", {})
        prefix = (
            f"{env.get('platform', '?')} py{env.get('python', '?')} / "
            if len(documents) > 1
            else ""
        )
        for result in doc["results"]:
            column = prefix + result["target"]
            if column not in columns:
                columns.append(column)
            cells[(result["id"], column)] = result
            titles[result["id"]] = result["title"]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    rows = []
    for scenario in sorted(titles):
        tds = []
        for column in columns:
            result = cells.get((scenario, column))
            if result is None:
                tds.append("<td></td>")
                continue
            detail = ""
            if result["status"] != PASSED:
                detail = f"<details><summary>why</summary><pre>{html.escape(result['reason'])}"
                detail += f"\n{html.escape(result.get('transcript', ''))}</pre></details>"
            tds.append(f'<td class="{result["status"]}">{result["status"]}{detail}</td>')
        rows.append(
            f'<tr><td title="{html.escape(titles[scenario])}">{html.escape(scenario)}</td>'
            + "".join(tds)
            + "</tr>"
        )
    buttons = "".join(
        f"<button onclick=\"only('{s}')\">{s}</button> "
        for s in ("all", PASSED, FAILED, SKIPPED, INTERRUPTED)
    )
    banner = ""
    if any(doc.get("interrupted") for doc in documents):
        banner = (
            '<p class="interrupted">This run was interrupted (Ctrl-C): scenarios marked '
            "interrupted did not finish.</p>"
        )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>mailcompat report</title>'
        f"<style>{_STYLE}</style><script>{_SCRIPT}</script></head><body>"
        f"<h1>mailcompat compatibility matrix</h1>{banner}<p>{buttons}</p>"
        f"<table><thead><tr><th>scenario</th>{head}</tr></thead><tbody>{''.join(rows)}"
        "</tbody></table></body></html>\n"
    )


def write_html(
    path: Path, results: Sequence[Result], seconds: float, secrets: Sequence[str]
) -> None:
    doc = document(results, seconds)
    for entry, result in zip(doc["results"], results, strict=True):
        kept = result.status in (FAILED, INTERRUPTED)
        entry["transcript"] = result.transcript if kept else ""
    path.write_text(_scrub(render_html([doc]), secrets), encoding="utf-8")


def render_markdown(documents: Sequence[dict[str, Any]]) -> str:
    """The merged matrix as a Markdown table (for a CI job summary)."""
    columns: list[str] = []
    cells: dict[tuple[str, str], str] = {}
    for doc in documents:
        env = doc.get("environment", {})
        for result in doc["results"]:
            column = f"{env.get('platform', '?')} py{env.get('python', '?')} {result['target']}"
            if column not in columns:
                columns.append(column)
            cells[(result["id"], column)] = result["status"]
    marks = {PASSED: "pass", FAILED: "**FAIL**", SKIPPED: "skip", INTERRUPTED: "interrupted"}
    lines = ["| scenario | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for scenario in sorted({key[0] for key in cells}):
        row = [marks.get(cells.get((scenario, c), ""), "") for c in columns]
        lines.append(f"| {scenario} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"
