"""curl, an independent SMTP client, against the fake submission server (TLS verified)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from fakeservers.controller import FakeMailServers
from fakeservers.smtp import strip_trace_headers

pytestmark = [
    pytest.mark.curl,
    pytest.mark.skipif(shutil.which("curl") is None, reason="the curl command is not installed"),
]

ALICE = "alice@example.test"
BOB = "bob@example.test"
MESSAGE = b"Subject: via curl\r\n\r\n.leading dot\r\n8-bit \xe9\r\n"
LOGIN_DENIED = 67  # curl's exit code for CURLE_LOGIN_DENIED
# Windows' curl (Schannel) checks revocation by default, which a test CA cannot
# answer; other TLS backends accept and ignore the option.
CURL = ("curl", "--silent", "--show-error", "--ssl-no-revoke")


def send(
    servers: FakeMailServers, tmp_path: Path, *options: str, endpoint: str = "submission"
) -> subprocess.CompletedProcess[bytes]:
    message = tmp_path / "message.eml"
    message.write_bytes(MESSAGE)
    scheme = "smtps" if endpoint == "submissions" else "smtp"
    url = f"{scheme}://{servers.host}:{servers.endpoints[endpoint].port}"
    command = [*CURL, "--cacert", str(servers.ca_file)]
    command += ["--mail-from", ALICE, "--mail-rcpt", BOB, "--upload-file", str(message)]
    return subprocess.run([*command, *options, url], capture_output=True, timeout=30, check=False)


def bob_inbox(servers: FakeMailServers) -> list[bytes]:
    return [strip_trace_headers(m.data) for m in servers.store.mailbox(BOB, "INBOX").messages]


@pytest.mark.parametrize("login_options", ["AUTH=PLAIN", "AUTH=LOGIN", "AUTH=CRAM-MD5"])
def test_smtp_starttls_required_each_mechanism(
    smtp_server: FakeMailServers, tmp_path: Path, login_options: str
) -> None:
    sent = send(
        smtp_server,
        tmp_path,
        "--ssl-reqd",
        "--login-options",
        login_options,
        "--user",
        f"{ALICE}:alice-pass",
    )
    assert sent.returncode == 0, sent.stderr
    assert bob_inbox(smtp_server) == [MESSAGE]


def test_smtps_implicit_tls(smtp_server: FakeMailServers, tmp_path: Path) -> None:
    sent = send(smtp_server, tmp_path, "--user", f"{ALICE}:alice-pass", endpoint="submissions")
    assert sent.returncode == 0, sent.stderr
    assert bob_inbox(smtp_server) == [MESSAGE]


def test_smtp_wrong_password_sends_nothing(smtp_server: FakeMailServers, tmp_path: Path) -> None:
    sent = send(smtp_server, tmp_path, "--ssl-reqd", "--user", f"{ALICE}:wrong")
    assert sent.returncode == LOGIN_DENIED
    assert bob_inbox(smtp_server) == []


def test_smtp_without_credentials_is_refused(smtp_server: FakeMailServers, tmp_path: Path) -> None:
    sent = send(smtp_server, tmp_path, "--ssl-reqd")
    assert sent.returncode != 0  # 530 5.7.0 at MAIL FROM
    assert b"530" in sent.stderr
    assert bob_inbox(smtp_server) == []


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
def test_smtp_oauth2(smtp_server: FakeMailServers, tmp_path: Path, mechanism: str) -> None:
    smtp_server.store.account(ALICE).tokens.add("good-token")
    common = ("--ssl-reqd", "--login-options", f"AUTH={mechanism}", "--user", f"{ALICE}:")
    denied = send(smtp_server, tmp_path, *common, "--oauth2-bearer", "bad-token")
    assert denied.returncode == LOGIN_DENIED
    sent = send(smtp_server, tmp_path, *common, "--oauth2-bearer", "good-token")
    assert sent.returncode == 0, sent.stderr
    assert bob_inbox(smtp_server) == [MESSAGE]
