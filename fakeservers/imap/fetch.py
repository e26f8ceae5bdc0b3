"""FETCH responses (RFC 3501 sections 6.4.5 and 7.4.2).

Each message's response is built as a list of pieces (section octets are
memoryviews into the stored message): :func:`fetch_pieces` hands them to the
connection as they are, so that a large body is sliced straight out of the
stored message onto the wire and never copied whole; :func:`fetch_response`
joins them, for small responses and tests.

Extension items: MODSEQ (RFC 7162 section 3.1.4), BINARY[...] and
BINARY.SIZE[...] with the content transfer encoding undone (RFC 3516),
EMAILID and THREADID (RFC 8474), and Gmail's X-GM-MSGID, X-GM-THRID and
X-GM-LABELS.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterable

from fakeservers.imap import mime, objectids
from fakeservers.imap.dates import format_date_time
from fakeservers.imap.parser import FetchItem, Section
from fakeservers.imap.responses import NIL, flag_list
from fakeservers.store import Message

Octets = bytes | memoryview

#: Items whose data counts as reading the message: they set ``\\Seen``.
_READING = ("RFC822", "RFC822.TEXT")


def sets_seen(items: Iterable[FetchItem]) -> bool:
    """Whether fetching ``items`` sets ``\\Seen`` (BODY[...] without PEEK, RFC822, RFC822.TEXT)."""
    return any(
        (item.section is not None and not item.peek) or item.name in _READING for item in items
    )


class UnknownTransferEncoding(ValueError):
    """BINARY of a part whose encoding cannot be undone (``NO [UNKNOWN-CTE]``, RFC 3516 4.3)."""


def fetch_response(
    number: int,
    message: Message,
    items: Iterable[FetchItem],
    *,
    flags: frozenset[str],
    labels: Iterable[bytes] = (),
) -> bytes:
    """``* n FETCH (...)`` CRLF for one message; ``labels`` (IMAP strings) answer X-GM-LABELS.

    Raises :class:`UnknownTransferEncoding` for BINARY of an undecodable part.
    """
    return b"".join(fetch_pieces(number, message, items, flags=flags, labels=labels))


def fetch_pieces(
    number: int,
    message: Message,
    items: Iterable[FetchItem],
    *,
    flags: frozenset[str],
    labels: Iterable[bytes] = (),
) -> list[Octets]:
    """:func:`fetch_response` as pieces, in order (literal octets as views, not copies)."""
    pieces: list[Octets] = [b"* %d FETCH (" % number]
    for index, item in enumerate(items):
        if index:
            pieces.append(b" ")
        if item.name == "X-GM-LABELS":
            pieces.append(b"X-GM-LABELS (" + b" ".join(labels) + b")")
        else:
            pieces += _item(message, item, flags)
    pieces.append(b")\r\n")
    return pieces


def _item(message: Message, item: FetchItem, flags: frozenset[str]) -> list[Octets]:
    name = item.name
    if name in ("BINARY", "BINARY.SIZE") and item.section is not None:
        label = name.encode("ascii") + item.section.render()
        decoded = binary_octets(mime.parse(message.data), item.section.part)
        if name == "BINARY.SIZE":
            return [label + b" %d" % (0 if decoded is None else len(decoded))]
        return [label, *_literal(decoded, item.partial, binary=True)]
    if name in _IDENTIFIERS:
        return [name.encode("ascii") + b" " + _IDENTIFIERS[name](message)]
    if item.section is not None:
        label = b"BODY" + item.section.render()
        octets = section_octets(mime.parse(message.data), item.section)
        return [label, *_literal(octets, item.partial)]
    if name == "UID":
        return [b"UID %d" % message.uid]
    if name == "FLAGS":
        return [b"FLAGS " + flag_list(flags)]
    if name == "INTERNALDATE":
        return [b"INTERNALDATE " + format_date_time(message.internal_date)]
    if name == "RFC822.SIZE":
        return [b"RFC822.SIZE %d" % message.size]
    if name == "RFC822":
        return [b"RFC822", *_literal(message.data, None)]
    part = mime.parse(message.data)
    if name == "RFC822.HEADER":
        return [b"RFC822.HEADER", *_literal(part.header_octets, None)]
    if name == "RFC822.TEXT":
        return [b"RFC822.TEXT", *_literal(part.body_octets, None)]
    if name == "ENVELOPE":
        return [b"ENVELOPE " + part.envelope]
    if name == "BODYSTRUCTURE":
        return [b"BODYSTRUCTURE " + part.body_structure]
    return [b"BODY " + part.body]


_IDENTIFIERS = {
    "MODSEQ": lambda m: b"(%d)" % m.modseq,
    "EMAILID": lambda m: b"(" + objectids.email_id(m).encode("ascii") + b")",
    "THREADID": lambda m: b"(" + objectids.thread_id(m).encode("ascii") + b")",
    "X-GM-MSGID": lambda m: b"%d" % objectids.gmail_message_id(m),
    "X-GM-THRID": lambda m: b"%d" % objectids.gmail_thread_id(m),
}


def _literal(
    octets: Octets | None, partial: tuple[int, int] | None, *, binary: bool = False
) -> list[Octets]:
    """`` {n}`` CRLF and octets, ``<origin>`` first for a partial fetch; NIL for no part.

    With ``binary``, octets holding NUL go out as ``literal8`` (RFC 3516 section 4.2).
    """
    if octets is None:
        return [b" ", NIL]
    origin = b""
    if partial is not None:
        start, count = partial
        octets = octets[start : start + count]
        origin = b"<%d>" % start
    tilde = b"~" if binary and b"\x00" in bytes(octets) else b""
    return [origin, b" " + tilde + b"{%d}\r\n" % len(octets), octets]


def binary_octets(root: mime.Part, numbers: tuple[int, ...]) -> bytes | None:
    """A part's body with its content transfer encoding undone (RFC 3516 section 4.2).

    ``BINARY[]`` (no part numbers) is the whole message as stored. None when the
    part does not exist; raises :class:`UnknownTransferEncoding`.
    """
    if not numbers:
        return bytes(root.octets)
    node = root.find(numbers)
    if node is None:
        return None
    body = bytes(node.body_octets)
    if node.children:
        return body  # a multipart has no encoding of its own to undo
    encoding = str(node.headers.get("content-transfer-encoding", "7bit")).strip().lower()
    if encoding in ("7bit", "8bit", "binary"):
        return body
    try:
        if encoding == "base64":
            return binascii.a2b_base64(body)
        if encoding == "quoted-printable":
            return binascii.a2b_qp(body)
    except binascii.Error as error:
        raise UnknownTransferEncoding(f"part {numbers} is not valid {encoding}") from error
    raise UnknownTransferEncoding(f"unknown content transfer encoding {encoding}")


def section_octets(root: mime.Part, section: Section) -> Octets | None:
    """The octets a ``section`` names, or None when that part does not exist."""
    entity = root
    if section.part:
        node = root.find(section.part)
        if node is None:
            return None
        if section.text == "MIME":
            return node.header_octets
        if not section.text:
            return node.body_octets
        if node.message is None:
            return None
        entity = node.message  # HEADER and TEXT of a part are those of a message/rfc822
    if section.text == "HEADER":
        return entity.header_octets
    if section.text == "TEXT":
        return entity.body_octets
    if section.text.startswith("HEADER.FIELDS"):
        return entity.header_fields(section.fields, exclude=section.text.endswith(".NOT"))
    return entity.octets
