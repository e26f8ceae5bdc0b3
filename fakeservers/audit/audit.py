"""Run an external mail client against each malicious-server case and judge it.

For each case: start fake servers misbehaving that way (a fresh port set,
a journal attached), run the client command with its placeholders filled in,
wait for it (bounded by a timeout), then judge from the journal. The
``{protocol}-control`` case runs first: a client that cannot log in to a
well-behaved server gets ``inconclusive`` everywhere, so a client that simply
cannot connect is never reported ``safe``.

Placeholders: ``{host}``, ``{port}`` (the case's endpoint), ``{user}``,
``{password}``, ``{ca_file}`` and ``{url}`` (``imap://``, ``imaps://``,
``pop3s://``... with the host and port, as the case expects the client to
connect). The client's output is kept with secrets redacted.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fakeservers.audit.cases import AttackCase
from fakeservers.audit.journal import Entry, Journal
from fakeservers.audit.verdict import Judgement, Verdict, judge, redact
from fakeservers.controller import ENDPOINTS, AccountSpec, FakeMailServers
from fakeservers.pki import TestPKI
from fakeservers.profiles.catalogue import server_config
from fakeservers.rules import ruleset_from_data
from fakeservers.tls_variants import TLSVariantUnavailable

USER, PASSWORD = "alice@example.test", "alice-audit-pass"

_SCHEMES = {
    "imap": "imap",
    "imaps": "imaps",
    "pop3": "pop3",
    "pop3s": "pop3s",
    "submission": "smtp",
    "submissions": "smtps",
}


@dataclass
class CaseRun:
    """The outcome of one case: the verdict and what the client process did."""

    case: AttackCase
    judgement: Judgement
    client_exit: int | None
    seconds: float
    output: str = ""
    transcript: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """The ``--json`` form of one case (DESIGN: ``cases[]`` of ``audit-client``)."""
        return {
            "id": self.case.id,
            "protocol": self.case.protocol,
            "family": self.case.family,
            "title": self.case.title,
            "misbehaviour": self.case.misbehaviour,
            "correct": self.case.correct,
            "source": self.case.source,
            **self.judgement.to_dict(),
            "client_exit": self.client_exit,
            "seconds": round(self.seconds, 3),
            "output": self.output,
            "transcript": self.transcript,
        }


@contextlib.contextmanager
def malicious_servers(
    case: AttackCase,
    *,
    pki: TestPKI | None = None,
    host: str = "127.0.0.1",
    accounts: Sequence[AccountSpec] = (AccountSpec(USER, PASSWORD),),
) -> Iterator[tuple[FakeMailServers, Journal]]:
    """Fake servers playing ``case``, with a journal of everything clients do.

    For a referral case a decoy server set (IMAP only) runs too, its journal
    included in the main one, and the rules refer to it.
    """
    with contextlib.ExitStack() as stack:
        rules = [dict(rule) for rule in case.rules]
        journal = Journal()
        if case.referral is not None:
            decoy_journal = Journal(server="decoy")
            decoy = stack.enter_context(_decoy(case, decoy_journal, pki, host, accounts))
            journal.include(decoy_journal)
            port = decoy.endpoints["imaps"].port
            path = "INBOX" if case.referral == "select" else ""
            url = f"imaps://{accounts[0].user.replace('@', '%40')}@{host}:{port}/{path}"
            rules = [_with_referral(rule, url) for rule in rules]
        servers = _servers(case, rules, journal, pki, host=host, accounts=accounts)
        yield stack.enter_context(servers), journal


def _with_referral(rule: dict[str, Any], url: str) -> dict[str, Any]:
    """The rule with ``{referral}`` in its replacement text filled in."""
    replace = dict(rule["replace"])
    replace["with"] = replace["with"].replace("{referral}", url)
    return {**rule, "replace": replace}


def _decoy(
    case: AttackCase,
    journal: Journal,
    pki: TestPKI | None,
    host: str,
    accounts: Sequence[AccountSpec],
) -> FakeMailServers:
    """The server a referral points to: it only records who comes."""
    ruleset = ruleset_from_data([])
    ruleset.journal = journal
    ports = {spec.name: (0 if spec.name == "imaps" else None) for spec in ENDPOINTS}
    config = server_config("default", rules=ruleset)
    return FakeMailServers(host=host, ports=ports, config=config, accounts=accounts, pki=pki)


def _servers(
    case: AttackCase,
    rules: list[dict[str, Any]],
    journal: Journal,
    pki: TestPKI | None,
    *,
    host: str,
    accounts: Sequence[AccountSpec],
) -> FakeMailServers:
    ruleset = ruleset_from_data(rules)
    ruleset.journal = journal
    config = server_config("default", rules=ruleset)
    ports: dict[str, int | None] = {
        spec.name: (0 if spec.protocol == case.protocol else None) for spec in ENDPOINTS
    }
    return FakeMailServers(
        host=host, ports=ports, config=config, accounts=accounts, pki=pki, tls=case.tls
    )


def fill(template: str, values: dict[str, str]) -> list[str] | str:
    """The client command with its placeholders filled in, ready for ``subprocess``.

    On POSIX the template is split as a shell would (``shlex``) and each word
    filled. On Windows a program parses its own command line, so the string is
    kept whole, as ``subprocess`` expects there, with each value quoted the way
    ``CreateProcess`` reads it.
    """
    if os.name == "nt":
        line = template
        for name, value in values.items():
            line = line.replace("{" + name + "}", subprocess.list2cmdline([value]))
        return line
    words = []
    for word in shlex.split(template):
        for name, value in values.items():
            word = word.replace("{" + name + "}", value)  # noqa: PLW2901
        words.append(word)
    return words


def run_case(
    case: AttackCase,
    client_cmd: str,
    *,
    timeout: float,
    pki: TestPKI | None = None,
    settle: float = 0.1,
) -> CaseRun:
    """Run the client against ``case`` and judge it.

    A case whose TLS variant the local OpenSSL cannot serve is ``inconclusive``
    with that reason, and the client is not run.
    """
    try:
        return _run_case(case, client_cmd, timeout=timeout, pki=pki, settle=settle)
    except TLSVariantUnavailable as error:
        reason = f"not run: the local OpenSSL cannot serve this case ({error})"
        return CaseRun(case, Judgement(Verdict.INCONCLUSIVE, reason), None, 0.0)


def _run_case(
    case: AttackCase, client_cmd: str, *, timeout: float, pki: TestPKI | None, settle: float
) -> CaseRun:
    with malicious_servers(case, pki=pki) as (servers, journal):
        endpoint = servers.endpoints[case.endpoint]
        values = {
            "host": servers.host,
            "port": str(endpoint.port),
            "user": USER,
            "password": PASSWORD,
            "ca_file": str(servers.ca_file),
            "url": f"{_SCHEMES[case.endpoint]}://{servers.host}:{endpoint.port}",
        }
        started = time.monotonic()
        exit_code: int | None
        try:
            done = subprocess.run(
                fill(client_cmd, values),
                capture_output=True,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
            exit_code, output, timed_out = done.returncode, done.stdout + done.stderr, False
        except subprocess.TimeoutExpired as expired:
            exit_code, timed_out = None, True
            output = (expired.stdout or b"") + (expired.stderr or b"")
        except OSError as error:
            exit_code, timed_out, output = None, False, str(error).encode()
        seconds = time.monotonic() - started
        time.sleep(settle)  # let the servers record the last of a session that just closed
        entries = journal.entries()
    judgement = judge(case, entries, secrets=[PASSWORD], users=[USER], timed_out=timed_out)
    transcript = [_transcript_line(entry) for entry in entries]
    return CaseRun(
        case=case,
        judgement=judgement,
        client_exit=exit_code,
        seconds=seconds,
        output=redact(output[-4000:], [PASSWORD]),
        transcript=transcript[-200:],
    )


def _transcript_line(entry: Entry) -> str:
    """``[session] C: line`` with the password redacted; events as ``*: kind``."""
    side = {"command": "C", "response": "S", "greeting": "S"}.get(entry.kind, "*")
    text = redact(entry.data, [PASSWORD]) if entry.data else entry.kind
    return f"[{entry.session}] {side}: {text}"


def run_audit(
    cases: Sequence[AttackCase],
    client_cmd: str,
    *,
    timeout: float,
    progress: Callable[[CaseRun], None] | None = None,
) -> list[CaseRun]:
    """Every case, each protocol's control first.

    A failed control makes every verdict of that protocol inconclusive.
    """
    pki = TestPKI.create()
    runs: list[CaseRun] = []
    failed_controls: set[str] = set()
    ordered = sorted(cases, key=lambda case: (case.protocol, not case.control))
    for case in ordered:
        run = run_case(case, client_cmd, timeout=timeout, pki=pki)
        if case.control and run.judgement.verdict is not Verdict.SAFE:
            failed_controls.add(case.protocol)
        elif case.protocol in failed_controls:
            run.judgement = Judgement(
                Verdict.INCONCLUSIVE,
                f"the client failed the {case.protocol} control case, so no verdict is given "
                f"(it would have been {run.judgement.verdict.value})",
                run.judgement.evidence,
            )
        runs.append(run)
        if progress is not None:
            progress(run)
    return runs


def write_ca(pki: TestPKI, directory: Path) -> Path:
    """The test CA as a PEM file a client can trust."""
    return pki.write_ca(directory / "ca.pem")
