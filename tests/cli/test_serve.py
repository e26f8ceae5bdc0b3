"""``mailcompat serve`` as a user runs it: a real process, servers.json, a clean stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from refclient.cli import main

PORT_ZERO = [
    f"--{name}-port=0" for name in ("imap", "imaps", "pop3", "pop3s", "submission", "submissions")
]


def _start(state_dir: Path, *extra: str) -> subprocess.Popen[bytes]:
    flags = subprocess.CREATE_NEW_PROCESS_GROUP if sys.platform == "win32" else 0
    command = [sys.executable, "-m", "refclient", "serve", "--state-dir", str(state_dir)]
    return subprocess.Popen(
        [*command, *PORT_ZERO, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        creationflags=flags,
    )


def _wait_for_state(process: subprocess.Popen[bytes], path: Path) -> dict[str, Any]:
    deadline = time.monotonic() + 60  # generous: a loaded CI machine, not a timing check
    while time.monotonic() < deadline:
        if path.exists():
            return dict(json.loads(path.read_text(encoding="utf-8")))
        if process.poll() is not None:
            pytest.fail(f"serve exited early: {process.communicate()}")
        time.sleep(0.05)
    process.kill()
    pytest.fail("servers.json never appeared")


def _stop(process: subprocess.Popen[bytes]) -> tuple[int, bytes]:
    try:
        if sys.platform == "win32":
            process.send_signal(signal.CTRL_BREAK_EVENT)
        else:
            process.send_signal(signal.SIGTERM)
    except OSError:
        process.kill()  # do not leave a server running when the signal cannot be sent
        process.communicate()
        raise
    try:
        out, _err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return process.returncode, out


@pytest.mark.wine(
    reason="Wine 8 cannot send CTRL_BREAK_EVENT to a process group: GenerateConsoleCtrlEvent "
    "fails with WinError 12 without a console and WinError 6 with one (docs/platforms.md)"
)
def test_serve_writes_state_answers_and_stops_cleanly(tmp_path: Path) -> None:
    process = _start(tmp_path)
    state = _wait_for_state(process, tmp_path / "servers.json")
    try:
        ports = {name: endpoint["port"] for name, endpoint in state["endpoints"].items()}
        assert set(ports) == {"imap", "imaps", "pop3", "pop3s", "submission", "submissions"}
        assert all(port > 0 for port in ports.values())
        with socket.create_connection((state["host"], ports["imap"]), timeout=10) as raw:
            assert raw.recv(1024).startswith(b"* OK")
        assert [a["user"] for a in state["accounts"]] == ["alice@example.test", "bob@example.test"]
        assert Path(state["ca_cert"]).is_file()
    finally:
        code, out = _stop(process)
    assert code == 0
    assert b"imaps" in out and b"CA certificate" in out
    assert not (tmp_path / "servers.json").exists()
    with pytest.raises(OSError):
        socket.create_connection((state["host"], ports["imap"]), timeout=2).close()


def test_serve_rejects_an_unknown_profile(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--profile", "no-such-profile", *PORT_ZERO]) == 2
    assert "unknown profile" in capsys.readouterr().err


def test_serve_rejects_a_malformed_account(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--account", "no-colon"])
    assert exit_info.value.code == 2
    assert "USER:PASSWORD" in capsys.readouterr().err


def test_serve_reports_a_port_in_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["serve", "--state-dir", str(tmp_path), *PORT_ZERO, f"--imap-port={port}"])
    assert code == 2
    assert "cannot start" in capsys.readouterr().err
    assert not (tmp_path / "servers.json").exists()
    assert os.listdir(tmp_path) in (["ca.pem"], [])


def test_serve_applies_a_limit_override(tmp_path: Path) -> None:
    process = _start(tmp_path, "--limit", "max_line=64")
    state = _wait_for_state(process, tmp_path / "servers.json")
    try:
        port = state["endpoints"]["imap"]["port"]
        with socket.create_connection((state["host"], port), timeout=10) as raw:
            stream = raw.makefile("rwb")
            assert stream.readline().startswith(b"* OK")
            stream.write(b"a1 NOOP\r\n")
            stream.flush()
            assert stream.readline().startswith(b"a1 OK")
            stream.write(b"a2 NOOP " + b"x" * 100 + b"\r\n")
            stream.flush()
            assert b"BAD" in stream.readline()
    finally:
        # Only cleanup here: the clean stop has its own test, and CTRL_BREAK
        # cannot be sent under Wine (see the wine mark on that test).
        process.kill()
        process.communicate()


@pytest.mark.parametrize(
    ("option", "message"),
    [("bogus=1", "NAME one of"), ("max_line=-5", "must be positive"), ("max_line=x", "number")],
)
def test_serve_rejects_bad_limits(
    option: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--limit", option])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.wine(
    reason="Wine 8 cannot send CTRL_BREAK_EVENT to a process group: GenerateConsoleCtrlEvent "
    "fails with WinError 12 without a console and WinError 6 with one (docs/platforms.md)"
)
def test_serve_attack_prints_the_verdict_live(tmp_path: Path) -> None:
    process = _start(tmp_path, "--attack", "pop3-starttls-refused-1")
    state = _wait_for_state(process, tmp_path / "servers.json")
    try:
        port = state["endpoints"]["pop3"]["port"]
        with socket.create_connection((state["host"], port), timeout=10) as raw:
            reader = raw.makefile("rb")
            assert reader.readline().startswith(b"+OK")
            raw.sendall(b"STLS\r\n")
            assert reader.readline() == b"-ERR STLS unavailable\r\n"
            raw.sendall(b"USER alice@example.test\r\nPASS alice-pass\r\n")  # the unsafe way
            reader.readline()
            reader.readline()
        time.sleep(1.0)  # the watcher polls every 0.2 s; this only lets it print
    finally:
        code, out = _stop(process)
    assert code == 0
    text = out.decode()
    assert "playing pop3-starttls-refused-1" in text
    assert "verdict so far: vulnerable: a secret or mail data was exposed" in text
    assert "C: PASS <redacted>   (credentials sent in clear text)" in text
    assert "PASS alice-pass" not in text  # the evidence is redacted


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--attack", "pop3-nope"], "unknown case 'pop3-nope'"),
        (["--attack", "pop3-control", "--quirk", "repeated-bye"], "--attack sets the rules"),
    ],
)
def test_serve_attack_mistakes_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", *PORT_ZERO, *args]) == 2
    assert message in capsys.readouterr().err


def test_serve_rejects_a_token_for_an_unknown_account(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", *PORT_ZERO, "--token", "nobody@example.test:tok:60"]) == 2
    assert "--token" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["serve", *PORT_ZERO, "--token", "alice@example.test:tok:soon"])
    assert exited.value.code == 2
    assert "SECONDS must be a number" in capsys.readouterr().err
