"""curl judged by ``audit-client`` over POP3 (one file per protocol, so they run side by side)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakeservers.audit.curl_audit import audit_curl


@pytest.mark.curl
def test_curl_gets_a_verdict_in_every_pop3_case(tmp_path: Path) -> None:
    audit_curl("pop3", tmp_path)
