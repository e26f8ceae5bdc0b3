"""The bundled scenario library against the private Dovecot and Postfix, via a targets file.

What fails here is either a client bug or a true server difference, which
the scenario's ``requires`` must then state (so it is skipped, not failed).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from refclient.cli import main

from .environment import InteropServers

pytestmark = pytest.mark.interop

ENDPOINTS = ("imap", "imaps", "pop3", "pop3s", "submission", "submissions")


def test_bundled_scenarios_pass_against_dovecot_and_postfix(
    interop_servers: InteropServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = ["targets:", "  - name: dovecot", f"    ca_file: '{interop_servers.ca_file}'"]
    lines.append("    endpoints:")
    lines += [f"      {name}: '{interop_servers.url(name)}'" for name in ENDPOINTS]
    lines.append("    accounts:")
    for index, account in enumerate(interop_servers.accounts):
        lines.append(f"      - {{user: '{account.user}', password_env: INTEROP_PASSWORD_{index}}}")
        monkeypatch.setenv(f"INTEROP_PASSWORD_{index}", account.password)
    targets = tmp_path / "targets.yaml"
    targets.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = tmp_path / "report.json"
    # One scenario at a time: Dovecot 2.3 with maildir sometimes answers CREATE of a new
    # name with ALREADYEXISTS while other sessions of the same account create and
    # delete mailboxes at once; the scenarios test the client, not that race.
    code = main(["run", "--targets-file", str(targets), "--json", str(report), "--jobs", "1"])
    document = json.loads(report.read_text(encoding="utf-8"))
    failed = [f"{r['id']}: {r['reason']}" for r in document["results"] if r["status"] == "failed"]
    assert code == 0, failed
    assert document["counts"]["passed"] >= 25
    assert {r["target"] for r in document["results"]} == {"dovecot"}
    passwords = [account.password for account in interop_servers.accounts]
    assert not any(password in report.read_text(encoding="utf-8") for password in passwords)
