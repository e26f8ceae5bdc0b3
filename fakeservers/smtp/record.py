"""What the submission servers over one store accepted and what clients did wrong.

Each accepted message leaves a :class:`Transaction`: the envelope with every
extension parameter the client gave (DSN's RET, ENVID, NOTIFY and ORCPT,
REQUIRETLS, BODY, SMTPUTF8, SIZE), whether it came by BDAT, where it was
delivered (the account and UID of each copy in the store), which deliveries
failed after acceptance, and the delivery status notifications issued for it
(also those nothing could carry, for a sender outside the store). A client that
breaks the protocol in a way the server tolerates (pipelining where RFC 2920
forbids it) leaves a :class:`ClientFinding`, also logged as a warning on the
``fakeservers.smtp`` logger.

The record hangs off the :class:`~fakeservers.store.MailStore` (every listener
over one store shares it) and is bounded, so a flooding client cannot
exhaust memory. It is thread-safe: the servers run on their own loop thread
while a test reads it.
"""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass

from fakeservers.smtp.dsn import Notification
from fakeservers.smtp.parameters import MailParameters, RecipientParameters
from fakeservers.store import MailStore

log = logging.getLogger("fakeservers.smtp")

#: Entries of each kind kept at most; later ones are counted as dropped.
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class Transaction:
    """One message the server accepted."""

    sender: str
    parameters: MailParameters
    recipients: tuple[RecipientParameters, ...]
    #: Octets of the message as the client sent it.
    size: int
    #: Whether it came in BDAT chunks (RFC 3030) rather than DATA.
    chunked: bool
    #: Whether the session was under TLS (implicit or after STARTTLS).
    tls: bool
    #: (user, UID in INBOX) of each local copy.
    delivered: tuple[tuple[str, int], ...]
    #: Recipients kept in the outbox (not local, never relayed).
    outgoing: tuple[str, ...]
    #: (user, SMTP reply) of each local delivery that failed after acceptance (quota).
    failed: tuple[tuple[str, str], ...] = ()
    #: The delivery status notifications issued for it (RFC 3461), delivered or not.
    notifications: tuple[Notification, ...] = ()


@dataclass(frozen=True)
class ClientFinding:
    """A client's protocol error that the server tolerated."""

    id: str
    reference: str
    message: str
    peer: str
    #: The offending octets (cut to 200).
    line: bytes


class SubmissionRecord:
    """The bounded, thread-safe record of one store's submission servers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._transactions: list[Transaction] = []
        self._findings: list[ClientFinding] = []
        self.dropped = 0

    def add_transaction(self, transaction: Transaction) -> None:
        with self._lock:
            if len(self._transactions) < MAX_ENTRIES:
                self._transactions.append(transaction)
            else:
                self.dropped += 1

    def add_finding(self, finding: ClientFinding) -> None:
        log.warning(
            "client %s: %s (%s) [%s]", finding.peer, finding.message, finding.reference, finding.id
        )
        with self._lock:
            if len(self._findings) < MAX_ENTRIES:
                self._findings.append(finding)
            else:
                self.dropped += 1

    @property
    def transactions(self) -> list[Transaction]:
        """Every accepted message so far, oldest first."""
        with self._lock:
            return list(self._transactions)

    @property
    def findings(self) -> list[ClientFinding]:
        """Every client finding so far, oldest first."""
        with self._lock:
            return list(self._findings)


_RECORDS: weakref.WeakKeyDictionary[MailStore, SubmissionRecord] = weakref.WeakKeyDictionary()
_RECORDS_LOCK = threading.Lock()


def submission_record(store: MailStore) -> SubmissionRecord:
    """The record of the submission servers delivering into ``store`` (created on first use)."""
    with _RECORDS_LOCK:
        record = _RECORDS.get(store)
        if record is None:
            record = _RECORDS[store] = SubmissionRecord()
        return record
