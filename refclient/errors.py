"""Errors the reference client raises to its users.

Every error names the server, the step that failed and carries the tail of
the connection's transcript (already redacted), because "connection failed"
alone is useless in a CI log. Protocol engines raise their own errors
(:mod:`refclient.protocol.errors`); sessions wrap them in these.
"""

from __future__ import annotations

from collections.abc import Sequence


class ClientError(Exception):
    """A mail operation failed; ``str()`` gives server, step, reason and transcript tail."""

    def __init__(
        self,
        message: str,
        *,
        server: str = "",
        step: str = "",
        tail: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.server = server
        self.step = step
        self.tail = list(tail)

    def __str__(self) -> str:
        where = " ".join(part for part in (self.server, self.step and f"[{self.step}]") if part)
        text = f"{where}: {self.message}" if where else self.message
        if self.tail:
            text += "\n  last transcript lines:\n" + "\n".join(f"    {line}" for line in self.tail)
        return text


class ConnectFailed(ClientError):
    """The TCP connection could not be made."""


class Timeout(ClientError):
    """The server did not answer within the configured time."""


class ConnectionLost(ClientError):
    """The server closed the connection unexpectedly."""


class TLSFailed(ClientError):
    """The TLS handshake failed (certificate, host name, version, cipher)."""


class SecurityViolation(ClientError):
    """The reference client refused to go on because a security rule would be broken.

    Examples: STARTTLS not offered on a URL that requires it, bytes injected
    after the STARTTLS OK, PREAUTH on a connection that had to be protected.
    """


class AuthenticationFailed(ClientError):
    """The server rejected the credentials, or no acceptable mechanism was offered."""


class CommandFailed(ClientError):
    """The server answered a command with a failure (NO/BAD, -ERR, 4xx/5xx)."""


class ProtocolViolation(ClientError):
    """The server broke the protocol so badly the session cannot continue."""


class ConfigurationError(ClientError):
    """Bad usage or configuration (exit code 2)."""
