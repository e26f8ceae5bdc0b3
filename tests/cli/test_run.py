"""``mailcompat run``: the bundled library passes; failures, skips and reports are right."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from refclient.cli import main

PASSING = """
id: passing
title: connects
tags: [imap]
requires: {endpoints: [imaps]}
steps:
  - imap.connect: {endpoint: imaps}
    expect: {tls.version: {at_least: TLSv1.2}}
"""
FAILING = """
id: failing
title: expects what the server does not offer
tags: [imap]
steps:
  - imap.connect: {endpoint: imaps}
    expect: {capabilities: {contains: XNOPE}}
"""
SKIPPED = """
id: skipped
title: needs a real server
tags: [other]
requires: {targets: [server]}
steps:
  - imap.connect: {endpoint: imaps}
"""
WRONG_PASSWORD = """
id: wrong-password
title: a refused login is expected here
tags: [imap]
requires: {accounts: 1}
steps:
  - imap.connect: {endpoint: imaps}
  - imap.login: {password: "Very-Secret-Guess"}
    error: authentication-failed
  - imap.login: {password: "Very-Secret-Guess"}
"""


def write(tmp_path: Path, **files: str) -> Path:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    return folder


def test_the_bundled_library_passes_against_the_fake_servers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "--jobs", "4"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert " passed, 0 failed" in last


def test_reports_show_pass_fail_and_skip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write(tmp_path, passing=PASSING, failing=FAILING, skipped=SKIPPED)
    report = {name: tmp_path / name for name in ("r.json", "r.xml", "r.html", "transcripts")}
    code = main(
        [
            "run",
            str(folder),
            "--json",
            str(report["r.json"]),
            "--junit",
            str(report["r.xml"]),
            "--html",
            str(report["r.html"]),
            "--transcripts",
            str(report["transcripts"]),
        ]
    )
    assert code == 1
    output = capsys.readouterr().out
    assert "1 passed, 1 failed, 1 skipped" in output
    assert "XNOPE" in output and "needs a target of kind server" in output
    document = json.loads(report["r.json"].read_text(encoding="utf-8"))
    statuses = {r["id"]: r["status"] for r in document["results"]}
    assert statuses == {"passing": "passed", "failing": "failed", "skipped": "skipped"}
    assert document["environment"]["python"]
    passing = next(r for r in document["results"] if r["id"] == "passing")
    assert passing["tls"][0]["version"].startswith("TLSv1.")
    suite = ET.parse(report["r.xml"]).getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    failure = suite.find("testcase[@name='failing']/system-out")
    assert failure is not None and "CAPABILITY" in (failure.text or "")
    HTMLParser().feed(report["r.html"].read_text(encoding="utf-8"))  # well-formed enough to parse
    assert "failing" in report["r.html"].read_text(encoding="utf-8")
    assert len(list(report["transcripts"].glob("*.txt"))) == 2


def test_expected_errors_pass_and_unexpected_ones_fail_without_leaking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write(tmp_path, wrong=WRONG_PASSWORD)
    out = tmp_path / "r.json"
    assert main(["run", str(folder), "--json", str(out), "--transcripts", str(tmp_path / "t")]) == 1
    printed = capsys.readouterr().out
    (result,) = json.loads(out.read_text(encoding="utf-8"))["results"]
    assert result["status"] == "failed" and "authentication" in result["reason"].lower()
    assert result["steps"][1]["status"] == "passed"  # the expected failure
    texts = [printed, out.read_text(encoding="utf-8")]
    texts += [p.read_text(encoding="utf-8") for p in (tmp_path / "t").glob("*")]
    assert not any("alice-pass" in text for text in texts)


def test_tags_select_scenarios(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write(tmp_path, passing=PASSING, skipped=SKIPPED)
    assert main(["run", str(folder), "--tag", "imap"]) == 0
    assert "1 passed, 0 failed, 0 skipped" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "nowhere"], "unknown target 'nowhere'"),
        (["--jobs", "0"], "--jobs must be at least 1"),
    ],
)
def test_bad_options_exit_2(
    tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write(tmp_path, passing=PASSING)
    assert main(["run", str(folder), *args]) == 2
    assert message in capsys.readouterr().err


def test_an_invalid_file_runs_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write(tmp_path, passing=PASSING, bad="id: x\ntitle: y\nsteps:\n  - imap.conect: {}\n")
    assert main(["run", str(folder)]) == 2
    captured = capsys.readouterr()
    assert "bad.yaml:4:5: unknown step 'imap.conect'" in captured.err
    assert "passed" not in captured.out


def test_a_targets_file_names_real_servers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from fakeservers.controller import FakeMailServers  # noqa: PLC0415  (a stand-in real server)

    folder = write(tmp_path, passing=PASSING, skipped=SKIPPED)
    with FakeMailServers() as servers:
        targets = tmp_path / "targets.yaml"
        targets.write_text(
            "targets:\n"
            "  - name: lab\n"
            f"    ca_file: {servers.ca_file}\n"
            f"    endpoints: {{imaps: '{servers.url('imaps')}'}}\n"
            "    accounts:\n"
            "      - {user: alice@example.test, password_env: LAB_PASSWORD}\n",
            encoding="utf-8",
        )
        monkeypatch.setenv("LAB_PASSWORD", "alice-pass")
        assert main(["run", str(folder), "--targets-file", str(targets)]) == 0
    # Both ran: the second scenario asks for a target of kind "server", which "lab" is.
    assert "2 passed, 0 failed, 0 skipped" in capsys.readouterr().out


def test_report_merge_shows_both_platforms(tmp_path: Path) -> None:
    folder = write(tmp_path, passing=PASSING, failing=FAILING)
    first = tmp_path / "linux.json"
    main(["run", str(folder), "--json", str(first)])
    document = json.loads(first.read_text(encoding="utf-8"))
    here = document["environment"]["platform"]
    document["environment"]["platform"] = "elsewhere"
    second = tmp_path / "windows.json"
    second.write_text(json.dumps(document), encoding="utf-8")
    page, table = tmp_path / "matrix.html", tmp_path / "matrix.md"
    assert (
        main(
            [
                "report",
                "merge",
                str(first),
                str(second),
                "--html",
                str(page),
                "--markdown",
                str(table),
            ]
        )
        == 0
    )
    html = page.read_text(encoding="utf-8")
    HTMLParser().feed(html)
    assert f"{here} py" in html and "elsewhere py" in html
    rows = table.read_text(encoding="utf-8").splitlines()
    assert rows[0].count("fake") == 2
    assert any(row.startswith("| failing |") and row.count("**FAIL**") == 2 for row in rows)


def test_report_merge_rejects_what_is_not_a_result(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.json"
    bogus.write_text("[1, 2]", encoding="utf-8")
    assert main(["report", "merge", str(bogus)]) == 2
