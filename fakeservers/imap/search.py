"""SEARCH criteria (RFC 3501 section 6.4.4): grammar and matching.

Criteria compile to predicates over a :class:`Candidate` (a message as one
session sees it: its sequence number, its flags with that session's
``\\Recent``). String criteria match case-insensitively as substrings;
header values are compared after decoding RFC 2047 encoded words, bodies
as their octets read as UTF-8 (transfer encodings are not undone).

Extension keys: ``$`` (SEARCHRES, RFC 5182), ``MODSEQ`` (CONDSTORE, RFC 7162
section 3.1.5), ``EMAILID``/``THREADID`` (OBJECTID, RFC 8474 section 6) and
Gmail's ``X-GM-RAW``, ``X-GM-MSGID`` and ``X-GM-THRID``. The parser notes in
``used`` which of MODSEQ and the Gmail keys appear: the first changes the
response (RFC 7162 section 3.1.5), the second is refused unless the Gmail
extensions are on.
"""

from __future__ import annotations

import email.errors
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from email.header import decode_header, make_header
from email.utils import parsedate_to_datetime

from fakeservers.imap import mime, objectids
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
    #: UIDs of the saved search result ``$`` (RFC 5182).
    saved: frozenset[int] = frozenset()


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


@dataclass
class _Context:
    charset: str
    used: set[str]


#: Marks in ``used``: a MODSEQ key, a Gmail key.
USES_MODSEQ = "MODSEQ"
USES_GMAIL = "X-GM"


def parse_criteria(
    reader: Reader, *, used: set[str] | None = None, charset: str = "US-ASCII"
) -> Predicate:
    """``["CHARSET" SP astring SP] search-key *(SP search-key)`` as one predicate.

    ``charset`` is the default when none is named (UTF-8 once UTF8=ACCEPT is
    enabled, RFC 6855 section 3). Raises SyntaxProblem, or BadCharset for a
    charset other than :data:`CHARSETS`.
    """
    if reader.skip(b"CHARSET "):
        charset = reader.astring().decode("ascii", "replace").upper()
        if charset not in CHARSETS:
            raise BadCharset(charset)
        reader.space()
    context = _Context(charset, used if used is not None else set())
    keys = [_key(reader, context, 0)]
    while not reader.at_end():
        reader.space()
        keys.append(_key(reader, context, 0))
    return _all(keys)


def _all(keys: list[Predicate]) -> Predicate:
    if len(keys) == 1:
        return keys[0]
    return lambda candidate: all(key(candidate) for key in keys)


def _key(reader: Reader, context: _Context, depth: int) -> Predicate:
    if depth > MAX_DEPTH:
        raise SyntaxProblem(f"search criteria nested deeper than {MAX_DEPTH}")
    if reader.skip(b"("):
        keys = [_key(reader, context, depth + 1)]
        while not reader.skip(b")"):
            reader.space()
            keys.append(_key(reader, context, depth + 1))
        return _all(keys)
    if reader.skip(b"$"):
        return lambda c: c.message.uid in c.saved
    if reader.peek(b"*") or reader.data[reader.position : reader.position + 1].isdigit():
        numbers = reader.sequence_set()
        return lambda c: numbers.contains(c.number, largest=c.last_number)
    name = reader.atom()
    if name in _FLAG_KEYS:
        flag, present = _FLAG_KEYS[name]
        return lambda c: (flag in c.flags) == present
    if name in _ADDRESS_KEYS:
        reader.space()
        return _header_contains(name, _text(reader, context))
    if name in _DATE_KEYS:
        reader.space()
        return _date_key(name, _date(reader))
    return _other_key(name, reader, context, depth)


def _other_key(name: str, reader: Reader, context: _Context, depth: int) -> Predicate:
    if name == "ALL":
        return lambda c: True
    if name in ("NEW", "OLD"):
        recent = name == "NEW"
        return lambda c: (
            ("\\Recent" in c.flags) == recent and (not recent or "\\Seen" not in c.flags)
        )
    if name == "NOT":
        reader.space()
        inner = _key(reader, context, depth + 1)
        return lambda c: not inner(c)
    if name == "OR":
        reader.space()
        left = _key(reader, context, depth + 1)
        reader.space()
        right = _key(reader, context, depth + 1)
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
        return _header_contains(field, _text(reader, context))
    if name in ("BODY", "TEXT"):
        reader.space()
        return _body_contains(_text(reader, context), with_header=name == "TEXT")
    return _extension_key(name, reader, context)


def _extension_key(name: str, reader: Reader, context: _Context) -> Predicate:
    if name == "MODSEQ":
        # MODSEQ [entry-name SP entry-type-req] SP mod-sequence-valzer (RFC 7162 3.1.5);
        # flags have no separate mod-sequences here, so the entry is only checked.
        reader.space()
        if reader.peek(b'"'):
            reader.string()
            reader.space()
            entry_type = reader.atom()
            if entry_type not in ("PRIV", "SHARED", "ALL"):
                raise SyntaxProblem(f"bad MODSEQ entry type {entry_type}")
            reader.space()
        modseq = _modseq(reader)
        context.used.add(USES_MODSEQ)
        return lambda c: c.message.modseq >= modseq
    if name in ("EMAILID", "THREADID"):
        reader.space()
        wanted = reader.raw_atom().decode("ascii")
        of = objectids.email_id if name == "EMAILID" else objectids.thread_id
        return lambda c: of(c.message) == wanted
    if name in ("X-GM-MSGID", "X-GM-THRID"):
        reader.space()
        number = _modseq(reader)
        context.used.add(USES_GMAIL)
        gmail = objectids.gmail_message_id if name == "X-GM-MSGID" else objectids.gmail_thread_id
        return lambda c: gmail(c.message) == number
    if name == "X-GM-RAW":
        reader.space()
        query = _text(reader, _Context("UTF-8", context.used))
        context.used.add(USES_GMAIL)
        return gmail_raw(query)
    raise SyntaxProblem(f"unknown search key {name}")


_BIG_NUMBER = re.compile(rb"\d{1,20}")


def _modseq(reader: Reader) -> int:
    """``mod-sequence-valzer``: 0 to 2^63-1 (RFC 7162 section 7)."""
    text = reader.token(_BIG_NUMBER)
    if not text or int(text) > 2**63 - 1:
        raise reader.fail("a mod-sequence value")
    return int(text)


_GMAIL_TERM = re.compile(r'(-?)(?:(\w+):)?("[^"]*"|\S+)')


def gmail_raw(query: str) -> Predicate:
    """A small subset of Gmail's search language (X-GM-RAW): words match TEXT;
    ``from:``, ``to:``, ``cc:``, ``subject:`` match those fields; ``is:unread``,
    ``is:read``, ``is:starred``; a leading ``-`` negates a term.
    """
    terms: list[Predicate] = []
    for negated, operator, raw_value in _GMAIL_TERM.findall(query):
        value = raw_value.strip('"').casefold()
        term: Predicate
        if operator in ("from", "to", "cc", "subject"):
            term = _header_contains(operator, value)
        elif operator == "is":
            flag, present = {
                "unread": ("\\Seen", False),
                "read": ("\\Seen", True),
                "starred": ("\\Flagged", True),
            }.get(value, ("\\Seen", True))
            term = _flag_is(flag, present)
        else:
            term = _body_contains((operator + ":" if operator else "") + value, with_header=True)
        terms.append(_negated(term) if negated else term)
    return _all(terms) if terms else (lambda c: True)


def _flag_is(flag: str, present: bool) -> Predicate:
    return lambda c: (flag in c.flags) == present


def _negated(term: Predicate) -> Predicate:
    return lambda c: not term(c)


def _text(reader: Reader, context: _Context) -> str:
    raw = reader.astring()
    charset = context.charset
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
    """A header value with RFC 2047 encoded words decoded (left as is when broken).

    Raw 8-bit octets (kept by the header parser as surrogate escapes) are read
    as UTF-8, as RFC 6532 header fields are; invalid UTF-8 becomes U+FFFD.
    """
    if not value.isascii():
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
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
