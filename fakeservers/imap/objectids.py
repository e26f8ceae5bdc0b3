"""Stable identifiers of messages: OBJECTID (RFC 8474) and Gmail's X-GM-MSGID/X-GM-THRID.

The ids are derived from what never changes about a stored message, its
octets and internal date, so a copy or a moved message keeps its EMAILID
(RFC 8474 section 5.1 requires it for MOVE and allows it for identical
content). The thread id is derived from the first message id of the thread
(the first References entry, else In-Reply-To, else the message's own
Message-ID), so replies share their thread's id without any thread index.
"""

from __future__ import annotations

import hashlib
import re

from fakeservers.imap import mime
from fakeservers.store import Message

_MESSAGE_ID = re.compile(rb"<[^<>\s]+>")


def _digest(*parts: bytes) -> bytes:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(len(part).to_bytes(8, "big"))
        hasher.update(part)
    return hasher.digest()


def _content_digest(message: Message) -> bytes:
    return _digest(message.data, message.internal_date.isoformat().encode("ascii"))


def email_id(message: Message) -> str:
    """EMAILID: ``objectid = 1*255(ALPHA / DIGIT / "_" / "-")`` (RFC 8474 section 7)."""
    return "M" + _content_digest(message)[:12].hex()


def _thread_root(message: Message) -> bytes:
    part = mime.parse(message.data)
    for field in ("references", "in-reply-to", "message-id"):
        raw = part.raw_header(field)
        if raw:
            found = _MESSAGE_ID.search(raw)
            if found:
                return found.group()
    return _content_digest(message)  # no ids at all: a thread of its own


def thread_id(message: Message) -> str:
    """THREADID (RFC 8474 section 5.2): the same for every message of one thread."""
    return "T" + _digest(_thread_root(message))[:12].hex()


def gmail_message_id(message: Message) -> int:
    """X-GM-MSGID: an unsigned 63-bit number, the same in every label of the message."""
    return int.from_bytes(_content_digest(message)[:8], "big") >> 1


def gmail_thread_id(message: Message) -> int:
    """X-GM-THRID: an unsigned 63-bit number shared by the messages of one thread."""
    return int.from_bytes(_digest(_thread_root(message))[:8], "big") >> 1
