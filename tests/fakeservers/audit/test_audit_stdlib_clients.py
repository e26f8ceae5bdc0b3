"""``audit-client`` end to end: the standard library used naively is caught, used carefully is safe.

Each verdict is tested both ways, so the audit can neither pass everything
nor fail everything. The clients are real processes (stdlib_clients.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from fakeservers.audit.audit import run_case
from fakeservers.audit.cases import case_by_id
from fakeservers.audit.verdict import Verdict
from fakeservers.pki import TestPKI
from refclient.cli import main

CLIENT = Path(__file__).with_name("stdlib_clients.py")


def command(mode: str) -> str:
    return f'"{sys.executable}" "{CLIENT}" {mode} {{url}} {{user}} {{password}} {{ca_file}}'


@pytest.mark.parametrize(
    ("case_id", "naive"),
    [
        ("imap-control", Verdict.SAFE),
        ("imap-starttls-refused-1", Verdict.VULNERABLE),
        ("imap-cert-expired-implicit", Verdict.VULNERABLE),
        ("imap-logindisabled-after-tls", Verdict.VIOLATION),
        ("pop3-starttls-not-advertised", Verdict.VULNERABLE),
        ("pop3-cert-wrong-host-starttls", Verdict.VULNERABLE),
        ("smtp-auth-without-starttls", Verdict.VULNERABLE),
        ("smtp-cert-self-signed-implicit", Verdict.VULNERABLE),
        ("imap-greeting-bye", Verdict.SAFE),
    ],
)
def test_naive_is_caught_and_careful_is_safe(
    mail_pki: TestPKI, case_id: str, naive: Verdict
) -> None:
    case = case_by_id(case_id)
    caught = run_case(case, command("naive"), timeout=20, pki=mail_pki, settle=0.1)
    assert caught.judgement.verdict is naive, caught.to_dict()
    if naive is not Verdict.SAFE:
        assert caught.judgement.evidence
        assert "alice-audit-pass" not in json.dumps(caught.to_dict())
    careful = run_case(case, command("careful"), timeout=20, pki=mail_pki, settle=0.1)
    assert careful.judgement.verdict is Verdict.SAFE, careful.to_dict()


def test_a_client_that_follows_a_referral_is_caught(mail_pki: TestPKI) -> None:
    case = case_by_id("imap-referral-login")
    caught = run_case(case, command("follows-referrals"), timeout=20, pki=mail_pki, settle=0.1)
    assert caught.judgement.verdict is Verdict.VULNERABLE, caught.to_dict()
    assert "to the server a referral pointed to" in caught.judgement.evidence[0]
    careful = run_case(case, command("careful"), timeout=20, pki=mail_pki, settle=0.1)
    assert careful.judgement.verdict is Verdict.SAFE, careful.to_dict()


def test_a_client_that_never_connects_is_inconclusive(mail_pki: TestPKI) -> None:
    silent = f'"{sys.executable}" -c pass'
    run = run_case(
        case_by_id("imap-starttls-refused-1"), silent, timeout=10, pki=mail_pki, settle=0.1
    )
    assert run.judgement.verdict is Verdict.INCONCLUSIVE
    assert run.client_exit == 0


def test_the_command_line_writes_json_and_html_and_fails_a_failed_control(tmp_path: Path) -> None:
    report, page = tmp_path / "audit.json", tmp_path / "audit.html"
    silent = f'"{sys.executable}" -c pass'
    args = [
        "audit-client",
        "--protocol",
        "pop3",
        "--case",
        "pop3-greeting-bye",
        "--client-cmd",
        silent,
    ]
    assert main([*args, "--timeout", "5", "--json", str(report), "--html", str(page)]) == 1
    document = json.loads(report.read_text())
    assert [case["id"] for case in document["cases"]] == ["pop3-control", "pop3-greeting-bye"]
    assert {case["verdict"] for case in document["cases"]} == {"inconclusive"}
    assert "failed the pop3 control case" in document["cases"][1]["reason"]
    assert set(document["cases"][0]) >= {"id", "protocol", "verdict", "evidence", "client_exit"}
    assert "<table>" in page.read_text()


def test_listing_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit-client", "--list", "--protocol", "smtp"]) == 0
    assert "smtp-helo-only" in capsys.readouterr().out
    assert main(["audit-client", "--case", "nope", "--client-cmd", "x"]) == 2
    assert "unknown case(s) nope" in capsys.readouterr().err
    assert main(["audit-client"]) == 2
