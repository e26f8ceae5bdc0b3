"""What clients did, as the fake servers saw it: the evidence an audit verdict rests on.

Every event the rule engine sees (connection, greeting, command, response,
TLS) is appended here when a journal is attached to the rule set, with the
session it belongs to and whether TLS protected it at that moment. A TLS
ClientHello is recorded too (through the server context's SNI callback, which
OpenSSL calls for every ClientHello), so that a client that aborts a handshake
with a bad certificate is told apart from one that never connected.

The journal is bounded (entries and octets per entry), so a flooding client
cannot exhaust memory; it is thread-safe, because the servers run on their own
loop thread while the auditor reads it.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass

#: Entries kept at most; later ones are counted but dropped.
MAX_ENTRIES = 20_000
#: Octets of each entry's data kept (commands and responses are cut there).
MAX_DATA = 2048


@dataclass(frozen=True)
class Entry:
    """One thing a session did or saw."""

    session: int
    protocol: str
    #: ``accept`` (TCP, before any TLS), ``connect``, ``greeting``, ``command``,
    #: ``response``, ``tls``, ``bytes``, ``hello`` (a TLS ClientHello).
    kind: str
    verb: str | None
    data: bytes
    tls: bool
    at: float
    #: Which server set saw it: ``main``, or ``decoy`` (where a referral pointed).
    server: str = "main"


class Journal:
    """The bounded, thread-safe record of every session of one server set."""

    def __init__(self, *, server: str = "main") -> None:
        self.server = server
        self._lock = threading.Lock()
        self._entries: list[Entry] = []
        self._sessions = itertools.count(1)
        self._included: list[Journal] = []
        self.dropped = 0

    def include(self, other: Journal) -> None:
        """Make :meth:`entries` also return ``other``'s (a decoy server's journal)."""
        self._included.append(other)

    def new_session(self) -> int:
        """A number for a new session."""
        with self._lock:
            return next(self._sessions)

    def record(
        self, session: int, protocol: str, kind: str, *, verb: str | None, data: bytes, tls: bool
    ) -> None:
        """Append one entry (or count it as dropped past the bound)."""
        entry = Entry(
            session,
            protocol,
            kind,
            verb,
            bytes(data[:MAX_DATA]),
            tls,
            time.monotonic(),
            self.server,
        )
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self.dropped += 1
            else:
                self._entries.append(entry)

    def hello(self, protocol: str = "") -> None:
        """A TLS ClientHello arrived (session unknown at that point of the handshake)."""
        self.record(0, protocol, "hello", verb=None, data=b"", tls=False)

    def entries(self) -> list[Entry]:
        """A copy of every entry so far (with those of included journals), in time order."""
        with self._lock:
            own = list(self._entries)
        for other in self._included:
            own += other.entries()
        return sorted(own, key=lambda entry: entry.at)
