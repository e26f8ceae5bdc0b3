"""Targets: where scenarios run. ``fake`` (embedded fake servers) or servers from a targets file.

A targets file (YAML, docs/scenarios.md) names real servers::

    targets:
      - name: office-dovecot
        ca_file: ca.pem                 # optional extra trust anchor
        endpoints:
          imaps: imaps://mail.example.com
          submission: smtp://mail.example.com:587
        accounts:
          - user: alice@example.com
            address: alice@example.com
            password_env: DOVECOT_ALICE_PASSWORD     # or password_command: "pass show alice"
            token_env: ALICE_OAUTH2_TOKEN            # optional

Secrets are read from the environment or a command when the target is
opened, never written in the file.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shlex
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fakeservers.audit.audit import malicious_servers
from fakeservers.audit.cases import case_by_id
from fakeservers.audit.verdict import judge
from fakeservers.config import ServerConfig
from fakeservers.controller import DEFAULT_ACCOUNTS, FakeMailServers
from fakeservers.pki import TestPKI
from fakeservers.profiles.catalogue import server_config
from fakeservers.rules import ruleset_from_data
from refclient.scenario.model import ServerSection

ENDPOINT_NAMES = ("imap", "imaps", "pop3", "pop3s", "submission", "submissions")


class TargetError(Exception):
    """A targets file or target name that cannot be used (exit code 2)."""


@dataclass(frozen=True)
class TargetAccount:
    """An account scenarios may log in with."""

    user: str
    address: str
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Target:
    """A set of endpoints with accounts."""

    name: str
    kind: str  # "fake" or "server"
    urls: dict[str, str]
    ca_file: Path | None
    accounts: tuple[TargetAccount, ...]
    #: Why accounts are missing, for skip reasons.
    missing_accounts: str = ""
    #: Creates fresh, empty accounts (fake targets only), for ``requires.fresh_accounts``.
    provision: Callable[[int], tuple[TargetAccount, ...]] | None = field(
        default=None, repr=False, compare=False
    )
    #: Starts fake servers of a scenario's own (fake targets only), for its ``server`` section.
    respawn: Callable[[ServerSection], AbstractContextManager[Target]] | None = field(
        default=None, repr=False, compare=False
    )
    #: How many times each fault rule fired (fake targets only).
    rule_hits: Callable[[], dict[str, int]] | None = field(default=None, repr=False, compare=False)
    #: The server-side verdict of a malicious-server case (``server.attack`` only).
    audit: Callable[[], dict[str, Any]] | None = field(default=None, repr=False, compare=False)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every password and token, for redaction and report sweeps."""
        return tuple(s for a in self.accounts for s in (a.password, a.token) if s)


@contextmanager
def fake_target(profile: str = "default") -> Iterator[Target]:
    """The embedded fake servers emulating ``profile``, started for the run.

    The target is named ``fake`` (``fake:PROFILE`` for another profile); each
    account also gets an OAuth2 token. Scenarios with a ``server`` section get
    servers of their own through :attr:`Target.respawn`.
    """
    name = "fake" if profile == "default" else f"fake:{profile}"
    with _fake_servers(name, server_config(profile)) as target:
        yield target


def fake_target_with(config: ServerConfig, *, name: str = "fake") -> AbstractContextManager[Target]:
    """Embedded fake servers with any configuration (a profile with extra quirks, rules)."""
    return _fake_servers(name, config)


@contextmanager
def _fake_servers(
    name: str, config: ServerConfig, pki: TestPKI | None = None, tls: str = "valid"
) -> Iterator[Target]:
    with FakeMailServers(config=config, pki=pki, tls=tls) as servers:
        yield _as_target(name, servers)


@contextmanager
def _attack_servers(name: str, case_id: str, pki: TestPKI) -> Iterator[Target]:
    """Fake servers playing a malicious-server case, judged by :attr:`Target.audit`."""
    case = case_by_id(case_id)
    with malicious_servers(case, pki=pki, accounts=DEFAULT_ACCOUNTS) as (servers, journal):
        target = _as_target(name, servers)
        users = [account.user for account in target.accounts]

        def audit() -> dict[str, Any]:
            entries = journal.entries()
            return judge(case, entries, secrets=target.secrets, users=users).to_dict()

        yield dataclasses.replace(target, audit=audit)


def _as_target(name: str, servers: FakeMailServers) -> Target:
    """A running server set as a target; each account also gets an OAuth2 token."""
    accounts = []
    for spec in servers.accounts:
        token = f"token-{spec.user}"
        servers.store.account(spec.user).tokens.add(token)
        accounts.append(TargetAccount(spec.user, spec.address or spec.user, spec.password, token))

    def provision(count: int) -> tuple[TargetAccount, ...]:
        fresh = []
        for _ in range(count):
            user = f"fresh-{secrets.token_hex(6)}@example.test"
            password, token = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
            servers.store.add_account(user, password).tokens.add(token)
            fresh.append(TargetAccount(user, user, password, token))
        return tuple(fresh)

    def respawn(section: ServerSection) -> AbstractContextManager[Target]:
        # The same test CA, so the run's trust anchor verifies these servers too.
        if section.attack is not None:
            return _attack_servers(name, section.attack, servers.pki)
        profile = section.profile or servers.config.profile.name
        ruleset = ruleset_from_data(list(section.rules), seed=section.seed or 0)
        own = server_config(profile, quirks=section.quirks, rules=ruleset)
        return _fake_servers(name, own, servers.pki, section.tls or "valid")

    return Target(
        name=name,
        kind="fake",
        urls={endpoint: servers.url(endpoint) for endpoint in servers.endpoints},
        ca_file=servers.ca_file,
        accounts=tuple(accounts),
        provision=provision,
        respawn=respawn,
        rule_hits=servers.rule_hits,
    )


def _secret(entry: dict[str, Any], kind: str, where: str) -> str | None:
    variable = entry.get(f"{kind}_env")
    if variable:
        return os.environ.get(str(variable)) or None
    command = entry.get(f"{kind}_command")
    if command:
        try:
            done = subprocess.run(
                # Windows programs parse their own command line: pass it whole there.
                str(command) if os.name == "nt" else shlex.split(str(command)),
                capture_output=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TargetError(f"{where}: {kind}_command failed: {exc}") from None
        return done.stdout.decode("utf-8", "replace").strip() or None
    return None


def load_targets_file(path: Path) -> list[Target]:
    """Every target of a targets file; raises TargetError with the file named."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TargetError(f"{path}: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("targets"), list):
        raise TargetError(f"{path}: expected a mapping with a 'targets' list")
    targets = []
    for index, entry in enumerate(document["targets"]):
        where = f"{path}: targets[{index}]"
        if not isinstance(entry, dict) or "name" not in entry or "endpoints" not in entry:
            raise TargetError(f"{where}: each target needs 'name' and 'endpoints'")
        unknown = set(entry) - {"name", "endpoints", "accounts", "ca_file"}
        if unknown:
            raise TargetError(f"{where}: unknown keys {sorted(unknown)}")
        endpoints = entry["endpoints"]
        if not isinstance(endpoints, dict) or not set(endpoints) <= set(ENDPOINT_NAMES):
            raise TargetError(f"{where}: endpoints must be among {', '.join(ENDPOINT_NAMES)}")
        accounts = []
        missing = []
        for account in entry.get("accounts") or []:
            password = _secret(account, "password", where)
            token = _secret(account, "token", where)
            if password is None and token is None:
                missing.append(str(account.get("password_env") or account.get("user")))
            accounts.append(
                TargetAccount(
                    str(account["user"]),
                    str(account.get("address") or account["user"]),
                    password,
                    token,
                )
            )
        ca_file = entry.get("ca_file")
        targets.append(
            Target(
                name=str(entry["name"]),
                kind="server",
                urls={str(k): str(v) for k, v in endpoints.items()},
                ca_file=(path.parent / ca_file) if ca_file else None,
                accounts=tuple(a for a in accounts if a.password or a.token),
                missing_accounts=", ".join(missing),
            )
        )
    return targets
