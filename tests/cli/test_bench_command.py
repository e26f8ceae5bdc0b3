"""``mailcompat bench``: ``python -m bench`` from the checkout, arguments and exit code unchanged.

The benchmarks themselves are smoke-tested in tests/test_bench.py; these tests
check the command line: pass-through of every argument (``--help`` included),
the exit code of a usage error, and the message from an installed package
that has no ``bench/`` beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from refclient.cli import main
from refclient.cli.bench import checkout_root


def test_help_is_bench_own_under_the_command_name(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--help"]) == 0
    out = capfd.readouterr().out
    assert out.startswith("usage: mailcompat bench")
    assert "--tiny" in out and "--rounds" in out


def test_unknown_benchmark_is_a_usage_error(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "no-such-benchmark"]) == 2
    err = capfd.readouterr().err
    assert "mailcompat bench: error: argument NAME: invalid choice: 'no-such-benchmark'" in err


def test_a_tiny_run_writes_the_report(tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    assert main(["bench", "scenario-suite", "--tiny", "--json", str(report)]) == 0
    results = json.loads(report.read_text(encoding="utf-8"))["results"]
    names = [result["name"] for result in results]
    assert [name.split(":")[0] for name in names] == ["Scenario library", "Fixture cost"]


def test_the_checkout_is_found_beside_the_package(tmp_path: Path) -> None:
    root = checkout_root()
    assert root is not None and (root / "bench" / "__main__.py").is_file()
    installed = tmp_path / "site-packages" / "refclient"
    installed.mkdir(parents=True)
    assert checkout_root(installed) is None
