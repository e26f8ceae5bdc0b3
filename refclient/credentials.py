"""Credentials: a login name and a password or an OAuth2 bearer token.

Secrets never show in ``repr`` (it would end up in tracebacks and logs).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class Credentials:
    """What the client may authenticate with."""

    user: str
    password: str | None = field(default=None, repr=False)
    oauth2_token: str | None = field(default=None, repr=False)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret held, for transcript redaction."""
        return tuple(s for s in (self.password, self.oauth2_token) if s)
