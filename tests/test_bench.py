"""Every benchmark runs at a tiny size, so that none can rot (nothing here is timed).

Each smoke run goes through ``python -m bench NAME --tiny --json FILE`` and
checks the shape of the report: every peer measured once, the baseline's
ratio 1, the peers that need something absent (Dovecot, Postfix, imapclient,
aioimaplib, psutil) left out with a note saying why.
"""

from __future__ import annotations

import importlib.util
import json
import ssl
import statistics
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import BENCHMARKS, main
from bench.large_messages import make_message, raw_tls_copy
from bench.many_clients import percentile
from bench.memory import FALLBACK_MESSAGE, rss_source
from bench.scenario_suite import run_library, scenario_files
from fakeservers.pki import TestPKI
from tests.interop.system import missing_requirement

DOVECOT = missing_requirement() is None


def _smoke(name: str, tmp_path: Path) -> list[dict[str, Any]]:
    report = tmp_path / f"{name}.json"
    assert main([name, "--tiny", "--json", str(report)]) == 0
    document = json.loads(report.read_text(encoding="utf-8"))
    assert document["machine"]["python"]
    assert document["machine"]["cpus"] >= 1
    results: list[dict[str, Any]] = document["results"]
    for result in results:
        peers = result["peers"]
        assert peers[result["baseline"]]["ratio_to_baseline"] == 1.0
        assert all(len(peer["rounds_s"]) == 1 for peer in peers.values())
        assert all(isinstance(target["met"], bool) for target in result["targets"])
    return results


def _optional_notes(notes: list[str]) -> None:
    """Each optional IMAP client is either measured or named as missing."""
    for client in ("imapclient", "aioimaplib"):
        missing = any(note.startswith(f"{client} not installed") for note in notes)
        assert missing == (importlib.util.find_spec(client) is None)


def test_imap_fetch_smoke(tmp_path: Path) -> None:
    [fetch] = _smoke("imap-fetch", tmp_path)
    peers = fetch["peers"]
    assert {"imaplib @ fake", "refclient @ fake"} <= set(peers)
    assert any(t["name"].startswith("refclient / imaplib @ fake") for t in fetch["targets"])
    _optional_notes(fetch["notes"])
    if DOVECOT:
        assert {"imaplib @ dovecot", "refclient @ dovecot"} <= set(peers)
    else:
        assert "imaplib @ dovecot" not in peers
        assert "Dovecot not installed: no server comparison" in fetch["notes"]


def test_imap_metadata_smoke(tmp_path: Path) -> None:
    [metadata] = _smoke("imap-metadata", tmp_path)
    peers = metadata["peers"]
    assert {"imaplib @ fake", "refclient @ fake"} <= set(peers)
    _optional_notes(metadata["notes"])
    if importlib.util.find_spec("imapclient") is not None:
        assert "imapclient @ fake" in peers
        assert any("refclient / imapclient" in t["name"] for t in metadata["targets"])
    else:
        assert "imapclient @ fake" not in peers
        assert metadata["targets"] == []
    assert ("refclient @ dovecot" in peers) == DOVECOT


def test_smtp_submit_smoke(tmp_path: Path) -> None:
    [submit] = _smoke("smtp-submit", tmp_path)
    assert {"smtplib -> fake", "smtplib -> aiosmtpd"} <= set(submit["peers"])
    assert submit["baseline"] == "smtplib -> aiosmtpd"
    if DOVECOT:
        assert "smtplib -> postfix" in submit["peers"]
    else:
        assert submit["notes"] == ["Postfix not installed: no comparison with it"]


def test_many_clients_smoke(tmp_path: Path) -> None:
    [many] = _smoke("many-clients", tmp_path)
    peer = many["baseline"]
    measured = many["peers"][peer]
    dovecot = "dovecot, 10 IDLE IMAPS sessions"
    assert set(many["peers"]) == ({peer, dovecot} if DOVECOT else {peer})
    if DOVECOT:
        assert {"noop_p50_ms", "noop_p99_ms"} <= set(many["peers"][dovecot]["metrics"])
    else:
        assert "Dovecot not installed: no comparison with it" in many["notes"]
    assert {"noop_p50_ms", "noop_p99_ms"} <= set(measured["metrics"])
    assert "targets are judged at 1000 sessions or more" in many["notes"]
    assert many["targets"] == []  # ten sessions say nothing about a thousand
    if rss_source() is not None:
        assert measured["metrics"]["peak_rss_mb"] > 0
    else:
        assert FALLBACK_MESSAGE in many["notes"]


def test_percentiles_follow_the_inclusive_method() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.5) == 50.5
    assert percentile(values, 0.99) == 99.01
    assert percentile([3.0], 0.99) == 3.0
    with pytest.raises(statistics.StatisticsError):
        percentile([], 0.5)


def test_large_messages_smoke(tmp_path: Path) -> None:
    [large] = _smoke("large-messages", tmp_path)
    peers = large["peers"]
    assert large["baseline"] == "raw TLS copy"
    assert set(peers) == {
        "raw TLS copy",
        "refclient APPEND -> fake",
        "refclient FETCH -> disk",
        "refclient DATA -> fake",
        "raw APPEND -> fake",
        "raw FETCH -> memory",
        "raw DATA -> fake",
    }
    assert all(peer["metrics"]["mb_per_s"] > 0 for peer in peers.values())
    names = [target["name"] for target in large["targets"]]
    assert "refclient DATA -> fake: time / raw TLS copy" in names
    if rss_source() is not None:
        assert "server_growth_x" in peers["refclient APPEND -> fake"]["metrics"]
    else:
        assert "server_growth_x" not in peers["refclient APPEND -> fake"]["metrics"]
        assert FALLBACK_MESSAGE in large["notes"]


def test_the_raw_copy_verifies_the_server_like_any_client() -> None:
    pki = TestPKI.create()
    data = make_message(64 * 1024)
    assert raw_tls_copy(pki, data) > 0
    stranger = TestPKI.create().client_context()  # trusts another CA
    with pytest.raises(ssl.SSLCertVerificationError):
        raw_tls_copy(pki, data, client=stranger)


def test_scenario_suite_smoke(tmp_path: Path) -> None:
    library, fixtures = _smoke("scenario-suite", tmp_path)
    [(peer, measured)] = library["peers"].items()
    assert peer.startswith("mailcompat run (1 of ")
    assert measured["metrics"]["scenarios_s"] > 0
    assert "the library target is judged over every bundled file" in library["notes"]
    assert library["targets"] == []
    assert set(fixtures["peers"]) == {"mail_servers", "imap_server", "smtp_server"}
    assert [t["name"] for t in fixtures["targets"]] == ["mail_servers fixture start + stop"]


def test_a_broken_scenario_run_is_reported_not_timed(tmp_path: Path) -> None:
    assert scenario_files(1) and len(scenario_files(2)) == 2
    broken = tmp_path / "broken.yaml"
    broken.write_text("not: [a scenario\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="mailcompat run exited 2"):
        run_library([broken])


def test_every_benchmark_has_a_smoke_test() -> None:
    tested = {
        name.removeprefix("test_").removesuffix("_smoke").replace("_", "-") for name in globals()
    }
    assert set(BENCHMARKS) <= tested


def test_an_unknown_benchmark_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["no-such-benchmark", "--tiny"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
