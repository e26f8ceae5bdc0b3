"""pytest collects scenario files as test items, one per scenario and target."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FAILING = (
    "id: failing\ntitle: t\nsteps:\n  - imap.connect: {endpoint: imaps}\n"
    "    expect: {capabilities: {contains: XNOPE}}\n"
)


def run_pytest(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", "-q", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_scenario_files_are_collected_and_run(tmp_path: Path) -> None:
    bundled = Path(__file__).resolve().parents[3] / "scenarios" / "imap" / "connect.yaml"
    (tmp_path / "connect.yaml").write_bytes(bundled.read_bytes())
    (tmp_path / "failing.yaml").write_text(FAILING, encoding="utf-8")
    (tmp_path / "other.yaml").write_text("just: data\n", encoding="utf-8")
    completed = run_pytest(".", cwd=tmp_path)
    assert completed.returncode == 1, completed.stdout
    assert "1 failed, 2 passed" in completed.stdout
    assert "failing[fake]" in completed.stdout and "XNOPE" in completed.stdout


def test_tags_select_with_k(tmp_path: Path) -> None:
    bundled = Path(__file__).resolve().parents[3] / "scenarios" / "imap" / "connect.yaml"
    (tmp_path / "connect.yaml").write_bytes(bundled.read_bytes())
    completed = run_pytest(".", "-k", "starttls", cwd=tmp_path)
    assert completed.returncode == 0, completed.stdout
    assert "1 passed, 1 deselected" in completed.stdout
