"""A POP3 session's view of the INBOX: fixed message numbers, deletion marks, wire form.

RFC 1939 section 5: message numbers are fixed for the whole session and a
deleted message keeps its number (but can no longer be accessed); deletion
happens only in the UPDATE state (section 6), which :meth:`Maildrop.commit`
performs. Mail arriving during the session is seen by the next session.
"""

from __future__ import annotations

import re

from fakeservers.store import Mailbox, MailStore, Message

MAILDROP = "INBOX"

_LINE_START_DOT = re.compile(rb"(?m)^\.")
_LINE = re.compile(rb"[^\n]*\n|[^\n]+")
_BARE_LF = re.compile(rb"(?<!\r)\n")


def unique_id(box: Mailbox, message: Message) -> str:
    """The UIDL of a message: ``<uidvalidity>.<uid>``, stable across sessions.

    RFC 1939 section 7: 1 to 70 characters from 0x21 to 0x7E, never reused.
    """
    return f"{box.uidvalidity}.{message.uid}"


def as_lines(data: bytes) -> bytes:
    """``data`` with every bare LF made CRLF: POP3 carries lines ending in CRLF only.

    RFC 1939 section 3: each line of a multi-line response ends in CRLF, so a
    bare LF in a stored message cannot cross as it is; it goes as CRLF, as
    Dovecot sends it. Without this, a client that ends lines at CRLF (as the RFC
    says) and one that ends them at LF would unstuff a ``.`` after a bare LF
    differently, and one of them would read back a different message.
    """
    return _BARE_LF.sub(b"\r\n", data)


def multiline(data: bytes) -> bytes:
    """``data`` as a multi-line response body: dot-stuffed and terminated (RFC 1939 3).

    Lines end in CRLF (:func:`as_lines`); every line starting with ``.`` gets
    one more ``.``; a message not ending in CRLF gets CRLF added before the
    final ``.`` line.
    """
    stuffed = _LINE_START_DOT.sub(b"..", as_lines(data))
    if stuffed and not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    return stuffed + b".\r\n"


def top(data: bytes, lines: int) -> bytes:
    """The header, the blank line and the first ``lines`` body lines (RFC 1939 TOP)."""
    parts = _LINE.findall(data)
    for index, line in enumerate(parts):
        if line in (b"\r\n", b"\n"):
            return b"".join(parts[: index + 1 + lines])
    return data  # no body at all: the whole message is header


class Maildrop:
    """The messages of one account's INBOX as numbered at login."""

    def __init__(self, store: MailStore, user: str) -> None:
        self._store = store
        self._user = user
        with store.locked():
            self._box = store.mailbox(user, MAILDROP)
            self._messages = tuple(self._box.messages)
        self._deleted: set[int] = set()

    def get(self, number: int) -> Message | None:
        """Message ``number`` (1-based), or None if it does not exist or is marked deleted."""
        if not 1 <= number <= len(self._messages) or number in self._deleted:
            return None
        return self._messages[number - 1]

    def listing(self) -> list[tuple[int, Message]]:
        """(number, message) of every message not marked deleted."""
        return [
            (number, message)
            for number, message in enumerate(self._messages, start=1)
            if number not in self._deleted
        ]

    def unique_id(self, message: Message) -> str:
        """The UIDL of a message of this maildrop."""
        return unique_id(self._box, message)

    def delete(self, number: int) -> bool:
        """Mark message ``number`` deleted; False if it does not exist or is already marked."""
        if self.get(number) is None:
            return False
        self._deleted.add(number)
        return True

    def reset(self) -> None:
        """Unmark every message (RSET)."""
        self._deleted.clear()

    def commit(self) -> int:
        """Remove the marked messages from the store (UPDATE state); returns how many."""
        uids = [self._messages[number - 1].uid for number in self._deleted]
        return len(self._store.delete_messages(self._user, MAILDROP, uids)) if uids else 0
