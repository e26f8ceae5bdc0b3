"""One mail store shared by the fake SMTP, POP3 and IMAP servers.

What SMTP delivers, IMAP and POP3 see at once: all three servers read and
write the same :class:`MailStore`. Messages are kept as the exact bytes that
were delivered or appended, so a client can check a round trip byte for byte.

The store is thread-safe (one re-entrant lock guards every mutation), because
the servers run on an event loop in a background thread while pytest fixtures
deliver and inspect from the test's own thread. Observers (for example an IMAP
session in IDLE) register a callback with :meth:`MailStore.watch`; callbacks are
called after the lock is released, from whichever thread made the change, so an
asyncio observer must hop to its loop with ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

#: Hierarchy delimiter of every mailbox name in the store (RFC 3501 section 6.3.8).
DELIMITER = "/"

#: The folders every new account gets, with their RFC 6154 SPECIAL-USE attribute.
DEFAULT_FOLDERS: tuple[tuple[str, str | None], ...] = (
    ("INBOX", None),
    ("Sent", "\\Sent"),
    ("Drafts", "\\Drafts"),
    ("Trash", "\\Trash"),
    ("Junk", "\\Junk"),
    ("Archive", "\\Archive"),
)


class StoreError(Exception):
    """A store operation that cannot be done (unknown account or mailbox, name clash)."""


class NoSuchMailbox(StoreError):
    """The named mailbox does not exist."""


class MailboxExists(StoreError):
    """A mailbox of that name already exists."""


class NoSuchAccount(StoreError):
    """No account has that login name or address."""


@dataclass
class Message:
    """One message: exact bytes plus the metadata IMAP and POP3 expose.

    ``data`` never changes once stored; ``flags`` and ``modseq`` do, under the
    store's lock.
    """

    uid: int
    data: bytes
    internal_date: datetime
    flags: set[str] = field(default_factory=set)
    modseq: int = 1

    @property
    def size(self) -> int:
        """RFC822.SIZE: the number of octets of the message as stored (CRLF lines)."""
        return len(self.data)


_uidvalidity_source = itertools.count(int(time.time()))


@dataclass
class Mailbox:
    """A folder of one account; UIDs are strictly ascending (RFC 3501 section 2.3.1.1)."""

    name: str
    special_use: str | None = None
    subscribed: bool = True
    uidvalidity: int = field(default_factory=lambda: next(_uidvalidity_source))
    uidnext: int = 1
    highest_modseq: int = 1
    messages: list[Message] = field(default_factory=list)
    #: A stable id that survives RENAME (OBJECTID, RFC 8474 section 4).
    mailbox_id: str = field(default_factory=lambda: "F" + secrets.token_hex(12))
    #: UID -> mod-sequence of its expunge, for VANISHED (EARLIER) (RFC 7162 section 3.2.5).
    expunged: dict[int, int] = field(default_factory=dict)
    #: (uidnext, message count, octets) when the octets were last added up.
    _counted: tuple[int, int, int] = field(default=(1, 0, 0), repr=False, compare=False)

    def octets(self) -> int:
        """The octets of every message held (QUOTA STORAGE, RFC 9208 section 5.1).

        Messages only ever join at the end with the next UIDs, so when exactly
        the UIDs handed out since the last count were added, only those are
        added up; after any removal everything is counted again. Delivering the
        n-th message then costs one message, not n.
        """
        uidnext, counted, octets = self._counted
        count = len(self.messages)
        joined = count - counted
        if joined < 0 or self.uidnext - uidnext != joined:
            joined, octets = count, 0
        octets += sum(message.size for message in self.messages[count - joined :])
        self._counted = (self.uidnext, count, octets)
        return octets

    def by_uid(self, uid: int) -> Message | None:
        """The message with this UID, or None (binary search: UIDs ascend)."""
        lo, hi = 0, len(self.messages)
        while lo < hi:
            mid = (lo + hi) // 2
            found = self.messages[mid].uid
            if found == uid:
                return self.messages[mid]
            if found < uid:
                lo = mid + 1
            else:
                hi = mid
        return None


@dataclass
class Account:
    """A mail user: login name, password, address and folders."""

    user: str
    password: str
    address: str
    mailboxes: dict[str, Mailbox] = field(default_factory=dict)
    #: OAuth2 bearer tokens accepted for this account (XOAUTH2 / OAUTHBEARER).
    tokens: set[str] = field(default_factory=set)
    #: When a token stops being accepted (``time.monotonic()``); absent: never.
    token_expiry: dict[str, float] = field(default_factory=dict)
    #: Quota limits by resource (RFC 9208): STORAGE in units of 1024 octets, MESSAGE a count.
    quota: dict[str, int] = field(
        default_factory=lambda: {"STORAGE": 1024 * 1024, "MESSAGE": 100_000}
    )


Watcher = Callable[[str, str], None]
"""Called with (user, mailbox name) after that mailbox changed."""


@dataclass(frozen=True)
class OutgoingMessage:
    """A message submitted for recipients outside the store's accounts (never relayed)."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes


class MailStore:
    """Accounts and their mailboxes, shared by the three fake servers."""

    def __init__(self, *, folders: Iterable[tuple[str, str | None]] = DEFAULT_FOLDERS) -> None:
        #: The folders (name, SPECIAL-USE attribute) every new account gets; a
        #: provider profile sets its own, e.g. Gmail's ``[Gmail]/Sent Mail``.
        self.folders = tuple(folders)
        self._lock = threading.RLock()
        self._accounts: dict[str, Account] = {}
        self._watchers: dict[tuple[str, str], list[Watcher]] = {}
        self._locked_maildrops: dict[str, object] = {}
        self._outbox: list[OutgoingMessage] = []

    # -- accounts -----------------------------------------------------------------

    def add_account(self, user: str, password: str, *, address: str | None = None) -> Account:
        """Create an account with the default folders; the address defaults to the user."""
        with self._lock:
            if user in self._accounts:
                raise StoreError(f"account {user!r} already exists")
            account = Account(user=user, password=password, address=address or user)
            for name, special_use in self.folders:
                account.mailboxes[name] = Mailbox(name=name, special_use=special_use)
            self._accounts[user] = account
            return account

    def accounts(self) -> list[Account]:
        """Every account, in creation order."""
        with self._lock:
            return list(self._accounts.values())

    def account(self, user: str) -> Account:
        """The account with this login name."""
        with self._lock:
            try:
                return self._accounts[user]
            except KeyError:
                raise NoSuchAccount(user) from None

    def find_address(self, address: str) -> Account | None:
        """The account receiving mail for ``address`` (case-insensitive domain and local part)."""
        wanted = address.lower()
        with self._lock:
            for account in self._accounts.values():
                if account.address.lower() == wanted:
                    return account
        return None

    def check_password(self, user: str, password: str) -> Account | None:
        """The account if ``password`` is right for ``user``, else None."""
        with self._lock:
            account = self._accounts.get(user)
        if account is None or account.password != password:
            return None
        return account

    def add_token(self, user: str, token: str, *, expires_in: float | None = None) -> None:
        """Accept ``token`` for ``user``, for ``expires_in`` seconds from now (None: always)."""
        with self._lock:
            account = self.account(user)
            account.tokens.add(token)
            if expires_in is None:
                account.token_expiry.pop(token, None)
            else:
                account.token_expiry[token] = time.monotonic() + expires_in

    def check_token(self, user: str, token: str) -> Account | None:
        """The account if ``token`` is one of its OAuth2 bearer tokens and not expired."""
        with self._lock:
            account = self._accounts.get(user)
            if account is None or token not in account.tokens:
                return None
            deadline = account.token_expiry.get(token)
        if deadline is not None and time.monotonic() >= deadline:
            return None
        return account

    # -- mailboxes ----------------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's lock across several reads that must be consistent."""
        with self._lock:
            yield

    def mailbox(self, user: str, name: str) -> Mailbox:
        """The mailbox ``name`` of ``user`` (INBOX is case-insensitive, RFC 3501 5.1)."""
        key = "INBOX" if name.upper() == "INBOX" else name
        with self._lock:
            try:
                return self.account(user).mailboxes[key]
            except KeyError:
                raise NoSuchMailbox(name) from None

    def mailboxes(self, user: str) -> list[Mailbox]:
        """Every mailbox of ``user``, INBOX first then by name."""
        with self._lock:
            boxes = list(self.account(user).mailboxes.values())
        return sorted(boxes, key=lambda box: (box.name != "INBOX", box.name))

    def create_mailbox(self, user: str, name: str, *, special_use: str | None = None) -> Mailbox:
        """Create a mailbox (and, like most servers, any missing parent)."""
        if name.upper() == "INBOX":
            raise MailboxExists(name)
        with self._lock:
            boxes = self.account(user).mailboxes
            if name in boxes:
                raise MailboxExists(name)
            parts = name.split(DELIMITER)
            for depth in range(1, len(parts)):
                parent = DELIMITER.join(parts[:depth])
                boxes.setdefault(parent, Mailbox(name=parent))
            box = boxes[name] = Mailbox(name=name, special_use=special_use)
            return box

    def delete_mailbox(self, user: str, name: str) -> None:
        """Delete a mailbox and its messages; INBOX cannot be deleted (RFC 3501 6.3.4)."""
        if name.upper() == "INBOX":
            raise StoreError("INBOX cannot be deleted")
        with self._lock:
            boxes = self.account(user).mailboxes
            if name not in boxes:
                raise NoSuchMailbox(name)
            del boxes[name]
        self._notify(user, name)

    def rename_mailbox(self, user: str, old: str, new: str) -> None:
        """Rename a mailbox and its children; renaming INBOX moves its messages (RFC 3501 6.3.5)."""
        with self._lock:
            boxes = self.account(user).mailboxes
            source = self.mailbox(user, old)
            if new in boxes or new.upper() == "INBOX":
                raise MailboxExists(new)
            if source.name == "INBOX":
                moved = Mailbox(name=new, messages=source.messages, uidnext=source.uidnext)
                boxes[new] = moved
                boxes["INBOX"] = Mailbox(name="INBOX")
            else:
                prefix = source.name + DELIMITER
                for name in [n for n in boxes if n == source.name or n.startswith(prefix)]:
                    box = boxes.pop(name)
                    box.name = new + name[len(source.name) :]
                    boxes[box.name] = box
        self._notify(user, old)

    # -- messages -----------------------------------------------------------------

    def append(
        self,
        user: str,
        mailbox: str,
        data: bytes,
        *,
        flags: Iterable[str] = (),
        internal_date: datetime | None = None,
    ) -> Message:
        """Store ``data`` exactly as given in ``mailbox``; returns the new message."""
        with self._lock:
            box = self.mailbox(user, mailbox)
            box.highest_modseq += 1
            message = Message(
                uid=box.uidnext,
                data=bytes(data),
                internal_date=internal_date or datetime.now(UTC),
                flags=set(flags),
                modseq=box.highest_modseq,
            )
            box.uidnext += 1
            box.messages.append(message)
        self._notify(user, box.name)
        return message

    def deliver(self, address: str, data: bytes) -> Message:
        """Deliver ``data`` to the INBOX of the account with this address (SMTP, fixtures)."""
        account = self.find_address(address)
        if account is None:
            raise NoSuchAccount(address)
        return self.append(account.user, "INBOX", data, flags=("\\Recent",))

    def set_flags(
        self, user: str, mailbox: str, uid: int, flags: Iterable[str], *, mode: str = "replace"
    ) -> Message:
        """Change a message's flags; ``mode`` is ``replace``, ``add`` or ``remove`` (STORE)."""
        with self._lock:
            box = self.mailbox(user, mailbox)
            message = box.by_uid(uid)
            if message is None:
                raise StoreError(f"no message with UID {uid} in {mailbox}")
            wanted = set(flags)
            before = set(message.flags)
            if mode == "replace":
                message.flags = wanted | (message.flags & {"\\Recent"})
            elif mode == "add":
                message.flags |= wanted
            elif mode == "remove":
                message.flags -= wanted
            else:
                raise ValueError(f"unknown flag mode {mode!r}")
            if message.flags != before:
                box.highest_modseq += 1
                message.modseq = box.highest_modseq
        self._notify(user, box.name)
        return message

    def expunge(self, user: str, mailbox: str, uids: Iterable[int] | None = None) -> list[int]:
        """Remove messages flagged ``\\Deleted`` (only those in ``uids`` if given).

        Returns the UIDs removed, ascending.
        """
        limit = None if uids is None else set(uids)
        with self._lock:
            box = self.mailbox(user, mailbox)
            keep: list[Message] = []
            removed: list[int] = []
            for message in box.messages:
                doomed = "\\Deleted" in message.flags and (limit is None or message.uid in limit)
                if doomed:
                    removed.append(message.uid)
                else:
                    keep.append(message)
            if removed:
                box.messages = keep
                box.highest_modseq += 1
                box.expunged.update(dict.fromkeys(removed, box.highest_modseq))
        if removed:
            self._notify(user, box.name)
        return removed

    def delete_messages(self, user: str, mailbox: str, uids: Iterable[int]) -> list[int]:
        """Remove the given messages regardless of flags (POP3 UPDATE state)."""
        doomed = set(uids)
        with self._lock:
            box = self.mailbox(user, mailbox)
            removed = [m.uid for m in box.messages if m.uid in doomed]
            if removed:
                box.messages = [m for m in box.messages if m.uid not in doomed]
                box.highest_modseq += 1
                box.expunged.update(dict.fromkeys(removed, box.highest_modseq))
        if removed:
            self._notify(user, box.name)
        return removed

    def copy(
        self, user: str, source: str, uids: Iterable[int], target: str
    ) -> list[tuple[int, int]]:
        """Copy messages to ``target`` keeping flags and internal date.

        Returns (source UID, new UID) pairs, for COPYUID (RFC 4315).
        """
        pairs: list[tuple[int, int]] = []
        with self._lock:
            src = self.mailbox(user, source)
            dst = self.mailbox(user, target)
            wanted = set(uids)
            originals = [m for m in src.messages if m.uid in wanted]
            for original in originals:
                copied = self.append(
                    user,
                    dst.name,
                    original.data,
                    flags=original.flags | {"\\Recent"},
                    internal_date=original.internal_date,
                )
                pairs.append((original.uid, copied.uid))
        return pairs

    def move(
        self, user: str, source: str, uids: Iterable[int], target: str
    ) -> list[tuple[int, int]]:
        """Move messages to ``target`` as one step: copy, then remove the originals.

        Returns (source UID, new UID) pairs (MOVE, RFC 6851 section 3.3); flags and
        the internal date travel with the messages.
        """
        with self._lock:
            pairs = self.copy(user, source, uids, target)
            self.delete_messages(user, source, [old for old, _ in pairs])
        return pairs

    def usage(self, user: str) -> tuple[int, int]:
        """(octets, messages) held by every mailbox of ``user`` (QUOTA, RFC 9208)."""
        with self._lock:
            boxes = list(self.account(user).mailboxes.values())
            octets = sum(box.octets() for box in boxes)
            count = sum(len(box.messages) for box in boxes)
        return octets, count

    def over_quota(self, user: str, size: int) -> str | None:
        """The quota resource (RFC 9208) one more message of ``size`` octets would exceed, or None.

        STORAGE is counted in units of 1024 octets, rounded up, as GETQUOTA reports
        it; MESSAGE counts messages. A resource without a limit is never exceeded.
        """
        with self._lock:
            limits = dict(self.account(user).quota)
            if not limits:
                return None  # no usage to add up (it grows with the mailboxes)
            octets, count = self.usage(user)
        if "STORAGE" in limits and (octets + size + 1023) // 1024 > limits["STORAGE"]:
            return "STORAGE"
        if "MESSAGE" in limits and count + 1 > limits["MESSAGE"]:
            return "MESSAGE"
        return None

    # -- POP3 maildrop lock and the SMTP outbox -------------------------------------

    def lock_maildrop(self, user: str) -> Callable[[], None] | None:
        """Take the exclusive POP3 maildrop lock of ``user`` (RFC 1939 section 8).

        Returns the function that releases it, or None if another session holds
        it. Shared by every POP3 listener on this store (pop3 and pop3s). Calling
        the release function again, even after another session took the lock,
        does nothing.
        """
        holder = object()
        with self._lock:
            if user in self._locked_maildrops:
                return None
            self._locked_maildrops[user] = holder

        def release() -> None:
            with self._lock:
                if self._locked_maildrops.get(user) is holder:
                    del self._locked_maildrops[user]

        return release

    def record_outgoing(self, sender: str, recipients: Iterable[str], data: bytes) -> None:
        """Keep a message submitted for non-local recipients, for tests to inspect."""
        with self._lock:
            self._outbox.append(OutgoingMessage(sender, tuple(recipients), bytes(data)))

    def outbox(self) -> list[OutgoingMessage]:
        """Every message submitted for non-local recipients, oldest first."""
        with self._lock:
            return list(self._outbox)

    # -- observers ----------------------------------------------------------------

    def watch(self, user: str, mailbox: str, callback: Watcher) -> Callable[[], None]:
        """Call ``callback(user, mailbox)`` after each change; returns an unwatch function."""
        key = (user, mailbox)
        with self._lock:
            self._watchers.setdefault(key, []).append(callback)

        def unwatch() -> None:
            with self._lock:
                callbacks = self._watchers.get(key, [])
                if callback in callbacks:
                    callbacks.remove(callback)

        return unwatch

    def _notify(self, user: str, mailbox: str) -> None:
        with self._lock:
            callbacks = list(self._watchers.get((user, mailbox), ()))
        for callback in callbacks:
            callback(user, mailbox)
