"""Conformance findings: the peer broke a protocol rule.

DESIGN.md names two kinds of protocol error: the local side misusing the API
(a bug of the caller, raised as an exception), and the peer breaking the
protocol. The second kind becomes a :class:`Finding` with an id, a severity,
the RFC reference and the offending line. In lenient mode (the default) the
engines record findings and carry on where real servers are known to deviate;
strict mode turns every finding of severity ``error`` into a failure.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(enum.StrEnum):
    """How bad a deviation is."""

    INFO = "info"  # legal but notable (e.g. a capability change after login)
    WARNING = "warning"  # a deviation real clients tolerate
    ERROR = "error"  # a violation a strict client must refuse


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One observed deviation of the peer from its protocol."""

    #: Stable identifier, e.g. ``imap.bare-lf``; scenarios match on it.
    id: str
    severity: Severity
    #: Where the rule is written, e.g. ``RFC 3501 section 2.2``.
    reference: str
    message: str
    #: The offending line or bytes as seen on the wire (already redacted), if any.
    line: bytes = b""

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready form."""
        return {
            "id": self.id,
            "severity": self.severity.value,
            "reference": self.reference,
            "message": self.message,
            "line": self.line.decode("utf-8", "backslashreplace"),
        }

    def __str__(self) -> str:
        where = f" [{self.reference}]" if self.reference else ""
        return f"{self.severity.value}: {self.id}: {self.message}{where}"
