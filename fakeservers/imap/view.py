"""A session's view of its selected mailbox, and the updates it owes the client.

IMAP numbers messages by position, and a client's numbering may only change
when the server tells it so (RFC 3501 sections 5.2 and 7.4.1). So each session
keeps its own snapshot of the mailbox (the same :class:`Message` objects the
store holds) and, at the end of each command, compares it with the store:
messages gone become ``EXPUNGE``, new ones ``EXISTS``/``RECENT``, changed
flags ``FETCH (FLAGS ...)``. EXPUNGE is held back during FETCH, STORE and
SEARCH, where the RFC forbids it.

``\\Recent`` belongs to one session (RFC 3501 section 2.3.2): the store marks
new messages with it, and the first session that selects the mailbox
read-write (or is selecting it when they arrive) takes the flag off the
stored message and keeps it in its own view. EXAMINE sessions show the flag
without taking it.

The shape of the updates follows what the client enabled (:mod:`.enabled`):
``FETCH (FLAGS ... MODSEQ (n))`` once CONDSTORE is on (RFC 7162 section 3.1.2),
with UID once QRESYNC is on, and one ``VANISHED uid-set`` instead of EXPUNGE
responses (RFC 7162 section 3.2.10); no RECENT under IMAP4rev2 (RFC 9051).
"""

from __future__ import annotations

from fakeservers.imap.enabled import Enabled
from fakeservers.imap.responses import flag_list
from fakeservers.imap.sequences import SequenceSet, format_uid_set
from fakeservers.store import MailStore, Message, NoSuchMailbox

RECENT = "\\Recent"


class NoSuchMessage(ValueError):
    """A sequence number beyond the mailbox (answered BAD, RFC 3501 section 9 ``seq-number``)."""


class MailboxView:
    """The messages of one selected mailbox as one session has been told about them."""

    def __init__(
        self,
        store: MailStore,
        user: str,
        name: str,
        *,
        read_only: bool,
        enabled: Enabled | None = None,
    ) -> None:
        self.store = store
        self.user = user
        self.read_only = read_only
        #: The session's enabled extensions (shared, so ENABLE reaches the view).
        self.enabled = enabled if enabled is not None else Enabled()
        #: UIDs of the saved search result ``$`` (SEARCHRES, RFC 5182 section 2.1).
        self.saved: list[int] = []
        with store.locked():
            box = store.mailbox(user, name)
            self.name = box.name
            self.uidvalidity = box.uidvalidity
            self.messages: list[Message] = []
        #: The UIDs of ``messages``, in order (kept with it, for binary search).
        self._uids: list[int] = []
        self.recent: set[int] = set()
        self._modseqs: dict[int, int] = {}
        self._highest_uid = 0
        self._take_new(self._current())
        #: The RECENT count the client was last told (SELECT tells it first).
        self._reported_recent = self.recent_count()

    # -- facts --------------------------------------------------------------------

    def flags(self, message: Message) -> frozenset[str]:
        """The flags this session shows: the stored ones, with its own ``\\Recent``."""
        shown = set(message.flags)
        shown.discard(RECENT)
        if message.uid in self.recent and not self.enabled.imap4rev2:
            shown.add(RECENT)  # IMAP4rev2 has no \Recent (RFC 9051 appendix E item 7)
        return frozenset(shown)

    def recent_count(self) -> int:
        """How many messages this session shows as ``\\Recent`` (all in ``recent`` are in view)."""
        return len(self.recent)

    def uidnext(self) -> int:
        """The mailbox's UIDNEXT now."""
        with self.store.locked():
            return self.store.mailbox(self.user, self.name).uidnext

    def highest_modseq(self) -> int:
        """The mailbox's HIGHESTMODSEQ now (RFC 7162 section 3.1.2.1)."""
        with self.store.locked():
            try:
                return self.store.mailbox(self.user, self.name).highest_modseq
            except NoSuchMailbox:
                return max((m.modseq for m in self.messages), default=1)

    def select(self, numbers: SequenceSet, *, uid: bool) -> list[tuple[int, Message]]:
        """(sequence number, message) pairs a set names; UIDs that do not exist are skipped.

        Raises :class:`NoSuchMessage` for a sequence number beyond the mailbox. The
        saved result ``$`` names messages by UID whichever form is used (RFC 5182
        section 2.1), so messages expunged since drop out of it.
        """
        if numbers.saved:
            saved = set(self.saved)
            return [
                (number, message)
                for number, message in enumerate(self.messages, start=1)
                if message.uid in saved
            ]
        if uid:
            largest = self.messages[-1].uid if self.messages else 0
            indexes = numbers.positions(self._uids, largest=largest)
            return [(index + 1, self.messages[index]) for index in indexes]
        count = len(self.messages)
        if numbers.highest_explicit() > count:
            raise NoSuchMessage(f"no message {numbers.highest_explicit()} (there are {count})")
        starts, ends = numbers.intervals(largest=count)
        return [
            (number, self.messages[number - 1])
            for low, high in zip(starts, ends, strict=True)
            for number in range(max(low, 1), min(high, count) + 1)  # ``*`` is 0 when empty
        ]

    # -- keeping up to date -------------------------------------------------------

    def seen_flags(self, message: Message) -> None:
        """The client has been shown ``message``'s current flags."""
        self._modseqs[message.uid] = message.modseq

    def updates(self, *, expunges: bool) -> list[bytes]:
        """The untagged lines that bring the client up to date, applying them to the view."""
        current = self._current()
        if current is None:
            return []
        lines: list[bytes] = []
        if expunges:
            lines += self._drop_expunged({message.uid for message in current})
        count = len(self.messages)
        self._take_new(current)
        if len(self.messages) != count:
            lines.append(b"%d EXISTS" % len(self.messages))
        if not self.enabled.imap4rev2 and (
            len(self.messages) != count or self.recent_count() != self._reported_recent
        ):
            # Also when expunges lowered it, as Dovecot does (RFC 3501 section 7.3.2).
            lines.append(b"%d RECENT" % self.recent_count())
        self._reported_recent = self.recent_count()
        for number, message in enumerate(self.messages, start=1):
            if self._modseqs.get(message.uid) != message.modseq:
                self.seen_flags(message)
                lines.append(self.flags_response(number, message))
        return lines

    def flags_response(self, number: int, message: Message, *, uid: bool = False) -> bytes:
        """``n FETCH (FLAGS (...))`` with UID and MODSEQ as the enabled extensions ask."""
        items = [b"FLAGS " + flag_list(self.flags(message))]
        if uid or self.enabled.qresync:
            items.append(b"UID %d" % message.uid)
        if self.enabled.condstore:
            items.append(b"MODSEQ (%d)" % message.modseq)
        return b"%d FETCH (%s)" % (number, b" ".join(items))

    def _current(self) -> list[Message] | None:
        with self.store.locked():
            try:
                return list(self.store.mailbox(self.user, self.name).messages)
            except NoSuchMailbox:
                return None

    def _drop_expunged(self, present: set[int]) -> list[bytes]:
        lines: list[bytes] = []
        kept: list[Message] = []
        vanished: list[int] = []
        for message in self.messages:
            if message.uid in present:
                kept.append(message)
                continue
            # Each EXPUNGE renumbers the messages after it (RFC 3501 section 7.4.1).
            lines.append(b"%d EXPUNGE" % (len(kept) + 1))
            vanished.append(message.uid)
            self._modseqs.pop(message.uid, None)
            self.recent.discard(message.uid)
        self.messages = kept
        self._uids = [message.uid for message in kept]
        if vanished and self.enabled.qresync:
            # One VANISHED for all of them (RFC 7162 section 3.2.10).
            return [b"VANISHED " + format_uid_set(vanished)]
        return lines

    def _take_new(self, current: list[Message] | None) -> None:
        """Add messages that arrived since, noting which are ``\\Recent`` for this session.

        A read-write session takes the flag off the stored message, so no other
        session shows it; a read-only one only remembers it (EXAMINE changes nothing).
        """
        arrived = [m for m in current or () if m.uid > self._highest_uid]
        for message in arrived:
            if RECENT in message.flags and self._claim_recent(message):
                self.recent.add(message.uid)
            self.seen_flags(message)
            self.messages.append(message)
            self._uids.append(message.uid)
            self._highest_uid = message.uid

    def _claim_recent(self, message: Message) -> bool:
        """Take ``\\Recent`` off the stored message, without a new mod-sequence.

        Only this session ever shows the flag, so taking it is no change other
        sessions could see: CONDSTORE clients must not be told of one (RFC 7162
        section 3.1.1 counts only changes of metadata a client can see).
        """
        if self.read_only:
            return True
        with self.store.locked():
            try:
                box = self.store.mailbox(self.user, self.name)
            except NoSuchMailbox:
                return False
            if box.by_uid(message.uid) is not message:
                return False  # expunged meanwhile: the next update reports it
            message.flags.discard(RECENT)
        return True
