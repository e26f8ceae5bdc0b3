"""Running the bundled library in-process against fake servers of any configuration."""

from __future__ import annotations

import asyncio

from fakeservers.config import ServerConfig
from refclient.cli.run import bundled_scenarios
from refclient.scenario.loader import load_paths
from refclient.scenario.model import Scenario
from refclient.scenario.runner import Result, run_all
from refclient.scenario.targets import fake_target_with
from refclient.session.options import ClientOptions


def library(*protocols: str) -> list[Scenario]:
    """The bundled scenarios that use the default servers, without the 10 MB round trip."""
    return [
        scenario
        for scenario in load_paths([bundled_scenarios()])
        if not scenario.server.changes_server
        and "large" not in scenario.tags
        and (not protocols or set(protocols) & set(scenario.tags))
    ]


def run_library(config: ServerConfig, scenarios: list[Scenario]) -> list[Result]:
    """Every scenario against fresh fake servers with ``config``, eight at a time."""
    with fake_target_with(config) as target:
        options = ClientOptions(ca_file=target.ca_file)
        return asyncio.run(run_all(scenarios, [target], options=options, jobs=8))


#: Quirks that make bundled scenarios fail on purpose, and which scenarios: the
#: scenario checks exactly the rule the quirk breaks.
BREAKS = {
    # RFC 3501: UIDVALIDITY is an nz-number; the scenarios compare it and COPYUID's.
    "uidvalidity-zero": {
        "imap-select-examine",
        "imap-ext-move",
        "imap-ext-qresync-select",
        "imap-ext-qresync-sequence-match",
    },
    "basic-auth-disabled": {"smtp-login-plain", "smtp-login-login"},
    # RFC 5161 section 3.2: ENABLED names what was enabled. The client assumes the
    # advertised extensions it asked for and reports the omission, which one scenario checks.
    "enable-without-enabled": {"imap-ext-enable"},
    # Gmail expunges a \Deleted message at once: no VANISHED is left to report.
    "gmail-semantics": {"imap-ext-qresync-vanished-updates"},
    "modseq-minus-one": {"imap-ext-condstore"},  # RFC 7162: a mod-sequence is positive
    # The scenarios that log in twice within five minutes are refused the second time.
    "pop3-login-delay": {"pop3-dele-rset-keeps", "pop3-top-uidl"},
}  # fmt: skip
