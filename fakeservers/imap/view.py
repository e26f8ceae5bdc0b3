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
"""

from __future__ import annotations

from fakeservers.imap.responses import flag_list
from fakeservers.imap.sequences import SequenceSet
from fakeservers.store import MailStore, Message, NoSuchMailbox, StoreError

RECENT = "\\Recent"


class NoSuchMessage(ValueError):
    """A sequence number beyond the mailbox (answered BAD, RFC 3501 section 9 ``seq-number``)."""


class MailboxView:
    """The messages of one selected mailbox as one session has been told about them."""

    def __init__(self, store: MailStore, user: str, name: str, *, read_only: bool) -> None:
        self.store = store
        self.user = user
        self.read_only = read_only
        with store.locked():
            box = store.mailbox(user, name)
            self.name = box.name
            self.uidvalidity = box.uidvalidity
            self.messages: list[Message] = []
        self.recent: set[int] = set()
        self._modseqs: dict[int, int] = {}
        self._highest_uid = 0
        self._take_new(self._current())

    # -- facts --------------------------------------------------------------------

    def flags(self, message: Message) -> frozenset[str]:
        """The flags this session shows: the stored ones, with its own ``\\Recent``."""
        shown = set(message.flags)
        shown.discard(RECENT)
        if message.uid in self.recent:
            shown.add(RECENT)
        return frozenset(shown)

    def recent_count(self) -> int:
        """How many messages this session shows as ``\\Recent`` (all in ``recent`` are in view)."""
        return len(self.recent)

    def uidnext(self) -> int:
        """The mailbox's UIDNEXT now."""
        with self.store.locked():
            return self.store.mailbox(self.user, self.name).uidnext

    def select(self, numbers: SequenceSet, *, uid: bool) -> list[tuple[int, Message]]:
        """(sequence number, message) pairs a set names; UIDs that do not exist are skipped.

        Raises :class:`NoSuchMessage` for a sequence number beyond the mailbox.
        """
        if uid:
            largest = self.messages[-1].uid if self.messages else 0
            return [
                (number, message)
                for number, message in enumerate(self.messages, start=1)
                if numbers.contains(message.uid, largest=largest)
            ]
        count = len(self.messages)
        if numbers.highest_explicit() > count:
            raise NoSuchMessage(f"no message {numbers.highest_explicit()} (there are {count})")
        return [
            (number, self.messages[number - 1])
            for number in numbers.select(range(1, count + 1), largest=count)
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
            lines.append(b"%d RECENT" % self.recent_count())
        for number, message in enumerate(self.messages, start=1):
            if self._modseqs.get(message.uid) != message.modseq:
                self.seen_flags(message)
                lines.append(b"%d FETCH (FLAGS %s)" % (number, flag_list(self.flags(message))))
        return lines

    def _current(self) -> list[Message] | None:
        with self.store.locked():
            try:
                return list(self.store.mailbox(self.user, self.name).messages)
            except NoSuchMailbox:
                return None

    def _drop_expunged(self, present: set[int]) -> list[bytes]:
        lines: list[bytes] = []
        kept: list[Message] = []
        for message in self.messages:
            if message.uid in present:
                kept.append(message)
                continue
            # Each EXPUNGE renumbers the messages after it (RFC 3501 section 7.4.1).
            lines.append(b"%d EXPUNGE" % (len(kept) + 1))
            self._modseqs.pop(message.uid, None)
            self.recent.discard(message.uid)
        self.messages = kept
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
            self._highest_uid = message.uid

    def _claim_recent(self, message: Message) -> bool:
        if self.read_only:
            return True
        try:
            self.store.set_flags(self.user, self.name, message.uid, [RECENT], mode="remove")
        except StoreError:
            return False  # expunged meanwhile: the next update reports it
        return True
