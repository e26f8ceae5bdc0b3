"""What a running scenario's steps share: the target, the variables, the open sessions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, TypeVar

from refclient import errors
from refclient.credentials import Credentials
from refclient.scenario.targets import Target
from refclient.session.base import Session
from refclient.session.options import ClientOptions
from refclient.urls import ServerURL

S = TypeVar("S", bound=Session)


def error_kind(exc: errors.ClientError) -> str:
    """The kebab-case kind of a client error, as ``error:`` modifiers name it."""
    name = type(exc).__name__  # TLSFailed -> tls-failed, ConnectFailed -> connect-failed
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", name).lower()


class StepFailed(Exception):
    """A step's own check failed (an expectation, a missing session)."""


@dataclass
class StepContext:
    """State of one scenario run against one target."""

    target: Target
    options: ClientOptions
    variables: dict[str, Any] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    #: Every session opened, in order, even those already closed (transcripts, findings).
    opened: list[Session] = field(default_factory=list)

    def url(self, endpoint: str) -> ServerURL:
        """The URL of one of the target's endpoints."""
        if endpoint not in self.target.urls:
            raise StepFailed(f"target {self.target.name} has no {endpoint} endpoint")
        return ServerURL.parse(self.target.urls[endpoint])

    def open(self, name: str, session: S) -> S:
        """Register a new session under ``name`` (closing is the runner's job)."""
        for secret in self.target.secrets:
            session.add_secret(secret)
        self.sessions[name] = session
        self.opened.append(session)
        return session

    def session(self, name: str, kind: type[S]) -> S:
        """The open session called ``name``."""
        session = self.sessions.get(name)
        if not isinstance(session, kind):
            raise StepFailed(f"no open {kind.__name__} called {name!r}: connect first")
        return session

    def credentials(self, args: dict[str, Any]) -> Credentials:
        """The credentials a login step asks for (account index, password override, token)."""
        index = int(args.get("account", 0))
        if index >= len(self.target.accounts):
            raise StepFailed(f"target {self.target.name} has no account {index}")
        account = self.target.accounts[index]
        if args.get("token"):
            return Credentials(user=account.user, oauth2_token=account.token)
        password = args.get("password") or account.password
        return Credentials(user=account.user, password=password)
