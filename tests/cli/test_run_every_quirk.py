"""The bundled library against every quirk: findings or reasons, never a crash.

A quirk surfaces as a finding or, where it breaks a rule a scenario checks,
as that scenario's failure with a reason, never as an exception out of the
runner.
"""

from __future__ import annotations

import pytest

from fakeservers.profiles.catalogue import load_quirks, server_config
from refclient.scenario.runner import FAILED
from tests.cli.library_runs import BREAKS, library, run_library


@pytest.mark.parametrize("quirk", sorted(load_quirks()))
def test_every_quirk_is_met_with_findings_or_reasons_never_a_crash(quirk: str) -> None:
    protocols = {
        protocol
        for rule in load_quirks()[quirk].rules
        for protocol in (rule.match.protocols or {"imap", "pop3", "smtp"})
    } or {"imap", "pop3", "smtp"}
    results = run_library(server_config("default", quirks=[quirk]), library(*protocols))
    failed = {result.scenario.id for result in results if result.status == FAILED}
    assert all(result.reason for result in results if result.status == FAILED)
    expected = BREAKS.get(quirk, set())
    if expected is None:
        assert failed, "the quirk changed nothing"
    else:
        reasons = [(r.scenario.id, r.reason) for r in results if r.status == FAILED]
        assert failed == expected, reasons
