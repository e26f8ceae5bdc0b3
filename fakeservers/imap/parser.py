"""IMAP4rev1 command grammar (RFC 3501 sections 6 and 9, plus the extensions served).

Extensions parsed here: SELECT/EXAMINE parameters and FETCH/STORE modifiers of
CONDSTORE and QRESYNC (RFC 7162), SEARCH RETURN (ESEARCH, RFC 4731) and ``$``
(SEARCHRES, RFC 5182), MOVE (RFC 6851), ENABLE (RFC 5161), extended LIST
(RFC 5258, RFC 5819), CREATE with USE (RFC 6154), BINARY items and literal8
(RFC 3516), APPEND's UTF8 data extension (RFC 6855), COMPRESS (RFC 4978), the
QUOTA commands (RFC 9208), OBJECTID items (RFC 8474) and Gmail's X-GM items.

:func:`parse_command` turns one complete command (literals inline, final CRLF
removed) into a :class:`Command` whose ``args`` is a typed record per
command. Any input that is not a valid command raises :class:`ParseError`,
and nothing else: the session answers it with ``BAD`` (or ``NO`` with a
response code, such as ``BADCHARSET``), naming what was expected where.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
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
class Qresync:
    """The QRESYNC SELECT parameter (RFC 7162 section 3.2.5)."""

    uidvalidity: int
    modseq: int
    known_uids: SequenceSet | None
    #: (known sequence numbers, the UIDs they correspond to), or None.
    seq_match: tuple[SequenceSet, SequenceSet] | None


@dataclass(frozen=True)
class Select:
    """SELECT and EXAMINE with their parameters (RFC 4466 section 2.1, RFC 7162)."""

    mailbox: str
    condstore: bool = False
    qresync: Qresync | None = None


@dataclass(frozen=True)
class Create:
    """CREATE, with the special uses asked for (CREATE-SPECIAL-USE, RFC 6154 section 3)."""

    mailbox: str
    uses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Enable:
    """ENABLE (RFC 5161): the capability names, as sent."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class Compress:
    """COMPRESS (RFC 4978): the mechanism name."""

    mechanism: str


@dataclass(frozen=True)
class QuotaRoot:
    """GETQUOTA (a quota root) and GETQUOTAROOT (a mailbox), RFC 9208 section 4."""

    name: str


@dataclass(frozen=True)
class SetQuota:
    """SETQUOTA (RFC 9208 section 4.5): root and (resource, limit) pairs."""

    root: str
    limits: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Rename:
    old: str
    new: str


@dataclass(frozen=True)
class ListMailboxes:
    """LIST and LSUB: reference and pattern, decoded from modified UTF-7.

    The extended form (RFC 5258) adds selection options, several patterns and
    return options; ``status`` holds the items of RETURN (STATUS (...)) (RFC 5819).
    """

    reference: str
    pattern: str
    patterns: tuple[str, ...] = ()
    selection: tuple[str, ...] = ()
    returns: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    extended: bool = False


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
    #: Sent as ``UTF8 (~{n})`` (RFC 6855 section 4).
    utf8: bool = False


@dataclass(frozen=True)
class Search:
    matches: Predicate
    uid: bool
    #: RETURN options (ESEARCH, RFC 4731 section 3.1), None without RETURN.
    returns: tuple[str, ...] | None = None
    #: Which notable keys appear (``search.USES_MODSEQ``, ``search.USES_GMAIL``).
    used: frozenset[str] = frozenset()


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
    """One ``fetch-att``; ``section`` is set for BODY[...] / BODY.PEEK[...].

    BINARY[...] and BINARY.SIZE[...] (RFC 3516) carry their part numbers in
    ``section`` too; BINARY.SIZE counts as a peek, since it does not set ``\\Seen``.
    """

    name: str
    section: Section | None = None
    partial: tuple[int, int] | None = None
    peek: bool = False


@dataclass(frozen=True)
class Fetch:
    messages: SequenceSet
    items: tuple[FetchItem, ...]
    uid: bool
    #: CHANGEDSINCE and VANISHED modifiers (RFC 7162 sections 3.1.4.1 and 3.2.6).
    changed_since: int | None = None
    vanished: bool = False


@dataclass(frozen=True)
class Store:
    messages: SequenceSet
    #: ``replace``, ``add`` or ``remove`` (FLAGS, +FLAGS, -FLAGS).
    mode: str
    silent: bool
    flags: tuple[str, ...]
    uid: bool
    #: The UNCHANGEDSINCE modifier (RFC 7162 section 3.1.3).
    unchanged_since: int | None = None
    #: ``FLAGS``, or Gmail's ``X-GM-LABELS`` (then ``flags`` holds the labels).
    item: str = "FLAGS"


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
    | Select
    | Create
    | Enable
    | Compress
    | QuotaRoot
    | SetQuota
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


def parse_command(
    data: bytes, *, utf8: str | None = None, literals: Mapping[int, bytes] | None = None
) -> Command:
    """Parse one command (literals inline, without the final CRLF); raises ParseError.

    ``utf8`` says what the session enabled that makes strings UTF-8 (the SEARCH
    grammar depends on it): ``"UTF8=ACCEPT"``, ``"IMAP4rev2"`` or None.
    ``literals``, when given, holds the literals' octets apart from ``data``
    (as the framing layer reads them: :class:`~fakeservers.imap.framing.Framed`).
    """
    reader = Reader(data, literals)
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
        args = _search(reader, uid, utf8=utf8) if name == "SEARCH" else grammar(reader, uid)
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
    """Modified UTF-7, or UTF-8 when the name has 8-bit octets (UTF8=ACCEPT, RFC 6855 3)."""
    if not octets.isascii():
        name = _utf8(octets, "mailbox name")
        return "INBOX" if name.upper() == "INBOX" else name
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


def _select(reader: Reader, uid: bool) -> Arguments:
    """``select-params`` (RFC 4466 section 2.1): CONDSTORE and QRESYNC (RFC 7162)."""
    reader.space()
    mailbox = _mailbox(reader)
    condstore, qresync = False, None
    if reader.skip(b" ("):
        while True:
            name = reader.atom()
            if name == "CONDSTORE":
                condstore = True
            elif name == "QRESYNC":
                reader.space()
                qresync = _qresync(reader)
            else:
                raise SyntaxProblem(f"unknown SELECT parameter {name}")
            if reader.skip(b")"):
                break
            reader.space()
    return Select(mailbox, condstore, qresync)


def _qresync(reader: Reader) -> Qresync:
    """``"(" uidvalidity SP mod-sequence-value [SP known-uids] [SP seq-match-data] ")"``."""
    reader.expect(b"(", "'(' opening the QRESYNC parameters")
    uidvalidity = reader.number()
    reader.space()
    modseq = _modseq_value(reader)
    known_uids: SequenceSet | None = None
    seq_match: tuple[SequenceSet, SequenceSet] | None = None
    if reader.skip(b" "):
        if not reader.peek(b"("):
            known_uids = reader.sequence_set()
            if not reader.skip(b" "):
                reader.expect(b")", "')' closing the QRESYNC parameters")
                return Qresync(uidvalidity, modseq, known_uids, None)
        reader.expect(b"(", "'(' opening the sequence match data")
        numbers = reader.sequence_set()
        reader.space()
        seq_match = (numbers, reader.sequence_set())
        reader.expect(b")", "')' closing the sequence match data")
    reader.expect(b")", "')' closing the QRESYNC parameters")
    if uidvalidity == 0 or modseq == 0:
        raise SyntaxProblem("QRESYNC needs a non-zero UIDVALIDITY and mod-sequence")
    return Qresync(uidvalidity, modseq, known_uids, seq_match)


_MODSEQ_VALUE = re.compile(rb"\d{1,20}")


def _modseq_value(reader: Reader) -> int:
    """``mod-sequence-value``: up to 2^63-1 (RFC 7162 section 7)."""
    text = reader.token(_MODSEQ_VALUE)
    if not text or int(text) > 2**63 - 1:
        raise reader.fail("a mod-sequence value")
    return int(text)


def _create(reader: Reader, uid: bool) -> Arguments:
    """CREATE with ``create-param`` USE (RFC 6154 section 6)."""
    reader.space()
    mailbox = _mailbox(reader)
    uses: list[str] = []
    if reader.skip(b" ("):
        reader.expect(b"USE", "USE")
        reader.space()
        uses = reader.flag_list()
        reader.expect(b")", "')' closing the CREATE parameters")
    return Create(mailbox, tuple(uses))


def _enable(reader: Reader, uid: bool) -> Arguments:
    """``ENABLE 1*(SP capability)`` (RFC 5161 section 4)."""
    names = []
    while reader.skip(b" "):
        names.append(reader.raw_atom().decode("ascii"))
    if not names:
        raise reader.fail("a capability name")
    return Enable(tuple(names))


def _compress(reader: Reader, uid: bool) -> Arguments:
    reader.space()
    return Compress(reader.atom())


def _quota_root(reader: Reader, uid: bool) -> Arguments:
    reader.space()
    return QuotaRoot(_utf8(reader.astring(), "quota root"))


def _quota_mailbox(reader: Reader, uid: bool) -> Arguments:
    reader.space()
    return QuotaRoot(_mailbox(reader))


def _setquota(reader: Reader, uid: bool) -> Arguments:
    """``SETQUOTA quota-root SP "(" [setquota-resource *(SP ...)] ")"`` (RFC 9208 section 9)."""
    reader.space()
    root = _utf8(reader.astring(), "quota root")
    reader.space()
    reader.expect(b"(", "'(' opening the quota limits")
    limits: list[tuple[str, int]] = []
    while not reader.skip(b")"):
        if limits:
            reader.space()
        resource = reader.atom()
        reader.space()
        limits.append((resource, _modseq_value(reader)))
    return SetQuota(root, tuple(limits))


def _rename(reader: Reader, uid: bool) -> Arguments:
    reader.space()
    old = _mailbox(reader)
    reader.space()
    return Rename(old, _mailbox(reader))


def _list(reader: Reader, uid: bool) -> Arguments:
    """LIST, with the extended form of RFC 5258 section 6 (and RFC 5819's STATUS)."""
    reader.space()
    selection: tuple[str, ...] = ()
    extended = False
    if reader.peek(b"("):
        selection = tuple(_atom_list(reader))
        reader.space()
        extended = True
    reference = reader.astring()
    reader.space()
    if reader.skip(b"("):
        patterns = [reader.list_mailbox()]
        while not reader.skip(b")"):
            reader.space()
            patterns.append(reader.list_mailbox())
        extended = True
    else:
        patterns = [reader.list_mailbox()]
    returns: list[str] = []
    status: list[str] = []
    if reader.skip(b" RETURN "):
        extended = True
        reader.expect(b"(", "'(' opening the return options")
        while not reader.skip(b")"):
            if returns:
                reader.space()
            option = reader.atom()
            returns.append(option)
            if option == "STATUS":
                reader.space()
                status = _status_items(reader)
    decoded = [_decode_name(pattern) if pattern else "" for pattern in patterns]
    return ListMailboxes(
        _decode_name(reference) if reference else "",
        decoded[0],
        tuple(decoded),
        selection,
        tuple(returns),
        tuple(status),
        extended,
    )


def _atom_list(reader: Reader) -> list[str]:
    """``"(" [atom *(SP atom)] ")"``."""
    reader.expect(b"(", "'('")
    atoms: list[str] = []
    while not reader.skip(b")"):
        if atoms:
            reader.space()
        atoms.append(reader.atom())
    return atoms


_STATUS_ITEMS = (
    "MESSAGES",
    "RECENT",
    "UIDNEXT",
    "UIDVALIDITY",
    "UNSEEN",
    "HIGHESTMODSEQ",  # RFC 7162 section 3.1.9
    "APPENDLIMIT",  # RFC 7889 section 4
    "MAILBOXID",  # RFC 8474 section 4.3
    "SIZE",  # RFC 8438
    "DELETED",  # RFC 9208 section 4.1.4
    "DELETED-STORAGE",  # RFC 9208 section 4.1.4
)


def _status(reader: Reader, uid: bool) -> Arguments:
    reader.space()
    mailbox = _mailbox(reader)
    reader.space()
    return Status(mailbox, tuple(_status_items(reader)))


def _status_items(reader: Reader) -> list[str]:
    reader.expect(b"(", "'(' opening the status items")
    items = [reader.atom()]
    while not reader.skip(b")"):
        reader.space()
        items.append(reader.atom())
    unknown = [item for item in items if item not in _STATUS_ITEMS]
    if unknown:
        raise SyntaxProblem(f"unknown status item {unknown[0]}")
    return items


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
    if reader.skip(b"UTF8 ("):  # RFC 6855 section 4: "UTF8" SP "(" literal8 ")"
        if not reader.peek(b"~{"):
            raise reader.fail("a literal8 inside UTF8 (...)")
        message = reader.literal()
        reader.expect(b")", "')' closing UTF8 (...)")
        return Append(mailbox, tuple(flags), internal_date, message, utf8=True)
    if not (reader.peek(b"{") or reader.peek(b"~{")):  # literal8: RFC 3516 section 4.2
        raise reader.fail("the message as a literal")
    return Append(mailbox, tuple(flags), internal_date, reader.literal())


_RETURN_OPTIONS = ("MIN", "MAX", "ALL", "COUNT", "SAVE")


def _search(reader: Reader, uid: bool, *, utf8: str | None = None) -> Arguments:
    """SEARCH with RETURN options (ESEARCH, RFC 4731 section 3.1; SAVE, RFC 5182).

    Strings are UTF-8 once the session enabled UTF8=ACCEPT or IMAP4rev2. After
    ENABLE UTF8=ACCEPT a client must not name a CHARSET, and the server should
    answer BAD if it does (RFC 6855 section 3, erratum 4029); IMAP4rev2 keeps
    CHARSET (RFC 9051 section 6.4.4).
    """
    reader.space()
    returns: tuple[str, ...] | None = None
    if reader.skip(b"RETURN "):
        returns = tuple(_atom_list(reader))
        unknown = [option for option in returns if option not in _RETURN_OPTIONS]
        if unknown:
            raise SyntaxProblem(f"unknown SEARCH return option {unknown[0]}")
        reader.space()
    if utf8 == "UTF8=ACCEPT" and reader.peek(b"CHARSET "):
        raise SyntaxProblem("no CHARSET after ENABLE UTF8=ACCEPT (RFC 6855 section 3)")
    used: set[str] = set()
    matches = parse_criteria(reader, used=used, charset="UTF-8" if utf8 else "US-ASCII")
    return Search(matches, uid, returns, frozenset(used))


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
        macro = _MACRO.match(reader.data, reader.position)
        if macro is not None:
            items = list(_MACROS[macro.group(1).decode("ascii").upper()])
            reader.position = macro.end(1)
        else:
            items = [_fetch_att(reader)]
    changed_since: int | None = None
    vanished = False
    if reader.skip(b" ("):  # fetch-modifiers (RFC 4466 section 2.4, RFC 7162)
        while True:
            modifier = reader.atom()
            if modifier == "CHANGEDSINCE":
                reader.space()
                changed_since = _modseq_value(reader)
            elif modifier == "VANISHED":
                vanished = True
            else:
                raise SyntaxProblem(f"unknown FETCH modifier {modifier}")
            if reader.skip(b")"):
                break
            reader.space()
    if vanished and (not uid or changed_since is None):
        # RFC 7162 section 3.2.6: only UID FETCH, and only with CHANGEDSINCE.
        raise SyntaxProblem("VANISHED needs UID FETCH and CHANGEDSINCE")
    return Fetch(messages, tuple(items), uid, changed_since, vanished)


_MACROS = {
    "ALL": (FetchItem("FLAGS"), FetchItem("INTERNALDATE"), FetchItem("RFC822.SIZE"),
            FetchItem("ENVELOPE")),
    "FAST": (FetchItem("FLAGS"), FetchItem("INTERNALDATE"), FetchItem("RFC822.SIZE")),
    "FULL": (FetchItem("FLAGS"), FetchItem("INTERNALDATE"), FetchItem("RFC822.SIZE"),
             FetchItem("ENVELOPE"), FetchItem("BODY")),
}  # fmt: skip
_MACRO = re.compile(rb"(?i)(ALL|FAST|FULL)(?= |\Z)")
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
    "MODSEQ",  # RFC 7162 section 3.1.4
    "EMAILID",  # RFC 8474 section 5.1
    "THREADID",  # RFC 8474 section 5.2
    "X-GM-MSGID",
    "X-GM-THRID",
    "X-GM-LABELS",
)


def _fetch_att(reader: Reader) -> FetchItem:
    """One ``fetch-att`` (RFC 3501 section 9)."""
    start = reader.position
    name = reader.token(_ATT_NAME).decode("ascii").upper()
    if name in ("BODY", "BODY.PEEK") and reader.peek(b"["):
        section = _section(reader)
        partial = _partial(reader) if reader.peek(b"<") else None
        return FetchItem("BODY", section, partial, peek=name == "BODY.PEEK")
    if name in ("BINARY", "BINARY.PEEK", "BINARY.SIZE"):
        # "[" [section-part] "]" (RFC 3516 section 4.1); partial only for BINARY[.PEEK].
        reader.expect(b"[", "'[' opening the binary section")
        spec = reader.token(_SECTION_SPEC).decode("ascii")
        numbers = spec.split(".") if spec else []
        if not all(n.isdigit() and n.isascii() and not n.startswith("0") for n in numbers):
            raise SyntaxProblem(f"bad binary section [{spec}]")
        reader.expect(b"]", "']' closing the section")
        section = Section(tuple(int(n) for n in numbers), "")
        if name == "BINARY.SIZE":
            return FetchItem("BINARY.SIZE", section, None, peek=True)
        partial = _partial(reader) if reader.peek(b"<") else None
        return FetchItem("BINARY", section, partial, peek=name == "BINARY.PEEK")
    if name not in _SIMPLE_ATTS:
        reader.position = start
        raise reader.fail("a FETCH data item")
    return FetchItem(name)


_ATT_NAME = re.compile(rb"[A-Za-z0-9.-]*")
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
    unchanged_since: int | None = None
    if reader.skip(b"("):  # store-modifiers (RFC 4466 section 2.5, RFC 7162 3.1.3)
        reader.expect(b"UNCHANGEDSINCE ", "UNCHANGEDSINCE")
        unchanged_since = _modseq_value(reader)
        reader.expect(b") ", "')' closing the STORE modifiers")
    mode = "add" if reader.skip(b"+") else "remove" if reader.skip(b"-") else "replace"
    if reader.skip(b"X-GM-LABELS"):  # Gmail's IMAP extensions: labels are astrings
        silent = reader.skip(b".SILENT")
        reader.space()
        labels = tuple(_gm_labels(reader))
        return Store(messages, mode, silent, labels, uid, unchanged_since, item="X-GM-LABELS")
    reader.expect(b"FLAGS", "FLAGS, +FLAGS or -FLAGS")
    silent = reader.skip(b".SILENT")
    reader.space()
    flags = reader.flag_list() if reader.peek(b"(") else _bare_flags(reader)
    return Store(messages, mode, silent, tuple(flags), uid, unchanged_since)


def _gm_labels(reader: Reader) -> list[str]:
    """``"(" [label *(SP label)] ")"``, or labels without parentheses."""
    parenthesized = reader.skip(b"(")
    if parenthesized and reader.skip(b")"):
        return []
    labels = [_gm_label(reader)]
    while reader.skip(b" "):
        labels.append(_gm_label(reader))
    if parenthesized:
        reader.expect(b")", "')' closing the labels")
    return labels


def _gm_label(reader: Reader) -> str:
    """A system label (``\\Inbox``, bare or quoted) or an astring naming a mailbox.

    Mailbox names come in modified UTF-7, or UTF-8 with 8-bit octets, as anywhere.
    """
    if reader.skip(b"\\"):
        return "\\" + reader.raw_atom().decode("ascii")
    label = reader.astring()
    if label.startswith(b"\\"):
        return _utf8(label, "label")
    return _decode_name(label)


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
    "SELECT": _select,
    "EXAMINE": _select,
    "CREATE": _create,
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
    "MOVE": _copy,  # RFC 6851 section 3.1: the same arguments as COPY
    "IDLE": _none,
    "NAMESPACE": _none,
    "ID": _id,
    "ENABLE": _enable,
    "COMPRESS": _compress,
    "GETQUOTA": _quota_root,
    "GETQUOTAROOT": _quota_mailbox,
    "SETQUOTA": _setquota,
}
_UID_COMMANDS = ("FETCH", "STORE", "COPY", "MOVE", "SEARCH", "EXPUNGE")
