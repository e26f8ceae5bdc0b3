"""``fake:PROFILE`` targets, and scenarios that set up fake servers of their own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from refclient.cli import main
from tests.cli.test_run import write

GREETING = """
id: greeting
title: the greeting names the emulated provider
requires: {endpoints: [imaps]}
steps:
  - imap.connect: {endpoint: imaps}
    expect: {greeting: {contains: Gimap ready}}
"""

OWN_RULES = """
id: noop-refused-by-a-rule
title: a rule of the scenario answers NOOP with NO
requires: {endpoints: [imaps], accounts: 1}
server:
  seed: 5
  rules:
    - {name: no-noop, event: command, verb: NOOP, send: "{tag} NO [ALERT] not now"}
steps:
  - imap.connect: {endpoint: imaps}
  - imap.login: {}
  - imap.noop: {}
    error: command-failed
"""

UNTOUCHED = """
id: noop-untouched
title: another scenario of the same run never sees that rule
requires: {endpoints: [imaps], accounts: 1}
steps:
  - imap.connect: {endpoint: imaps}
  - imap.login: {}
  - imap.noop: {}
"""

QUIRKS = """
id: quirk-codes-without-text
title: codes without text are findings, not failures
requires: {endpoints: [imaps], accounts: 1}
server: {profile: outlook, quirks: [codes-without-text]}
steps:
  - imap.connect: {endpoint: imaps}
    expect: {greeting: {contains: Microsoft Exchange}}
  - imap.login: {}
  - imap.select: {mailbox: INBOX}
  - findings: {}
    expect: {ids: {contains: imap.missing-text}}
"""


EXPIRED = """
id: expired-certificate
title: a scenario's own servers present an expired certificate, which the client rejects
requires: {endpoints: [imaps]}
server: {tls: expired}
steps:
  - imap.connect: {endpoint: imaps}
    error: tls-failed
"""

VALID = EXPIRED.replace("expired-certificate", "valid-certificate").replace(
    "{tls: expired}", "{tls: valid}"
)


def test_a_tls_variant_in_the_server_section(tmp_path: Path) -> None:
    assert main(["run", str(write(tmp_path, expired=EXPIRED))]) == 0
    other = tmp_path / "other"
    other.mkdir()
    assert main(["run", str(write(other, valid=VALID))]) == 1  # a valid certificate: no error


def test_a_fake_profile_target_emulates_the_provider(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write(tmp_path, greeting=GREETING)
    report = tmp_path / "run.json"
    assert main(["run", str(folder), "--target", "fake:gmail", "--json", str(report)]) == 0
    assert json.loads(report.read_text())["results"][0]["target"] == "fake:gmail"
    assert main(["run", str(folder), "--target", "fake"]) == 1  # the default is not Gmail


def test_an_unknown_fake_profile_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write(tmp_path, greeting=GREETING)
    assert main(["run", str(folder), "--target", "fake:gmial"]) == 2
    assert "unknown fake profile in 'fake:gmial'" in capsys.readouterr().err


def test_a_scenario_s_rules_apply_to_its_own_servers_only(tmp_path: Path) -> None:
    folder = write(tmp_path, own=OWN_RULES, untouched=UNTOUCHED)
    report = tmp_path / "run.json"
    assert main(["run", str(folder), "--json", str(report)]) == 0
    results = {r["id"]: r for r in json.loads(report.read_text())["results"]}
    assert results["noop-refused-by-a-rule"]["status"] == "passed"
    assert results["noop-refused-by-a-rule"]["rule_hits"] == {"no-noop": 1}
    assert results["noop-untouched"]["status"] == "passed"
    assert results["noop-untouched"]["rule_hits"] == {}


def test_a_profile_and_quirks_in_the_server_section(tmp_path: Path) -> None:
    folder = write(tmp_path, quirks=QUIRKS)
    assert main(["run", str(folder)]) == 0


def test_server_sections_are_skipped_on_real_servers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write(tmp_path, own=OWN_RULES)
    targets = tmp_path / "targets.yaml"
    targets.write_text(
        "targets:\n  - name: real\n    endpoints: {imaps: 'imaps://127.0.0.1:9'}\n"
        "    accounts: [{user: a, password_env: MAILCOMPAT_TEST_UNSET_VARIABLE}]\n"
    )
    report = tmp_path / "run.json"
    assert main(["run", str(folder), "--targets-file", str(targets), "--json", str(report)]) == 0
    (result,) = json.loads(report.read_text())["results"]
    assert result["status"] == "skipped"
    assert "fake targets only" in result["reason"] or "account" in result["reason"]
