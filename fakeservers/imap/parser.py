"""IMAP4rev1 command grammar (RFC 3501 sections 6 and 9, plus the extensions served).

:func:`parse_command` turns one complete command (literals inline, final CRLF
removed) into a :class:`Command` whose ``args`` is a typed record per
command. Any input that is not a valid command raises :class:`ParseError`,
and nothing else: the session answers it with ``BAD`` (or ``NO`` with a
response code, such as ``BADCHARSET``), naming what was expected where.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from fakeservers.imap import utf7
from fakeservers.imap.dates import DateError, parse_date_time
from fakeservers.imap.reader import Reader, SyntaxProblem, is_atom
from fakeservers.imap.responses import string
from fakeservers.imap.search import CHARSETS, BadCharset, Predicate, parse_criteria
from fakeservers.imap.sequences import SequenceSet


class ParseError(ValueError):
    """The command is malformed; ``tag`` is known when the tag itself was readable."""

    def __init__(
        self, text: str, *, tag: str | None = None, status: str = "BAD", code: str | None = None
    ) -> None:
        super().__init__(text)
        self.text = text
        self.tag = tag
        self.status = status
        self.code = code


# -- argument records -----------------------------------------------------------


@dataclass(frozen=True)
class NoArguments:
    """CAPABILITY, NOOP, LOGOUT, STARTTLS, CHECK, CLOSE, EXPUNGE, UNSELECT, IDLE, NAMESPACE."""


@dataclass(frozen=True)
class Login:
    user: str
    password: str


@dataclass(frozen=True)
class Authenticate:
    mechanism: str
    #: The SASL-IR initial response as sent (base64 or ``=``), None when absent (RFC 4959).
    initial: bytes | None


@dataclass(frozen=True)
class MailboxName:
    """SELECT, EXAMINE, CREATE, DELETE, SUBSCRIBE, UNSUBSCRIBE."""

    mailbox: str


@dataclass(frozen=True)
class Rename:
    old: str
    new: str


@dataclass(frozen=True)
class ListMailboxes:
    """LIST and LSUB: reference and pattern, decoded from modified UTF-7."""

    reference: str
    pattern: str


@dataclass(frozen=True)
class Status:
    mailbox: str
    items: tuple[str, ...]


@dataclass(frozen=True)
class Append:
    mailbox: str
    flags: tuple[str, ...]
    internal_date: datetime | None
    message: bytes


@dataclass(frozen=True)
class Search:
    matches: Predicate
    uid: bool


@dataclass(frozen=True)
class Section:
    """``section``: part numbers, then "" / HEADER / HEADER.FIELDS[.NOT] / TEXT / MIME."""

    part: tuple[int, ...]
    text: str
    fields: tuple[str, ...] = ()

    def render(self) -> bytes:
        """The section as echoed in the FETCH response (RFC 3501 section 7.4.2)."""
        spec = ".".join([*(str(n) for n in self.part), *([self.text] if self.text else [])])
        rendered = spec.encode("ascii")
        if self.fields:
            names = [_field_name(field) for field in self.fields]
            rendered += b" (" + b" ".join(names) + b")"
        return b"[" + rendered + b"]"


def _field_name(name: str) -> bytes:
    """A header field name as ``astring``: bare when it is an atom, else a string."""
    octets = name.encode("utf-8")
    return octets if is_atom(octets) else string(octets)


@dataclass(frozen=True)
class FetchItem:
    """One ``fetch-att``; ``section`` is set for BODY[...] / BODY.PEEK[...]."""

    name: str
    section: Section | None = None
    partial: tuple[int, int] | None = None
    peek: bool = False


@dataclass(frozen=True)
class Fetch:
    messages: SequenceSet
    items: tuple[FetchItem, ...]
    uid: bool


@dataclass(frozen=True)
class Store:
    messages: SequenceSet
    #: ``replace``, ``add`` or ``remove`` (FLAGS, +FLAGS, -FLAGS).
    mode: str
    silent: bool
    flags: tuple[str, ...]
    uid: bool


@dataclass(frozen=True)
class Copy:
    messages: SequenceSet
    mailbox: str
    uid: bool


@dataclass(frozen=True)
class Expunge:
    """EXPUNGE, or UID EXPUNGE with its UID set (RFC 4315 section 2.1)."""

    uids: SequenceSet | None


@dataclass(frozen=True)
class Identify:
    """ID (RFC 2971): the client's parameters, or None for NIL."""

    parameters: tuple[tuple[str, str | None], ...] | None


_Args = TypeVar("_Args")

Arguments = (
    NoArguments
    | Login
    | Authenticate
    | MailboxName
    | Rename
    | ListMailboxes
    | Status
    | Append
    | Search
    | Fetch
    | Store
    | Copy
    | Expunge
    | Identify
)


@dataclass(frozen=True)
class Command:
    """A parsed command: ``name`` is upper-case (``UID FETCH`` is ``FETCH`` with uid set)."""

    tag: str
    name: str
    args: Arguments

    def arguments(self, kind: type[_Args]) -> _Args:
        """``args``, checked to be of the record type the handler expects."""
        if not isinstance(self.args, kind):
            raise TypeError(f"{self.name} carries {type(self.args).__name__}, not {kind.__name__}")
        return self.args

    @property
    def uid(self) -> bool:
        """Whether this is a UID command (RFC 3501 section 6.4.8)."""
        return bool(getattr(self.args, "uid", False)) or (
            isinstance(self.args, Expunge) and self.args.uids is not None
        )


# -- entry point ----------------------------------------------------------------


def parse_command(data: bytes) -> Command:
    """Parse one command (literals inline, without the final CRLF); raises ParseError."""
    reader = Reader(data)
    tag: str | None = None
    try:
        tag = reader.tag()
        reader.space()
        name = reader.atom()
        uid = name == "UID"
        if uid:
            reader.space()
            name = reader.atom()
            if name not in _UID_COMMANDS:
                raise SyntaxProblem(f"UID {name} is not a command")
        grammar = _GRAMMARS.get(name)
        if grammar is None:
            raise SyntaxProblem(f"unknown command {name}")
        args = grammar(reader, uid)
        reader.end()
        return Command(tag, name, args)
    except SyntaxProblem as problem:
        raise ParseError(str(problem), tag=tag) from None
    except BadCharset as charset:
        supported = " ".join(CHARSETS)
        raise ParseError(
            f"charset {charset} is not supported",
            tag=tag,
            status="NO",
            code=f"BADCHARSET ({supported})",
        ) from None


# -- grammars -------------------------------------------------------------------

Grammar = Callable[[Reader, bool], Arguments]


def _mailbox(reader: Reader) -> str:
    """``mailbox = "INBOX" / astring`` in modified UTF-7."""
    return _decode_name(reader.astring())


def _decode_name(octets: bytes) -> str:
    try:
        name = utf7.decode(octets)
    except utf7.MailboxNameError as error:
        raise SyntaxProblem(str(error)) from None
    return "INBOX" if name.upper() == "INBOX" else name


def _utf8(octets: bytes, what: str) -> str:
    try:
        return octets.decode("utf-8")
    except UnicodeDecodeError:
        raise SyntaxProblem(f"{what} is not valid UTF-8") from None


def _none(reader: Reader, uid: bool) -> Arguments:
    return NoArguments()


def _login(reader: Reader, uid: bool) -> Arguments:
    reader.space()
    user = _utf8(reader.astring(), "user name")
    reader.space()
    return Login(user, _utf8(reader.astring(), "password"))


def _authenticate(reader: Reader, uid: bool) -> Arguments:
    reader.space()
    mechanism = reader.atom()
    initial = None
    if reader.skip(b" "):
        initial = reader.raw_atom()  # base64 or "=" (RFC 4959 section 7)
    return Authenticate(mechanism, initial)


def _one_mailbox(reader: Reader, uid: bool) -> Arguments:
    reader.space()
    return MailboxName(_mailbox(reader))


def _rename(reader: Reader, uid: bool) -> Arguments:
    reader.space()
    old = _mailbox(reader)
    reader.space()
    return Rename(old, _mailbox(reader))


def _list(reader: Reader, uid: bool) -> Arguments:
    reader.space()
    reference = reader.astring()
    reader.space()
    pattern = reader.list_mailbox()
    try:
        return ListMailboxes(utf7.decode(reference), utf7.decode(pattern))
    except utf7.MailboxNameError as error:
        raise SyntaxProblem(str(error)) from None


_STATUS_ITEMS = ("MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN")


def _status(reader: Reader, uid: bool) -> Arguments:
    reader.space()
    mailbox = _mailbox(reader)
    reader.space()
    reader.expect(b"(", "'(' opening the status items")
    items = [reader.atom()]
    while not reader.skip(b")"):
        reader.space()
        items.append(reader.atom())
    unknown = [item for item in items if item not in _STATUS_ITEMS]
    if unknown:
        raise SyntaxProblem(f"unknown status item {unknown[0]}")
    return Status(mailbox, tuple(items))


def _append(reader: Reader, uid: bool) -> Arguments:
    reader.space()
    mailbox = _mailbox(reader)
    reader.space()
    flags: list[str] = []
    if reader.peek(b"("):
        flags = reader.flag_list()
        reader.space()
    internal_date = None
    if reader.peek(b'"'):
        try:
            internal_date = parse_date_time(reader.string())
        except DateError as error:
            raise SyntaxProblem(str(error)) from None
        reader.space()
    if not reader.peek(b"{"):
        raise reader.fail("the message as a literal")
    return Append(mailbox, tuple(flags), internal_date, reader.literal())


def _search(reader: Reader, uid: bool) -> Arguments:
    reader.space()
    return Search(parse_criteria(reader), uid)


def _fetch(reader: Reader, uid: bool) -> Arguments:
    reader.space()
    messages = reader.sequence_set()
    reader.space()
    if reader.skip(b"("):
        items = [_fetch_att(reader)]
        while not reader.skip(b")"):
            reader.space()
            items.append(_fetch_att(reader))
    else:
        word = reader.data[reader.position :].upper()
        items = list(_MACROS[word.decode("ascii")]) if word in _MACRO_NAMES else []
        if items:
            reader.position = len(reader.data)
        else:
            items = [_fetch_att(reader)]
    return Fetch(messages, tuple(items), uid)


_MACROS = {
    "ALL": (FetchItem("FLAGS"), FetchItem("INTERNALDATE"), FetchItem("RFC822.SIZE"),
            FetchItem("ENVELOPE")),
    "FAST": (FetchItem("FLAGS"), FetchItem("INTERNALDATE"), FetchItem("RFC822.SIZE")),
    "FULL": (FetchItem("FLAGS"), FetchItem("INTERNALDATE"), FetchItem("RFC822.SIZE"),
             FetchItem("ENVELOPE"), FetchItem("BODY")),
}  # fmt: skip
_MACRO_NAMES = {name.encode() for name in _MACROS}
_SIMPLE_ATTS = (
    "ENVELOPE",
    "FLAGS",
    "INTERNALDATE",
    "RFC822",
    "RFC822.HEADER",
    "RFC822.SIZE",
    "RFC822.TEXT",
    "BODY",
    "BODYSTRUCTURE",
    "UID",
)


def _fetch_att(reader: Reader) -> FetchItem:
    """One ``fetch-att`` (RFC 3501 section 9)."""
    start = reader.position
    name = reader.token(_ATT_NAME).decode("ascii").upper()
    if name in ("BODY", "BODY.PEEK") and reader.peek(b"["):
        section = _section(reader)
        partial = _partial(reader) if reader.peek(b"<") else None
        return FetchItem("BODY", section, partial, peek=name == "BODY.PEEK")
    if name not in _SIMPLE_ATTS:
        reader.position = start
        raise reader.fail("a FETCH data item")
    return FetchItem(name)


_ATT_NAME = re.compile(rb"[A-Za-z0-9.]*")
_SECTION_SPEC = re.compile(rb"[A-Za-z0-9.]*")
_SECTION_TEXTS = ("HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME")


def _section(reader: Reader) -> Section:
    reader.expect(b"[")
    spec = reader.token(_SECTION_SPEC).decode("ascii").upper()
    words = spec.split(".") if spec else []
    numbers: list[int] = []
    while words and words[0].isdigit() and words[0].isascii():
        if words[0].startswith("0"):
            raise SyntaxProblem("section part numbers start at 1")
        numbers.append(int(words.pop(0)))
    text = ".".join(words)
    if (text and text not in _SECTION_TEXTS) or (text == "MIME" and not numbers):
        raise SyntaxProblem(f"bad section [{spec}]")
    fields: list[str] = []
    if text.startswith("HEADER.FIELDS"):
        reader.space()
        reader.expect(b"(", "'(' opening the header field list")
        fields.append(_utf8(reader.astring(), "header field name").upper())
        while not reader.skip(b")"):
            reader.space()
            fields.append(_utf8(reader.astring(), "header field name").upper())
    reader.expect(b"]", "']' closing the section")
    return Section(tuple(numbers), text, tuple(fields))


def _partial(reader: Reader) -> tuple[int, int]:
    reader.expect(b"<")
    origin = reader.number()
    reader.expect(b".", "'.' in <origin.octets>")
    count = reader.number()
    if count == 0:
        raise SyntaxProblem("partial octet count must be at least 1")
    reader.expect(b">")
    return origin, count


def _store(reader: Reader, uid: bool) -> Arguments:
    reader.space()
    messages = reader.sequence_set()
    reader.space()
    mode = "add" if reader.skip(b"+") else "remove" if reader.skip(b"-") else "replace"
    reader.expect(b"FLAGS", "FLAGS, +FLAGS or -FLAGS")
    silent = reader.skip(b".SILENT")
    reader.space()
    flags = reader.flag_list() if reader.peek(b"(") else _bare_flags(reader)
    return Store(messages, mode, silent, tuple(flags), uid)


def _bare_flags(reader: Reader) -> list[str]:
    """``flag *(SP flag)`` without parentheses (RFC 3501 section 9 store-att-flags)."""
    flags = [reader.flag()]
    while reader.skip(b" "):
        flags.append(reader.flag())
    return flags


def _copy(reader: Reader, uid: bool) -> Arguments:
    reader.space()
    messages = reader.sequence_set()
    reader.space()
    return Copy(messages, _mailbox(reader), uid)


def _expunge(reader: Reader, uid: bool) -> Arguments:
    if not uid:
        return Expunge(None)
    reader.space()
    return Expunge(reader.sequence_set())


def _id(reader: Reader, uid: bool) -> Arguments:
    reader.space()
    if reader.skip(b"NIL"):
        return Identify(None)
    reader.expect(b"(", "'(' or NIL")
    pairs: list[tuple[str, str | None]] = []
    while not reader.skip(b")"):
        if pairs:
            reader.space()
        key = _utf8(reader.string(), "ID field")
        reader.space()
        value = reader.nstring()
        pairs.append((key, None if value is None else _utf8(value, "ID value")))
    return Identify(tuple(pairs))


_GRAMMARS: dict[str, Grammar] = {
    "CAPABILITY": _none,
    "NOOP": _none,
    "LOGOUT": _none,
    "STARTTLS": _none,
    "LOGIN": _login,
    "AUTHENTICATE": _authenticate,
    "SELECT": _one_mailbox,
    "EXAMINE": _one_mailbox,
    "CREATE": _one_mailbox,
    "DELETE": _one_mailbox,
    "RENAME": _rename,
    "SUBSCRIBE": _one_mailbox,
    "UNSUBSCRIBE": _one_mailbox,
    "LIST": _list,
    "LSUB": _list,
    "STATUS": _status,
    "APPEND": _append,
    "CHECK": _none,
    "CLOSE": _none,
    "UNSELECT": _none,
    "EXPUNGE": _expunge,
    "SEARCH": _search,
    "FETCH": _fetch,
    "STORE": _store,
    "COPY": _copy,
    "IDLE": _none,
    "NAMESPACE": _none,
    "ID": _id,
}
_UID_COMMANDS = ("FETCH", "STORE", "COPY", "SEARCH", "EXPUNGE")
