"""Run scenarios against targets and collect one :class:`Result` per pair.

Pairs run concurrently (``jobs`` at a time). A scenario whose ``requires`` a
target cannot meet is *skipped* with the reason, never failed. Every step is
run with variables substituted; a failing step (an unexpected error, an
unmet expectation, a missing expected error) fails the scenario; ``cleanup``
steps always run; every session left open is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import platform
import re
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fakeservers.tls_variants import TLSVariantUnavailable
from refclient import errors
from refclient.findings import Severity
from refclient.protocol.errors import LocalProtocolError
from refclient.scenario.context import StepContext, StepFailed, error_kind
from refclient.scenario.matchers import MATCHERS
from refclient.scenario.model import Scenario, Step
from refclient.scenario.steps import STEPS, StepUnavailable, resolve
from refclient.scenario.targets import Target
from refclient.scenario.variables import VariableError, follow, lookup, parse_path, substitute
from refclient.session.options import ClientOptions

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
#: Seconds each cleanup step may take; after Ctrl-C, less: the user is waiting, and a
#: session cut mid-command (in IDLE, say) may never answer another one.
CLEANUP_SECONDS, INTERRUPTED_CLEANUP_SECONDS = 30.0, 5.0
#: A scenario stopped by Ctrl-C: it neither passed nor failed, and its partial record is kept.
INTERRUPTED = "interrupted"


@dataclass
class Result:
    """The outcome of one scenario against one target."""

    scenario: Scenario
    target: str
    status: str = PASSED
    reason: str = ""
    seconds: float = 0.0
    steps: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, str]] = field(default_factory=list)
    tls: list[dict[str, Any]] = field(default_factory=list)
    transcript: str = ""
    #: How many times each fault rule of the scenario's own fake servers fired.
    rule_hits: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (bytes in step results are not included)."""
        return {
            "id": self.scenario.id,
            "title": self.scenario.title,
            "tags": list(self.scenario.tags),
            "rfc": list(self.scenario.rfc),
            "file": str(self.scenario.location),
            "target": self.target,
            "status": self.status,
            "reason": self.reason,
            "seconds": round(self.seconds, 4),
            "steps": self.steps,
            "findings": self.findings,
            "tls": self.tls,
            "rule_hits": self.rule_hits,
        }


class ScenarioInterrupted(asyncio.CancelledError):
    """The run was cancelled (Ctrl-C) while a scenario ran; carries its partial :class:`Result`.

    A cancellation still (a subclass of CancelledError), so it stops everything
    above it as cancellation should; :func:`run_all` reports the partial result
    on its way up, so an interrupted run can write what the scenario had seen.
    """

    def __init__(self, result: Result) -> None:
        super().__init__(result.reason)
        self.result = result


def environment() -> dict[str, str]:
    """Where the run happened (for reports and the merged matrix)."""
    return {
        "platform": platform.system().lower(),
        "platform_release": platform.release(),
        "python": sys.version.split()[0],
    }


def _skip_reason(scenario: Scenario, target: Target) -> str | None:
    requires = scenario.requires
    if requires.targets and target.kind not in requires.targets:
        return f"needs a target of kind {', '.join(requires.targets)}"
    if scenario.server.changes_server and target.respawn is None:
        return "sets up the fake servers (profile, quirks or rules): fake targets only"
    missing = [e for e in requires.endpoints if e not in target.urls]
    if missing:
        return f"target {target.name} has no {', '.join(missing)} endpoint"
    if requires.accounts > len(target.accounts) and not (
        requires.fresh_accounts and target.provision is not None
    ):
        extra = f" (set {target.missing_accounts})" if target.missing_accounts else ""
        return f"needs {requires.accounts} account(s), target has {len(target.accounts)}{extra}"
    if requires.fresh_accounts and target.provision is None:
        return "needs fresh accounts, which only the fake target provides"
    for step in (*scenario.steps, *scenario.cleanup):
        try:
            resolve(STEPS[step.action])
        except StepUnavailable as exc:
            return str(exc)
    return None


def _check(step: Step, result: dict[str, Any], context: StepContext) -> None:
    for expectation in step.expect:
        try:
            if expectation.path.startswith("$"):
                value = lookup(context.variables, expectation.path[1:])
            else:
                root, segments = parse_path(expectation.path)
                value = follow(result, [root, *segments], path=expectation.path)
        except VariableError as exc:
            raise StepFailed(f"{expectation.location}: {exc}") from None
        for matcher in expectation.matchers:
            operand = substitute(matcher.operand, context.variables)
            problem = MATCHERS[matcher.op](value, operand)
            if problem is not None:
                raise StepFailed(f"{expectation.location}: {expectation.path} {problem}")
    for name, path in step.capture.items():
        root, segments = parse_path(path)
        context.variables[name] = follow(result, [root, *segments], path=path)


async def _run_step(
    step: Step, context: StepContext, *, scenario: Scenario | None = None
) -> dict[str, Any]:
    spec = STEPS[step.action]
    args = {name: arg.default for name, arg in spec.args.items() if arg.default is not None}
    try:
        args.update(substitute(dict(step.args), context.variables))
    except VariableError as exc:
        raise StepFailed(f"{step.location}: {exc}") from None
    action = resolve(spec)
    try:
        result = dict(await action(context, args))
    except LocalProtocolError as exc:
        # The scenario used a session in a state that cannot take the step (a
        # cleanup after a failed connect, say): the step fails, the run goes on.
        raise StepFailed(f"{step.location}: {step.action} cannot run now: {exc}") from None
    except errors.ClientError as exc:
        expected = step.error
        kind = error_kind(exc)
        if expected is None:
            raise
        if expected.kind not in ("any", kind):
            raise StepFailed(
                f"{step.location}: expected a {expected.kind} error, got {kind}: {exc.message}"
            ) from None
        if expected.message and expected.message.lower() not in exc.message.lower():
            raise StepFailed(
                f"{step.location}: error message {exc.message!r} lacks {expected.message!r}"
            ) from None
        result = {"error": kind, "message": exc.message}
    else:
        if step.error is not None:
            raise StepFailed(f"{step.location}: expected a {step.error.kind} error, none came")
    if scenario is not None:
        _check_capabilities(scenario, step, result)  # a skip, before any expectation fails
    _check(step, result, context)
    return result


async def run_one(
    scenario: Scenario, target: Target, *, options: ClientOptions, strict: bool
) -> Result:
    """One scenario against one target."""
    result = Result(scenario=scenario, target=target.name)
    reason = _skip_reason(scenario, target)
    if reason is not None:
        result.status, result.reason = SKIPPED, reason
        return result
    if scenario.server.changes_server and target.respawn is not None:
        # Fake servers of the scenario's own: its profile and faults reach no one else.
        servers = target.respawn(scenario.server)
        starting = asyncio.ensure_future(asyncio.to_thread(servers.__enter__))
        try:
            own = await asyncio.shield(starting)
        except TLSVariantUnavailable as error:
            result.status, result.reason = SKIPPED, f"the local OpenSSL cannot serve it: {error}"
            return result
        except asyncio.CancelledError:
            # Ctrl-C while they start: the starting thread cannot be stopped, so let it
            # finish, then stop what it started (no servers left running behind).
            with contextlib.suppress(Exception):
                await starting
                await asyncio.to_thread(servers.__exit__, None, None, None)
            raise
        try:
            result = await _run_prepared(scenario, own, options=options, strict=strict)
        finally:
            await asyncio.to_thread(servers.__exit__, None, None, None)
        if own.rule_hits is not None:
            result.rule_hits = own.rule_hits()
        return result
    return await _run_prepared(scenario, target, options=options, strict=strict)


async def _run_prepared(
    scenario: Scenario, target: Target, *, options: ClientOptions, strict: bool
) -> Result:
    """One scenario against a target that can run it."""
    result = Result(scenario=scenario, target=target.name)
    if scenario.requires.fresh_accounts and target.provision is not None:
        fresh = target.provision(max(1, scenario.requires.accounts))
        target = dataclasses.replace(target, accounts=fresh)
    context = StepContext(target=target, options=options)
    context.variables.update(
        run_token=secrets.token_hex(6),
        account=[{"user": a.user, "address": a.address} for a in target.accounts],
        scenario=scenario.id,
        target=target.name,
    )
    started = time.perf_counter()
    interrupted = False
    try:
        await asyncio.wait_for(_run_steps(scenario, context, result), scenario.timeout)
    except TimeoutError:
        result.status, result.reason = FAILED, f"timed out after {scenario.timeout:g} s"
    except asyncio.CancelledError:
        # The whole run is being cancelled (Ctrl-C; asyncio.run cancels the main
        # task on SIGINT, on Windows too). Clean up and keep what was seen.
        interrupted = True
        done = len(result.steps)
        where = scenario.steps[done].label if done < len(scenario.steps) else "its last step"
        result.status, result.reason = INTERRUPTED, f"interrupted (Ctrl-C) during {where}"
    finally:
        bound = INTERRUPTED_CLEANUP_SECONDS if interrupted else CLEANUP_SECONDS
        for step in scenario.cleanup:
            try:
                async with asyncio.timeout(bound):
                    await _run_step(step, context)
            except (errors.ClientError, StepFailed, TimeoutError) as exc:
                problem = str(exc) or f"timed out after {bound:g} s"
                result.steps.append({"step": step.label, "cleanup_error": problem})
        await _close_all(context)
        result.seconds = time.perf_counter() - started
    _collect(context, result, strict=strict or scenario.strict)
    if interrupted:
        raise ScenarioInterrupted(result)
    return result


_APOP_TIMESTAMP = re.compile(r"<[^<>@]+@[^<>]+>")


class _Unsupported(Exception):
    """The target lacks a capability the scenario requires: skip, do not fail."""


def _check_capabilities(scenario: Scenario, step: Step, outcome: dict[str, Any]) -> None:
    """After a connect step: every capability ``requires.capabilities`` names must be offered.

    IMAP servers announce most extensions only after login (RFC 3501 section
    6.2.3): in a scenario that logs in, the IMAP ``AUTH=`` capabilities are
    checked after connecting and the others after the login step.
    """
    protocol, _, verb = step.action.partition(".")
    wanted = scenario.requires.capabilities.get(protocol, ())
    after_login = protocol == "imap" and any(s.action == "imap.login" for s in scenario.steps)
    if not wanted or not (verb == "connect" or (verb == "login" and after_login)):
        return
    offered = {str(c).upper() for c in outcome.get("capabilities") or ()}
    offered |= {f"AUTH={m}".upper() for m in outcome.get("auth_mechanisms") or ()}
    if protocol == "pop3" and _APOP_TIMESTAMP.search(str(outcome.get("greeting") or "")):
        offered.add("APOP")  # RFC 1939 section 7: a greeting timestamp offers APOP
    missing = [c for c in wanted if not _offers(offered, c.upper())]
    if after_login:
        missing = [c for c in missing if _is_auth(c.upper()) == (verb == "connect")]
    if missing:
        raise _Unsupported(f"the {protocol} server does not offer {', '.join(missing)}")


def _offers(offered: set[str], wanted: str) -> bool:
    """Whether ``offered`` (upper case) has the capability ``wanted`` (upper case).

    A bare name matches the capability with or without its value:
    ``APPENDLIMIT`` matches ``APPENDLIMIT=35651584`` (RFC 7889 section 5),
    ``AUTH`` any ``AUTH=mechanism``, ``SIZE`` an EHLO ``SIZE 35882577`` (RFC
    1870); a name with a value (``AUTH=PLAIN``, ``APPENDLIMIT=100``) only itself.
    """
    if wanted in offered:
        return True
    if "=" in wanted or " " in wanted:
        return False
    return any(name.startswith((wanted + "=", wanted + " ")) for name in offered)


def _is_auth(wanted: str) -> bool:
    """Whether ``wanted`` is an authentication capability, which IMAP offers before login."""
    return wanted == "AUTH" or wanted.startswith("AUTH=")


async def _run_steps(scenario: Scenario, context: StepContext, result: Result) -> None:
    for step in scenario.steps:
        try:
            await _run_step(step, context, scenario=scenario)
            result.steps.append({"step": step.label, "status": PASSED})
        except _Unsupported as exc:
            result.status, result.reason = SKIPPED, str(exc)
            return
        except (errors.ClientError, StepFailed) as exc:
            result.status, result.reason = FAILED, f"{step.label}: {exc}"
            result.steps.append({"step": step.label, "status": FAILED, "error": str(exc)})
            return


async def _close_all(context: StepContext) -> None:
    for session in list(context.sessions.values()):
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(session.close(), 5)
    context.sessions.clear()


def _collect(context: StepContext, result: Result, *, strict: bool) -> None:
    """Transcripts, TLS facts and findings of every session the scenario opened."""
    result.transcript = "\n".join(session.transcript.render() for session in context.opened)
    for session in context.opened:
        if session.tls is not None:
            result.tls.append({"connection": session.url.label, **session.tls.to_dict()})
        result.findings += [finding.to_dict() for finding in session.findings]
    if strict and result.status == PASSED:
        worst = [f for f in result.findings if f["severity"] == Severity.ERROR.value]
        if worst:
            result.status = FAILED
            result.reason = f"strict mode: finding {worst[0]['id']}: {worst[0]['message']}"


async def run_all(
    scenarios: Sequence[Scenario],
    targets: Sequence[Target],
    *,
    options: ClientOptions,
    jobs: int,
    strict: bool = False,
    progress: Callable[[Result], None] | None = None,
) -> list[Result]:
    """Every scenario against every target, ``jobs`` at a time, in a stable order.

    ``progress`` sees each result as it completes; when the run is cancelled it
    also sees the partial result (status ``interrupted``) of each scenario that
    was running, then the cancellation propagates.
    """
    gate = asyncio.Semaphore(max(1, jobs))

    async def one(scenario: Scenario, target: Target) -> Result:
        async with gate:
            try:
                outcome = await run_one(scenario, target, options=options, strict=strict)
            except ScenarioInterrupted as stop:
                if progress is not None:
                    progress(stop.result)  # the partial record, before the cancellation goes on
                raise
        if progress is not None:
            progress(outcome)
        return outcome

    return list(await asyncio.gather(*(one(s, t) for t in targets for s in scenarios)))
