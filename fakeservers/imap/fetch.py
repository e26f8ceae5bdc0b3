"""FETCH responses (RFC 3501 sections 6.4.5 and 7.4.2).

Each message's response is built as a list of pieces (section octets are
memoryviews into the stored message) and joined once, so a large body is
copied only into the output buffer.
"""

from __future__ import annotations

from collections.abc import Iterable

from fakeservers.imap import mime
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


def fetch_response(
    number: int, message: Message, items: Iterable[FetchItem], *, flags: frozenset[str]
) -> bytes:
    """``* n FETCH (...)`` CRLF for one message."""
    pieces: list[Octets] = [b"* %d FETCH (" % number]
    for index, item in enumerate(items):
        if index:
            pieces.append(b" ")
        pieces += _item(message, item, flags)
    pieces.append(b")\r\n")
    return b"".join(pieces)


def _item(message: Message, item: FetchItem, flags: frozenset[str]) -> list[Octets]:
    name = item.name
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


def _literal(octets: Octets | None, partial: tuple[int, int] | None) -> list[Octets]:
    """`` {n}`` CRLF and octets, ``<origin>`` first for a partial fetch; NIL for no part."""
    if octets is None:
        return [b" ", NIL]
    origin = b""
    if partial is not None:
        start, count = partial
        octets = octets[start : start + count]
        origin = b"<%d>" % start
    return [origin, b" {%d}\r\n" % len(octets), octets]


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
