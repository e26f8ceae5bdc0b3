"""Every benchmark runs at a tiny size, so that none can rot (nothing here is timed)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.__main__ import BENCHMARKS, main
from tests.interop.system import missing_requirement


def test_every_benchmark_runs_and_reports_ratios(tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    assert main(["--tiny", "--json", str(report)]) == 0
    document = json.loads(report.read_text(encoding="utf-8"))
    assert document["machine"]["python"]
    results = document["results"]
    assert len(results) >= len(BENCHMARKS)
    fetch = results[0]
    peers = fetch["peers"]
    assert {"imaplib @ fake", "refclient @ fake"} <= set(peers)
    assert peers[fetch["baseline"]]["ratio_to_baseline"] == 1.0
    assert all(len(peer["rounds_s"]) == 1 for peer in peers.values())
    submit = results[1]
    assert {"smtplib -> fake", "smtplib -> aiosmtpd"} <= set(submit["peers"])
    assert submit["baseline"] == "smtplib -> aiosmtpd"
    if missing_requirement() is None:
        assert {"imaplib @ dovecot", "refclient @ dovecot"} <= set(peers)
        assert "smtplib -> postfix" in submit["peers"]
    else:
        assert "imaplib @ dovecot" not in peers
        assert fetch["notes"] == ["Dovecot not installed: no server comparison"]
        assert submit["notes"] == ["Postfix not installed: no comparison with it"]
