"""No secret in any output of a whole bundled run: reports, transcripts, logs, console.

The bundled library runs in-process with every logger at DEBUG (ours,
aiosmtpd's, asyncio's) captured to a file, and writes JSON, JUnit, HTML and
per-scenario transcripts. Every byte of all of it is searched for the fake
accounts' passwords and tokens, raw and in the base64 forms SASL carries them.
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest

from fakeservers.controller import DEFAULT_ACCOUNTS
from refclient.cli import main


def _forms(user: str, secret: str) -> list[str]:
    payloads = [f"\0{user}\0{secret}", f"{user}\0{user}\0{secret}", secret]
    payloads.append(f"user={user}\1auth=Bearer {secret}\1\1")
    return [secret] + [base64.b64encode(p.encode()).decode() for p in payloads]


def test_a_whole_run_leaks_no_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log_file = tmp_path / "debug.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        main(
            [
                "run",
                "--jobs", "8",
                "--json", str(tmp_path / "run.json"),
                "--junit", str(tmp_path / "run.xml"),
                "--html", str(tmp_path / "run.html"),
                "--transcripts", str(tmp_path / "transcripts"),
            ]
        )  # fmt: skip
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        handler.close()
    console = capsys.readouterr()
    outputs = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    outputs[tmp_path / "stdout"] = console.out.encode()
    outputs[tmp_path / "stderr"] = console.err.encode()
    assert len(list((tmp_path / "transcripts").rglob("*"))) > 50
    assert log_file.stat().st_size > 0
    secrets = []
    for account in DEFAULT_ACCOUNTS:
        secrets += _forms(account.user, account.password)
        secrets += _forms(account.user, f"token-{account.user}")
    leaks = [
        (path.name, secret)
        for path, data in outputs.items()
        for secret in secrets
        if secret.encode() in data
    ]
    assert leaks == []
