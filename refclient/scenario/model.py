"""The typed model of a scenario, as the loader builds it from YAML.

Every part keeps the :class:`Location` it came from, so that errors found
while running (an expectation not met, a bad capture) point at the line of
the file, as load errors do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Location:
    """Where something was written: file, 1-based line and column."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, kw_only=True)
class Matcher:
    """One test on a value: ``op`` (``equals``, ``contains``, ``at_least``...) and its operand."""

    op: str
    operand: Any
    location: Location


@dataclass(frozen=True, kw_only=True)
class Expectation:
    """A value (a dotted path into the step's result, or ``$variable...``) and its matchers."""

    path: str
    matchers: tuple[Matcher, ...]
    location: Location


@dataclass(frozen=True, kw_only=True)
class ExpectedError:
    """The step must fail with this error kind (``any``: any), its message matching ``message``."""

    kind: str
    message: str | None = None


@dataclass(frozen=True, kw_only=True)
class Step:
    """One action with its arguments (variables not yet substituted) and what to check."""

    action: str
    args: Mapping[str, Any]
    expect: tuple[Expectation, ...] = ()
    #: Variable name -> dotted path into the step's result.
    capture: Mapping[str, str] = field(default_factory=dict)
    error: ExpectedError | None = None
    location: Location

    @property
    def label(self) -> str:
        """``imap.login (file:12:5)``: how reports name the step."""
        return f"{self.action} ({self.location})"


@dataclass(frozen=True, kw_only=True)
class Requires:
    """What a target must offer; when it cannot, the scenario is skipped, never failed."""

    #: Endpoint names (``imap``, ``imaps``, ``pop3``, ``pop3s``, ``submission``, ``submissions``).
    endpoints: tuple[str, ...] = ()
    #: How many accounts the scenario logs in with.
    accounts: int = 0
    #: Protocol -> capabilities that must be offered (checked when connected).
    capabilities: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Target kinds allowed (``fake``, ``server``); empty means any.
    targets: tuple[str, ...] = ()
    #: The accounts must be fresh and empty (only targets that provision accounts can).
    fresh_accounts: bool = False


@dataclass(frozen=True, kw_only=True)
class ServerSection:
    """For fake targets: the profile, quirks and fault rules the scenario's servers run with.

    A scenario with any of these gets fake servers of its own, started for it
    alone, so that its faults never reach another scenario; it is skipped on
    real servers, whose behaviour a scenario cannot set.
    """

    profile: str | None = None
    quirks: tuple[str, ...] = ()
    #: Rules as written (validated when the file is loaded; docs/rules.md).
    rules: tuple[Mapping[str, Any], ...] = ()
    seed: int | None = None
    #: A malicious-server case of ``mailcompat audit-client`` (``security.verdict`` judges it).
    attack: str | None = None
    #: A TLS variant of the servers (docs/tls-variants.md), e.g. ``expired``.
    tls: str | None = None

    @property
    def changes_server(self) -> bool:
        """Whether the scenario needs fake servers of its own."""
        return bool(
            self.profile
            or self.quirks
            or self.rules
            or self.seed is not None
            or self.attack
            or self.tls
        )


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """One scenario file document."""

    id: str
    title: str
    description: str = ""
    tags: tuple[str, ...] = ()
    #: References such as ``RFC 9051 section 6.2.3``.
    rfc: tuple[str, ...] = ()
    requires: Requires = field(default_factory=Requires)
    server: ServerSection = field(default_factory=ServerSection)
    steps: tuple[Step, ...]
    #: Steps that always run after ``steps``, even when one failed.
    cleanup: tuple[Step, ...] = ()
    #: Seconds the whole scenario may take.
    timeout: float = 60.0
    #: Fail on error-level findings even without ``--strict``.
    strict: bool = False
    location: Location
