"""``audit-client`` against curl: every case of a protocol gets a verdict; curl is never unsafe."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fakeservers.audit.cases import all_cases
from refclient.cli import main

CURL = shutil.which("curl")

COMMANDS = {
    "imap": "curl -sS --ssl-reqd --cacert {ca_file} --user {user}:{password} {url}/INBOX",
    "pop3": "curl -sS --ssl-reqd --cacert {ca_file} --user {user}:{password} {url}/",
    "smtp": (
        "curl -sS --ssl-reqd --cacert {ca_file} --user {user}:{password} --mail-from {user} "
        "--mail-rcpt {user} --upload-file MESSAGE {url}"
    ),
}


def audit_curl(protocol: str, tmp_path: Path) -> None:
    """Run every case of ``protocol`` with curl and check the report."""
    if CURL is None:
        pytest.skip("curl is not installed (CI installs it)")
    message = tmp_path / "note.eml"
    message.write_bytes(b"From: alice@example.test\r\nSubject: audit\r\n\r\nhello\r\n")
    command = COMMANDS[protocol].replace("curl", f'"{CURL}"', 1).replace("MESSAGE", f'"{message}"')
    report = tmp_path / "audit.json"
    args = ["audit-client", "--protocol", protocol, "--timeout", "3", "--json", str(report)]
    main([*args, "--client-cmd", command])
    cases = json.loads(report.read_text())["cases"]
    assert [case["id"] for case in cases] == [c.id for c in all_cases() if c.protocol == protocol]
    verdicts = {case["id"]: case["verdict"] for case in cases}
    assert verdicts[f"{protocol}-control"] == "safe"
    assert "vulnerable" not in verdicts.values(), verdicts
    assert "violation" not in verdicts.values(), verdicts
    assert sum(verdict == "safe" for verdict in verdicts.values()) >= len(verdicts) - 2
