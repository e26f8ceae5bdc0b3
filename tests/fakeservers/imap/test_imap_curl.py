"""curl against the fake IMAP server over imaps://, verifying the test CA."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from fakeservers.controller import FakeMailServers
from fakeservers.pki import TestPKI

pytestmark = [
    pytest.mark.curl,
    pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed"),
]

MESSAGE = b"From: bob@example.test\r\nSubject: via curl\r\n\r\nexact\r\nbytes\r\n"


def _curl(servers: FakeMailServers, path: str, *extra: str) -> subprocess.CompletedProcess[bytes]:
    url = f"imaps://127.0.0.1:{servers.endpoints['imaps'].port}/{path}"
    command = ["curl", "--silent", "--show-error", "--max-time", "20"]
    command += ["--cacert", str(servers.ca_file), "-u", "alice@example.test:alice-pass"]
    return subprocess.run([*command, *extra, url], capture_output=True, timeout=30, check=False)


def test_curl_lists_mailboxes(imap_server: FakeMailServers) -> None:
    result = _curl(imap_server, "")
    assert result.returncode == 0, result.stderr
    assert b'* LIST (\\HasNoChildren \\Sent) "/" "Sent"' in result.stdout


def test_curl_fetches_a_message_byte_exact(imap_server: FakeMailServers) -> None:
    imap_server.store.deliver("alice@example.test", MESSAGE)
    result = _curl(imap_server, "INBOX/;UID=1")
    assert result.returncode == 0, result.stderr
    assert result.stdout == MESSAGE


def test_curl_with_a_wrong_password_fails(imap_server: FakeMailServers) -> None:
    result = _curl(imap_server, "INBOX/;UID=1", "-u", "alice@example.test:wrong")
    assert result.returncode == 67  # CURLE_LOGIN_DENIED


def test_curl_with_another_ca_refuses_the_certificate(
    imap_server: FakeMailServers, tmp_path: Path
) -> None:
    other_ca = TestPKI.create().write_ca(tmp_path / "other-ca.pem")
    url = f"imaps://127.0.0.1:{imap_server.endpoints['imaps'].port}/"
    result = subprocess.run(
        ["curl", "--silent", "--max-time", "20", "--cacert", str(other_ca), url],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 60  # CURLE_PEER_FAILED_VERIFICATION
