"""Ctrl-C during ``mailcompat run``: partial reports, a clear message, exit 130.

A real ``mailcompat run`` process runs against fake servers held by the test,
so the test can see, in the store, that the slow scenario is inside its run
before it sends SIGINT: nothing depends on timing. The negative case is the
same run left alone, which finishes with exit 1 and no ``interrupted`` mark.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from fakeservers.controller import FakeMailServers

QUICK = """
id: quick
title: fails at once, so the run prints it before the interrupt
requires: {endpoints: [imaps]}
steps:
  - imap.connect: {endpoint: imaps}
    expect: {greeting: {contains: no such greeting}}
"""

SLOW = """
id: slow
title: creates a mailbox, appends a marker, then waits for a message (WANTED)
requires: {endpoints: [imaps], accounts: 1}
steps:
  - imap.connect: {endpoint: imaps}
  - imap.login: {}
  - imap.create: {mailbox: "mc-interrupt-$run_token"}
  - message: {name: marker, subject: "interrupt-marker", body: "in progress\\n"}
  - imap.append: {mailbox: INBOX, message: $marker}
  - imap.wait_for: {mailbox: INBOX, criteria: [SUBJECT, WANTED], timeout: 50}
cleanup:
  - imap.delete: {mailbox: "mc-interrupt-$run_token"}
"""

PASSWORD_ENV = "MAILCOMPAT_TEST_INTERRUPT_PASSWORD"


def _targets_file(tmp_path: Path, servers: FakeMailServers) -> Path:
    targets = {
        "targets": [
            {
                "name": "held",
                "ca_file": str(servers.ca_file),
                "endpoints": {"imaps": servers.url("imaps")},
                "accounts": [
                    {
                        "user": "alice@example.test",
                        "address": "alice@example.test",
                        "password_env": PASSWORD_ENV,
                    }
                ],
            }
        ]
    }
    path = tmp_path / "targets.yaml"
    path.write_text(json.dumps(targets), encoding="utf-8")  # JSON is YAML
    return path


def _start_run(tmp_path: Path, servers: FakeMailServers, wanted: str) -> subprocess.Popen[bytes]:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "quick.yaml").write_text(QUICK, encoding="utf-8")
    (folder / "slow.yaml").write_text(SLOW.replace("WANTED", wanted), encoding="utf-8")
    outputs = [
        *("--json", str(tmp_path / "run.json")),
        *("--junit", str(tmp_path / "run.xml")),
        *("--html", str(tmp_path / "run.html")),
        *("--transcripts", str(tmp_path / "transcripts")),
    ]
    command = [sys.executable, "-m", "refclient", "run", str(folder), "--jobs", "2"]
    command += ["--targets-file", str(_targets_file(tmp_path, servers)), *outputs]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env={**os.environ, PASSWORD_ENV: "alice-pass"},
    )


def _wait_for_marker(servers: FakeMailServers, process: subprocess.Popen[bytes]) -> None:
    """Until the slow scenario's APPEND is in the store (it is then inside its run)."""
    deadline = time.monotonic() + 60
    while not any(
        b"interrupt-marker" in message.data
        for message in list(servers.store.mailbox("alice@example.test", "INBOX").messages)
    ):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the slow scenario never appended: {process.communicate()!r}")
        time.sleep(0.02)


def _scenario_mailboxes(servers: FakeMailServers) -> list[str]:
    boxes = servers.store.mailboxes("alice@example.test")
    return [box.name for box in boxes if box.name.startswith("mc-interrupt-")]


@pytest.mark.skipif(
    sys.platform == "win32",
    reason="a test can deliver Ctrl-C on Windows only to a whole console process group, "
    "its own included; the handling is asyncio.run's, the same on every platform",
)
def test_an_interrupted_run_reports_what_finished(
    tmp_path: Path, mail_servers: FakeMailServers
) -> None:
    process = _start_run(tmp_path, mail_servers, wanted="never-arrives")
    assert process.stdout is not None
    line = process.stdout.readline()  # non-interactive progress: one line per failure
    assert line.startswith(b"FAILED quick"), line
    _wait_for_marker(mail_servers, process)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)

    assert process.returncode == 130, (out, err)
    assert b"mailcompat run: interrupted (Ctrl-C)" in err
    assert b"1 unfinished scenario run(s) marked interrupted" in err
    assert b"Traceback" not in err
    document = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert document["interrupted"] is True
    assert document["counts"]["interrupted"] == 1
    results = {r["id"]: r for r in document["results"]}
    assert results["quick"]["status"] == "failed"
    assert results["slow"]["status"] == "interrupted"
    assert results["slow"]["reason"].startswith("interrupted (Ctrl-C) during")
    # Its partial transcript is kept: the APPEND it made is in it.
    transcript = (tmp_path / "transcripts" / "held--slow.txt").read_text(encoding="utf-8")
    assert "APPEND" in transcript
    # Its cleanup ran: the mailbox it created is gone.
    assert "DELETE mc-interrupt-" in transcript
    assert _scenario_mailboxes(mail_servers) == []
    suite = ET.parse(tmp_path / "run.xml").getroot()
    slow = next(case for case in suite.iter("testcase") if case.get("name") == "slow")
    skipped = slow.find("skipped")
    assert skipped is not None and skipped.get("type") == "interrupted"
    assert suite.get("failures") == "1"
    page = (tmp_path / "run.html").read_text(encoding="utf-8")
    assert "This run was interrupted" in page and 'class="interrupted"' in page


def test_a_run_left_alone_is_not_marked_interrupted(
    tmp_path: Path, mail_servers: FakeMailServers
) -> None:
    process = _start_run(tmp_path, mail_servers, wanted="interrupt-marker")
    out, err = process.communicate(timeout=120)

    assert process.returncode == 1, (out, err)  # quick failed; nothing was interrupted
    assert b"interrupted" not in err
    document = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert "interrupted" not in document and "interrupted" not in document["counts"]
    assert {r["id"]: r["status"] for r in document["results"]} == {
        "quick": "failed",
        "slow": "passed",
    }
    assert "This run was interrupted" not in (tmp_path / "run.html").read_text(encoding="utf-8")
    assert _scenario_mailboxes(mail_servers) == []
