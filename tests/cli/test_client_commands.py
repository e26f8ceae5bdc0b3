"""``mailcompat send``, ``fetch`` and ``probe`` against the fake servers, as users run them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fakeservers.controller import FakeMailServers
from fakeservers.smtp import strip_trace_headers
from refclient.cli import main
from refclient.transcript import sweep

PASSWORD = "alice-pass"


@pytest.fixture
def with_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILCOMPAT_PASSWORD", PASSWORD)
    monkeypatch.delenv("MAILCOMPAT_OAUTH2_TOKEN", raising=False)


def common(servers: FakeMailServers) -> list[str]:
    return ["--ca-file", str(servers.ca_file), "--timeout", "10"]


@pytest.mark.usefixtures("with_password")
@pytest.mark.parametrize(("submit", "read"), [("submission", "imaps"), ("submissions", "pop3")])
def test_send_then_fetch_saves_exact_bytes(
    mail_servers: FakeMailServers,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    submit: str,
    read: str,
) -> None:
    attachment = tmp_path / "notes.txt"
    attachment.write_bytes(b"line one\nline two\n")
    send = [
        "send",
        "--server",
        mail_servers.url(submit),
        "--user",
        "alice@example.test",
        "--to",
        "alice@example.test",
        "--subject",
        "Grüße",
        "--body",
        "hallo\n.dot\n",
        "--attach",
        str(attachment),
        *common(mail_servers),
    ]
    assert main(send) == 0
    assert "sent <" in capsys.readouterr().out
    out = tmp_path / "out"
    fetch = [
        "fetch",
        "--server",
        mail_servers.url(read),
        "--user",
        "alice@example.test",
        "--out",
        str(out),
        *common(mail_servers),
    ]
    assert main(fetch) == 0
    listing = capsys.readouterr().out
    assert "Grüße" in listing
    (saved,) = out.glob("*.eml")
    stored = mail_servers.store.mailbox("alice@example.test", "INBOX").messages[0].data
    assert saved.read_bytes() == stored
    assert b"notes.txt" in strip_trace_headers(stored)


@pytest.mark.usefixtures("with_password")
def test_a_refused_recipient_fails_the_send(
    mail_servers: FakeMailServers, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "send",
        "--server",
        mail_servers.url("submissions"),
        "--user",
        "alice@example.test",
        "--to",
        "bob@example.test",
        "--to",
        "nobody@example.test",
        *common(mail_servers),
    ]
    assert main(args) == 1
    assert "refused nobody@example.test: 550" in capsys.readouterr().out


def test_probe_reports_tls_and_capabilities_as_json(
    mail_servers: FakeMailServers, capsys: pytest.CaptureFixture[str]
) -> None:
    urls = [mail_servers.url(name) for name in ("imap", "pop3s", "submission")]
    assert main(["probe", *urls, "--json", *common(mail_servers)]) == 0
    probes = json.loads(capsys.readouterr().out)["probes"]
    imap, pop3s, submission = probes
    assert imap["tls"]["starttls"] is True and imap["tls"]["version"].startswith("TLSv1.")
    assert "STARTTLS" in imap["capabilities_before_tls"]
    assert "STARTTLS" not in imap["capabilities"]
    assert imap["certificate"]["verdict"] == "verified"
    assert pop3s["tls"]["starttls"] is False and "SCRAM-SHA-256" in pop3s["auth_mechanisms"]
    assert "AUTH" not in submission["capabilities_before_tls"]
    assert "PLAIN" in submission["auth_mechanisms"]


def test_probe_of_an_untrusted_certificate_fails(
    mail_servers: FakeMailServers, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["probe", mail_servers.url("imaps"), "--timeout", "10"]) == 1
    output = capsys.readouterr().out
    assert "FAILED" in output and "certificate: failed" in output


def test_a_wrong_password_fails_without_showing_it(
    mail_servers: FakeMailServers,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret = "Sup3r-Secret-Value"
    monkeypatch.setenv("MAILCOMPAT_PASSWORD", secret)
    transcript = tmp_path / "transcript.txt"
    for auth in ("PLAIN", "LOGIN", "SCRAM-SHA-256"):
        args = [
            "fetch",
            "--server",
            mail_servers.url("imap"),
            "--user",
            "alice@example.test",
            "--auth",
            auth,
            "--transcript",
            str(transcript),
            *common(mail_servers),
        ]
        assert main(args) == 1
        captured = capsys.readouterr()
        assert "rejected" in captured.err and "[login]" in captured.err
        texts = [captured.out, captured.err, transcript.read_text(encoding="utf-8")]
        assert sweep(texts, [secret]) == []


def test_password_command_is_used(
    mail_servers: FakeMailServers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MAILCOMPAT_PASSWORD", raising=False)
    command = f'"{sys.executable}" -c "print(\'{PASSWORD}\')"'
    args = [
        "fetch",
        "--server",
        mail_servers.url("pop3s"),
        "--user",
        "alice@example.test",
        "--password-command",
        command,
        *common(mail_servers),
    ]
    assert main(args) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fetch", "--server", "gopher://host"], "unknown scheme"),
        (["fetch", "--server", "imaps://user:pw@host"], "password must not be written"),
        (["fetch", "--server", "imaps://127.0.0.1:1"], "no user"),
        (["send", "--server", "imaps://127.0.0.1:1", "--to", "x@y"], "smtp://"),
    ],
)
def test_usage_errors_exit_2(
    args: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MAILCOMPAT_PASSWORD", PASSWORD)
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_no_password_source_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MAILCOMPAT_PASSWORD", raising=False)
    monkeypatch.delenv("MAILCOMPAT_OAUTH2_TOKEN", raising=False)
    monkeypatch.setattr(sys, "stdin", None)
    assert main(["fetch", "--server", "imaps://u@127.0.0.1:1"]) == 2
    assert "MAILCOMPAT_PASSWORD" in capsys.readouterr().err


def test_probe_runs_as_a_process(mail_servers: FakeMailServers) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "refclient",
            "probe",
            mail_servers.url("pop3"),
            "--json",
            *common(mail_servers),
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    (probe,) = json.loads(completed.stdout)["probes"]
    assert probe["ok"] and "STLS" in probe["capabilities_before_tls"]
