"""SEARCH criteria (RFC 3501 section 6.4.4): grammar and matching.

Criteria compile to predicates over a :class:`Candidate` (a message as one
session sees it: its sequence number, its flags with that session's
``\\Recent``). String criteria match case-insensitively as substrings;
header values are compared after decoding RFC 2047 encoded words, bodies
as their octets read as UTF-8 (transfer encodings are not undone).
"""

from __future__ import annotations

import email.errors
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from email.header import decode_header, make_header
from email.utils import parsedate_to_datetime

from fakeservers.imap import mime
from fakeservers.imap.dates import DateError, parse_date
from fakeservers.imap.reader import Reader, SyntaxProblem
from fakeservers.store import Message

#: Charsets SEARCH accepts (RFC 3501 section 6.4.4 requires US-ASCII and UTF-8).
CHARSETS = ("US-ASCII", "UTF-8")
#: Nesting bound for parentheses, NOT and OR, so hostile input cannot exhaust the stack.
MAX_DEPTH = 50


class BadCharset(ValueError):
    """The CHARSET is not one of :data:`CHARSETS` (answered ``NO [BADCHARSET]``)."""


@dataclass(frozen=True)
class Candidate:
    """One message as the searching session sees it."""

    message: Message
    number: int
    flags: frozenset[str]
    last_number: int
    last_uid: int


Predicate = Callable[[Candidate], bool]

_FLAG_KEYS = {
    "ANSWERED": ("\\Answered", True),
    "DELETED": ("\\Deleted", True),
    "DRAFT": ("\\Draft", True),
    "FLAGGED": ("\\Flagged", True),
    "RECENT": ("\\Recent", True),
    "SEEN": ("\\Seen", True),
    "UNANSWERED": ("\\Answered", False),
    "UNDELETED": ("\\Deleted", False),
    "UNDRAFT": ("\\Draft", False),
    "UNFLAGGED": ("\\Flagged", False),
    "UNSEEN": ("\\Seen", False),
}
_ADDRESS_KEYS = ("BCC", "CC", "FROM", "SUBJECT", "TO")
_DATE_TEXT = re.compile(rb"[0-9A-Za-z-]*")
_DATE_KEYS = ("BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE")


def parse_criteria(reader: Reader) -> Predicate:
    """``["CHARSET" SP astring SP] search-key *(SP search-key)`` as one predicate.

    Raises SyntaxProblem, or BadCharset for a charset other than :data:`CHARSETS`.
    """
    charset = "US-ASCII"
    if reader.skip(b"CHARSET "):
        charset = reader.astring().decode("ascii", "replace").upper()
        if charset not in CHARSETS:
            raise BadCharset(charset)
        reader.space()
    keys = [_key(reader, charset, 0)]
    while not reader.at_end():
        reader.space()
        keys.append(_key(reader, charset, 0))
    return _all(keys)


def _all(keys: list[Predicate]) -> Predicate:
    if len(keys) == 1:
        return keys[0]
    return lambda candidate: all(key(candidate) for key in keys)


def _key(reader: Reader, charset: str, depth: int) -> Predicate:
    if depth > MAX_DEPTH:
        raise SyntaxProblem(f"search criteria nested deeper than {MAX_DEPTH}")
    if reader.skip(b"("):
        keys = [_key(reader, charset, depth + 1)]
        while not reader.skip(b")"):
            reader.space()
            keys.append(_key(reader, charset, depth + 1))
        return _all(keys)
    if reader.peek(b"*") or reader.data[reader.position : reader.position + 1].isdigit():
        numbers = reader.sequence_set()
        return lambda c: numbers.contains(c.number, largest=c.last_number)
    name = reader.atom()
    if name in _FLAG_KEYS:
        flag, present = _FLAG_KEYS[name]
        return lambda c: (flag in c.flags) == present
    if name in _ADDRESS_KEYS:
        reader.space()
        return _header_contains(name, _text(reader, charset))
    if name in _DATE_KEYS:
        reader.space()
        return _date_key(name, _date(reader))
    return _other_key(name, reader, charset, depth)


def _other_key(name: str, reader: Reader, charset: str, depth: int) -> Predicate:
    if name == "ALL":
        return lambda c: True
    if name in ("NEW", "OLD"):
        recent = name == "NEW"
        return lambda c: (
            ("\\Recent" in c.flags) == recent and (not recent or "\\Seen" not in c.flags)
        )
    if name == "NOT":
        reader.space()
        inner = _key(reader, charset, depth + 1)
        return lambda c: not inner(c)
    if name == "OR":
        reader.space()
        left = _key(reader, charset, depth + 1)
        reader.space()
        right = _key(reader, charset, depth + 1)
        return lambda c: left(c) or right(c)
    if name in ("KEYWORD", "UNKEYWORD"):
        reader.space()
        keyword, present = reader.flag(), name == "KEYWORD"
        return lambda c: (keyword in c.flags) == present
    if name in ("LARGER", "SMALLER"):
        reader.space()
        size = reader.number()
        if name == "LARGER":
            return lambda c: c.message.size > size
        return lambda c: c.message.size < size
    if name == "UID":
        reader.space()
        uids = reader.sequence_set()
        return lambda c: uids.contains(c.message.uid, largest=c.last_uid)
    if name == "HEADER":
        reader.space()
        field = reader.astring().decode("ascii", "replace")
        reader.space()
        return _header_contains(field, _text(reader, charset))
    if name in ("BODY", "TEXT"):
        reader.space()
        return _body_contains(_text(reader, charset), with_header=name == "TEXT")
    raise SyntaxProblem(f"unknown search key {name}")


def _text(reader: Reader, charset: str) -> str:
    raw = reader.astring()
    try:
        return raw.decode("ascii" if charset == "US-ASCII" else "utf-8").casefold()
    except UnicodeDecodeError:
        raise SyntaxProblem(f"search string is not valid {charset}") from None


def _date(reader: Reader) -> date:
    """``date = date-text / DQUOTE date-text DQUOTE``."""
    quoted = reader.skip(b'"')
    text = reader.token(_DATE_TEXT)
    if quoted:
        reader.expect(b'"', "a closing quote")
    try:
        return parse_date(text)
    except DateError as error:
        raise SyntaxProblem(str(error)) from None


def _date_key(name: str, day: date) -> Predicate:
    when = _sent_date if name.startswith("SENT") else _internal_date
    relation = name.removeprefix("SENT")
    if relation == "BEFORE":
        return lambda c: when(c) < day
    if relation == "ON":
        return lambda c: when(c) == day
    return lambda c: when(c) >= day


def _internal_date(candidate: Candidate) -> date:
    # RFC 3501 section 6.4.4: "disregarding time and timezone".
    return candidate.message.internal_date.date()


def _sent_date(candidate: Candidate) -> date:
    raw = mime.parse(candidate.message.data).raw_header("date")
    if raw is not None:
        try:
            return parsedate_to_datetime(raw.decode("ascii", "replace")).date()
        except (TypeError, ValueError, IndexError):
            pass
    return _internal_date(candidate)


def _header_contains(field: str, needle: str) -> Predicate:
    def match(candidate: Candidate) -> bool:
        part = mime.parse(candidate.message.data)
        return any(needle in value for value in _header_values(part, field))

    return match


def _header_values(part: mime.Part, field: str) -> list[str]:
    wanted = field.lower()
    values = []
    for name, value in part.headers.raw_items():
        if name.lower() == wanted:
            values.append(_decoded(str(value)).casefold())
    return values


def _decoded(value: str) -> str:
    """A header value with RFC 2047 encoded words decoded (left as is when broken)."""
    try:
        return str(make_header(decode_header(value)))
    except (LookupError, UnicodeError, ValueError, email.errors.HeaderParseError):
        return value


def _body_contains(needle: str, *, with_header: bool) -> Predicate:
    def match(candidate: Candidate) -> bool:
        part = mime.parse(candidate.message.data)
        octets = part.octets if with_header else part.body_octets
        if with_header and any(
            needle in _decoded(str(value)).casefold() for _, value in part.headers.raw_items()
        ):
            return True
        return needle in bytes(octets).decode("utf-8", "replace").casefold()

    return match
