"""The bundled library against every quirk: findings or reasons, never a crash.

A quirk surfaces as a finding or, where it breaks a rule a scenario checks,
as that scenario's failure with a reason, never as an exception out of the
runner.
"""

from __future__ import annotations

import pytest

from fakeservers.profiles.catalogue import load_quirks, server_config
from refclient.scenario.runner import FAILED
from tests.cli.library_runs import library, run_library

#: Quirks that make bundled scenarios fail on purpose, and which scenarios: the
#: scenario checks exactly the rule the quirk breaks.
BREAKS = {
    # A non-protocol line before the greeting: the reference client stops with a
    # clear protocol error naming the line rather than guess (docs/profiles.md).
    "bare-line": None,
    # RFC 3501: UIDVALIDITY is an nz-number; the scenarios compare it and COPYUID's.
    "uidvalidity-zero": {"imap-select-examine", "imap-ext-move", "imap-ext-qresync-select"},
    "basic-auth-disabled": {"smtp-login-plain", "smtp-login-login"},
    # RFC 5161 section 3.1: ENABLED names what was enabled; the scenarios check it.
    "enable-without-enabled": {
        "imap-ext-enable", "imap-ext-imap4rev2", "imap-ext-qresync-select", "imap-ext-utf8-accept",
    },
    # Gmail expunges a \Deleted message at once: no VANISHED is left to report.
    "gmail-semantics": {"imap-ext-qresync-vanished-updates"},
    "modseq-minus-one": {"imap-ext-condstore"},  # RFC 7162: a mod-sequence is positive
    # The scenarios that log in twice within five minutes are refused the second time.
    "pop3-login-delay": {"pop3-dele-rset-keeps", "pop3-top-uidl"},
}  # fmt: skip


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
