"""curl, an independent POP3 client, against the fake POP3 server (TLS verified)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from fakeservers.controller import FakeMailServers

pytestmark = [
    pytest.mark.curl,
    pytest.mark.skipif(shutil.which("curl") is None, reason="the curl command is not installed"),
]

ALICE = "alice@example.test"
MESSAGE = b"Subject: curl\r\n\r\n.leading dot\r\n8-bit \xe9\r\n"
LOGIN_DENIED = 67  # curl's exit code for CURLE_LOGIN_DENIED
# Windows' curl (Schannel) checks revocation by default, which a test CA cannot
# answer; other TLS backends accept and ignore the option.
CURL = ("curl", "--silent", "--show-error", "--ssl-no-revoke")


def curl(servers: FakeMailServers, url: str, *options: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*CURL, "--cacert", str(servers.ca_file), *options, url],
        capture_output=True,
        timeout=30,
        check=False,
    )


@pytest.fixture
def servers(pop3_server: FakeMailServers) -> FakeMailServers:
    pop3_server.store.deliver(ALICE, MESSAGE)
    pop3_server.store.account(ALICE).tokens.add("good-token")
    return pop3_server


def pop3s_url(servers: FakeMailServers, path: str) -> str:
    return f"pop3s://{servers.host}:{servers.endpoints['pop3s'].port}/{path}"


@pytest.mark.parametrize(
    "login_options", ["AUTH=*", "AUTH=+APOP", "AUTH=PLAIN", "AUTH=LOGIN", "AUTH=CRAM-MD5"]
)
def test_pop3s_retr_with_each_login_method(servers: FakeMailServers, login_options: str) -> None:
    fetched = curl(
        servers,
        pop3s_url(servers, "1"),
        "--login-options",
        login_options,
        "--user",
        f"{ALICE}:alice-pass",
    )
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout == MESSAGE


@pytest.mark.parametrize("login_options", ["AUTH=+APOP", "AUTH=PLAIN", "AUTH=CRAM-MD5"])
def test_pop3s_wrong_password_is_denied(servers: FakeMailServers, login_options: str) -> None:
    denied = curl(
        servers, pop3s_url(servers, "1"), "--login-options", login_options, "--user", f"{ALICE}:x"
    )
    assert denied.returncode == LOGIN_DENIED and denied.stdout == b""


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
@pytest.mark.parametrize(("token", "returncode"), [("good-token", 0), ("bad-token", LOGIN_DENIED)])
def test_pop3s_oauth2(
    servers: FakeMailServers, mechanism: str, token: str, returncode: int
) -> None:
    result = curl(
        servers,
        pop3s_url(servers, "1"),
        "--login-options",
        f"AUTH={mechanism}",
        "--oauth2-bearer",
        token,
        "--user",
        f"{ALICE}:",
    )
    assert result.returncode == returncode, result.stderr
    assert result.stdout == (MESSAGE if returncode == 0 else b"")


def test_pop3_with_stls_required_lists_messages(servers: FakeMailServers) -> None:
    url = f"pop3://{servers.host}:{servers.endpoints['pop3'].port}/"
    listed = curl(servers, url, "--ssl-reqd", "--user", f"{ALICE}:alice-pass")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == f"1 {len(MESSAGE)}\r\n".encode()


def test_pop3s_rejects_a_client_not_trusting_the_ca(servers: FakeMailServers) -> None:
    untrusted = subprocess.run(
        [*CURL, "--user", f"{ALICE}:alice-pass", pop3s_url(servers, "1")],
        capture_output=True,
        timeout=30,
        check=False,
    )
    # 60 is CURLE_PEER_FAILED_VERIFICATION; some TLS backends report 35 (handshake failed).
    assert untrusted.returncode in (35, 60), untrusted.stderr
    assert untrusted.stdout == b""
