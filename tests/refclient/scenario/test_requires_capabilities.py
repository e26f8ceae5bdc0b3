"""``requires.capabilities``: a bare name matches the capability with or without its value.

Run through ``mailcompat run`` against the fake Gmail profile, which
advertises ``APPENDLIMIT=35651584`` and ``AUTH=XOAUTH2`` among others.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from refclient.cli import main

TEMPLATE = """
id: {id}
title: requires {names}
tags: [imap]
requires: {{endpoints: [imaps], accounts: 1, capabilities: {{imap: [{names}]}}}}
steps:
  - imap.connect: {{endpoint: imaps}}
  - imap.login: {{}}
  - imap.logout: {{}}
"""


def _statuses(tmp_path: Path, wanted: dict[str, str]) -> dict[str, str]:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    for name, names in wanted.items():
        text = TEMPLATE.format(id=name, names=names)
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    report = tmp_path / "r.json"
    main(["run", str(folder), "--target", "fake:gmail", "--json", str(report)])
    document = json.loads(report.read_text(encoding="utf-8"))
    return {result["id"]: result["status"] for result in document["results"]}


def test_a_bare_name_matches_a_capability_with_a_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    statuses = _statuses(
        tmp_path,
        {
            "bare-appendlimit": "APPENDLIMIT",
            "exact-appendlimit": "APPENDLIMIT=35651584",
            "bare-auth": "AUTH",
            "exact-auth": "AUTH=XOAUTH2",
            "bare-compress": "COMPRESS",
        },
    )
    assert set(statuses.values()) == {"passed"}, statuses


def test_a_name_with_another_value_or_a_prefix_does_not_match(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    statuses = _statuses(
        tmp_path,
        {
            "other-appendlimit": "APPENDLIMIT=100",
            "other-auth": "AUTH=CRAM-MD5",
            "prefix": "APPEND",
            "absent": "QRESYNC",
        },
    )
    assert set(statuses.values()) == {"skipped"}, statuses
