"""``mailcompat serve``: keep the fake servers up for any mail client.

Starts the six fake endpoints over one store, writes ``DIR/servers.json``
once every listener is ready (DESIGN.md gives its shape), prints the same as a
table a person can copy into Thunderbird or mutt, and runs until Ctrl-C,
SIGTERM, or (on Windows) CTRL_BREAK. On a clean stop it closes every session
and removes ``servers.json`` so that no one reads the ports of a dead server.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from fakeservers.audit.cases import AttackCase, case_by_id
from fakeservers.audit.journal import Journal
from fakeservers.audit.verdict import judge
from fakeservers.config import Limits
from fakeservers.controller import DEFAULT_ACCOUNTS, ENDPOINTS, AccountSpec, FakeMailServers
from fakeservers.profiles.catalogue import ProfileError, server_config
from fakeservers.rules import RuleError, load_rules_file, ruleset_from_data
from fakeservers.store import StoreError
from fakeservers.tls_variants import (
    TLSVariantUnavailable,
    UnknownTLSVariant,
    tls_variant,
    variant_listing,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def register(subparsers: Any) -> None:
    """Add ``serve`` to the command line."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="run the fake IMAP, POP3 and SMTP servers",
        description="Run the fake IMAP, POP3 and SMTP submission servers over one mail store "
        "until interrupted. Port 0 picks a free port.",
    )
    parser.add_argument(
        "--profile",
        default="default",
        help="emulated server or provider (default: default; `mailcompat profiles` lists them)",
    )
    parser.add_argument(
        "--quirk",
        action="append",
        default=[],
        metavar="NAME",
        help="turn on a named quirk besides the profile's (repeatable; "
        "`mailcompat profiles quirks` lists them)",
    )
    parser.add_argument(
        "--attack",
        metavar="CASE",
        help="play one malicious-server case of audit-client (see `mailcompat audit-client "
        "--list`) and print the verdict live as a client connects",
    )
    parser.add_argument(
        "--rules",
        type=Path,
        metavar="FILE",
        help="fault rules to apply (YAML, docs/rules.md); hit counts are printed at exit",
    )
    parser.add_argument(
        "--tls",
        default="valid",
        metavar="VARIANT",
        help="certificate or protocol fault every TLS endpoint presents (default: valid; "
        "`--tls list` lists them; docs/tls-variants.md)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    for spec in ENDPOINTS:
        parser.add_argument(
            f"--{spec.name}-port",
            dest=f"{spec.name}_port",
            type=_port,
            default=spec.default_port,
            metavar="N",
            help=f"{spec.protocol.upper()} {spec.security} port (default {spec.default_port})",
        )
    parser.add_argument(
        "--account",
        action="append",
        type=_account,
        metavar="USER:PASSWORD",
        help="create this account (repeatable; default alice@example.test and bob@example.test)",
    )
    parser.add_argument(
        "--token",
        action="append",
        default=[],
        type=_token,
        metavar="USER:TOKEN[:SECONDS]",
        help="accept this OAuth2 bearer token for USER (XOAUTH2, OAUTHBEARER), "
        "for SECONDS from start if given (repeatable)",
    )
    parser.add_argument(
        "--limit",
        action="append",
        type=_limit,
        default=[],
        metavar="NAME=VALUE",
        help="override a server limit, e.g. max_line=8192 or idle_timeout=30 "
        "(repeatable; docs/limits.md lists them)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="write servers.json and ca.pem here (default: a temporary directory)",
    )
    parser.set_defaults(handler=run)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {port}")
    return port


def _account(text: str) -> AccountSpec:
    try:
        return AccountSpec.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _token(text: str) -> tuple[str, str, float | None]:
    user, _, rest = text.partition(":")
    token, _, seconds = rest.partition(":")
    if not user or not token:
        raise argparse.ArgumentTypeError(f"expected USER:TOKEN[:SECONDS], got {text!r}")
    try:
        lifetime = float(seconds) if seconds else None
    except ValueError:
        raise argparse.ArgumentTypeError(f"SECONDS must be a number, got {seconds!r}") from None
    return user, token, lifetime


def _limit(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    fields = {f.name: f.type for f in dataclasses.fields(Limits)}
    if not sep or name not in fields:
        raise argparse.ArgumentTypeError(
            f"expected NAME=VALUE with NAME one of {', '.join(sorted(fields))}, got {text!r}"
        )
    try:
        number = float(value) if "float" in str(fields[name]) else int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name} needs a number, got {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{name} must be positive, got {value!r}")
    return name, number


def run(args: argparse.Namespace) -> int:
    """Run the servers until a stop signal; returns the exit code."""
    if args.tls in ("list", "help"):
        print(variant_listing())
        return EXIT_OK
    try:
        variant = tls_variant(args.tls)
    except UnknownTLSVariant as error:
        print(f"mailcompat serve: {error}", file=sys.stderr)
        return EXIT_USAGE
    attack: AttackCase | None = None
    journal = Journal()
    try:
        ruleset = load_rules_file(args.rules) if args.rules is not None else None
        if args.attack is not None:
            attack = case_by_id(args.attack)
            if ruleset is not None or args.quirk or args.tls != "valid":
                raise RuleError("--attack sets the rules and the TLS variant itself")
            variant = tls_variant(attack.tls)
            ruleset = ruleset_from_data([dict(rule) for rule in attack.rules])
            ruleset.journal = journal
        config = server_config(
            args.profile, limits=dict(args.limit), quirks=args.quirk, rules=ruleset
        )
    except (ProfileError, RuleError, KeyError) as error:
        print(f"mailcompat serve: {str(error).strip(chr(34) + chr(39))}", file=sys.stderr)
        return EXIT_USAGE
    servers = FakeMailServers(
        host=args.host,
        ports={spec.name: getattr(args, f"{spec.name}_port") for spec in ENDPOINTS},
        accounts=tuple(args.account or DEFAULT_ACCOUNTS),
        config=config,
        state_dir=args.state_dir,
        tls=variant,
    )
    try:
        for user, token, lifetime in args.token:
            servers.store.add_token(user, token, expires_in=lifetime)
    except StoreError as error:
        print(f"mailcompat serve: --token: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        servers.start()
    except OSError as exc:
        print(f"mailcompat serve: cannot start the servers: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except TLSVariantUnavailable as exc:
        print(f"mailcompat serve: {exc}", file=sys.stderr)
        return EXIT_FAILED
    stop = threading.Event()
    restore = _install_stop_handlers(stop)
    try:
        print(render_table(servers.describe()), flush=True)
        watch = _live_verdicts(attack, journal, servers) if attack is not None else None
        # Short waits keep Ctrl-C responsive on Windows, where a blocked wait
        # is not interrupted by the console's control handler.
        while not stop.wait(0.2):
            if watch is not None:
                watch()
    except KeyboardInterrupt:
        pass
    finally:
        restore()
        hits = servers.rule_hits()
        servers.stop()
        if args.state_dir is not None:
            (args.state_dir / "servers.json").unlink(missing_ok=True)
    if hits:
        counted = ", ".join(f"{name}: {count}" for name, count in hits.items())
        print(f"mailcompat serve: rule hits: {counted}", flush=True)
    print("mailcompat serve: stopped", flush=True)
    return EXIT_OK


def _live_verdicts(
    case: AttackCase, journal: Journal, servers: FakeMailServers
) -> Callable[[], None]:
    """A function that prints the case's verdict whenever what clients did changes."""
    print(f"mailcompat serve: playing {case.id}: {case.misbehaviour}", flush=True)
    print(f"  a correct client will {case.correct}", flush=True)
    print(f"  point the client at the {case.endpoint} endpoint", flush=True)
    secrets = [account.password for account in servers.accounts]
    users = [account.user for account in servers.accounts]
    counted, shown = 0, ""

    def watch() -> None:
        nonlocal counted, shown
        entries = journal.entries()
        if len(entries) == counted:
            return
        counted = len(entries)
        judgement = judge(case, entries, secrets=secrets, users=users)
        verdict = f"{judgement.verdict.value}: {judgement.reason}"
        if verdict != shown:
            shown = verdict
            print(f"verdict so far: {verdict}", flush=True)
            for line in judgement.evidence:
                print(f"    {line}", flush=True)

    return watch


def _install_stop_handlers(stop: threading.Event) -> Callable[[], None]:
    """Make SIGTERM (and CTRL_BREAK on Windows) set ``stop``; returns a restore function."""

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    names = ["SIGTERM", "SIGBREAK"]  # SIGBREAK exists only on Windows
    previous: dict[int, Any] = {}
    for name in names:
        signum = getattr(signal, name, None)
        if signum is not None:
            previous[signum] = signal.signal(signum, handle)

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    return restore


def render_table(state: dict[str, Any]) -> str:
    """The human printout of ``servers.json``: endpoints, accounts, CA."""
    host = state["host"]
    lines = [f"mailcompat fake servers on {host} (profile {state['profile']})", ""]
    lines.append(f"  {'endpoint':<12} {'port':>5}  security")
    for name, endpoint in state["endpoints"].items():
        lines.append(f"  {name:<12} {endpoint['port']:>5}  {endpoint['security']}")
    lines.append("")
    lines.append(f"  {'account':<28} password")
    for account in state["accounts"]:
        lines.append(f"  {account['user']:<28} {account['password']}")
    lines.append("")
    lines.append(f"  CA certificate: {state['ca_cert']}")
    lines.append("  (trust it in your client, or pass it as --ca-file)")
    tls = state.get("tls")
    if tls is not None and tls["variant"] != "valid":
        lines.append(f"  TLS variant: {tls['variant']}: {tls['summary']}")
        lines.append(
            f"  verify as {tls['verify_as']}; a verifying client concludes: {tls['expect']}"
        )
        if tls.get("client_cert"):
            lines.append(f"  client certificate and key: {tls['client_cert']}")
    lines.append("")
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)
