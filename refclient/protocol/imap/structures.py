"""Typed values of IMAP data: FETCH items, ENVELOPE, BODYSTRUCTURE (RFC 3501 section 7.4.2).

Real servers deviate (see shared reference notes): Exchange sends an
unparenthesized disposition, ``-1`` sizes and NIL for ``""``; Mail.ru sends
numbers like ``9.3736e+06``. The converters are lenient about such shapes
and report each as a :class:`~refclient.findings.Finding` in the ``findings``
list they are given, instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from refclient.findings import Finding, Severity
from refclient.protocol.errors import RemoteProtocolError
from refclient.protocol.imap.dates import parse_internal_date
from refclient.protocol.imap.parser import Value
from refclient.protocol.imap.utf7 import UTF7Error
from refclient.protocol.imap.utf7 import decode as decode_utf7

#: Deepest part nesting converted; the parser's own nesting bound is normally lower.
MAX_PART_DEPTH = 200


def as_text(value: Value) -> str | None:
    """A string value decoded (UTF-8, lenient), or None for NIL."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):  # a large literal is a bytearray (framing.py)
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    raise RemoteProtocolError(f"expected a string, got a list: {value!r}"[:200])


def as_int(value: Value, *, findings: list[Finding] | None = None, what: str = "number") -> int:
    """A number value; lenient on ``-1`` and float notation, each reported as a finding."""
    text = as_text(value)
    if text is None:
        raise RemoteProtocolError(f"expected a {what}, got NIL")
    try:
        number = int(text)
    except ValueError:
        try:
            number = int(float(text))
        except ValueError:
            raise RemoteProtocolError(f"expected a {what}, got {text!r}"[:200]) from None
        _note(findings, "imap.number-syntax", f"{what} written as {text!r}", text)
    if number < 0:
        _note(findings, "imap.negative-number", f"negative {what} {number}", text)
    return number


def as_list(value: Value) -> list[Value]:
    """A list value; NIL is the empty list."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    raise RemoteProtocolError(f"expected a list, got {value!r}"[:200])


def _note(findings: list[Finding] | None, ident: str, message: str, line: str) -> None:
    if findings is not None:
        findings.append(
            Finding(
                id=ident,
                severity=Severity.WARNING,
                reference="RFC 3501 section 9",
                message=message,
                line=line.encode("utf-8", "replace")[:200],
            )
        )


@dataclass(frozen=True)
class Address:
    """An ENVELOPE address: (name adl mailbox host)."""

    name: str | None
    route: str | None
    mailbox: str | None
    host: str | None

    def __init__(
        self, name: str | None, route: str | None, mailbox: str | None, host: str | None
    ) -> None:
        # Written out: the generated __init__ of a frozen dataclass sets each field
        # through object.__setattr__, twice the cost for an object made per address.
        fields = self.__dict__
        fields["name"] = name
        fields["route"] = route
        fields["mailbox"] = mailbox
        fields["host"] = host

    @property
    def email(self) -> str:
        """``mailbox@host`` (empty for group markers)."""
        if self.mailbox is None or self.host is None:
            return ""
        return f"{self.mailbox}@{self.host}"


@dataclass(frozen=True)
class Envelope:
    """The ENVELOPE structure (RFC 3501 section 7.4.2)."""

    date: str | None
    subject: str | None
    from_: tuple[Address, ...]
    sender: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    in_reply_to: str | None
    message_id: str | None

    def __init__(  # noqa: PLR0917  (the ten fields of RFC 3501 section 7.4.2)
        self,
        date: str | None,
        subject: str | None,
        from_: tuple[Address, ...],
        sender: tuple[Address, ...],
        reply_to: tuple[Address, ...],
        to: tuple[Address, ...],
        cc: tuple[Address, ...],
        bcc: tuple[Address, ...],
        in_reply_to: str | None,
        message_id: str | None,
    ) -> None:
        # Written out for speed, as Address.__init__.
        fields = self.__dict__
        fields["date"] = date
        fields["subject"] = subject
        fields["from_"] = from_
        fields["sender"] = sender
        fields["reply_to"] = reply_to
        fields["to"] = to
        fields["cc"] = cc
        fields["bcc"] = bcc
        fields["in_reply_to"] = in_reply_to
        fields["message_id"] = message_id


def _text(value: Value) -> str | None:
    """:func:`as_text`, with the common case (a string's octets) first."""
    if value.__class__ is bytes:
        return value.decode("utf-8", "replace")
    if value is None:
        return None
    return as_text(value)


#: Address lists already converted, by their fields: a mailbox's messages come from and
#: go to few addresses, and an Address is immutable, so equal lists share one tuple.
_ADDRESS_LISTS: dict[tuple[object, ...], tuple[Address, ...]] = {}
#: Most address lists kept (the cache starts over when full).
_ADDRESS_LISTS_MAX = 1024
#: Largest address list kept, in octets of its fields: the cache then holds a few MiB at
#: most, whatever a server sends (an address is some tens of octets).
_ADDRESS_KEY_OCTETS_MAX = 1024


def _key_octets(key: tuple[object, ...]) -> int:
    """The octets of an address-list key's fields (one address's, or each one's)."""
    total = 0
    for part in key:
        if isinstance(part, tuple):
            total += _key_octets(part)
        elif isinstance(part, bytes | str):
            total += len(part)
    return total


_list_iter = list.__iter__


def _addresses(raw: Value) -> tuple[Address, ...]:
    """An ENVELOPE address list (NIL is empty); each address has exactly 4 fields."""
    if raw is None:
        return ()
    key: tuple[object, ...] | None
    try:
        # One address (the common case) is keyed by its fields; more, by each one's.
        # list.__iter__ refuses anything but a list (an atom "abcd" in place of an
        # address must not pass for the address (a b c d)).
        key = (
            tuple(_list_iter(raw[0]))  # type: ignore[arg-type]
            if len(raw) == 1
            else tuple(map(tuple, map(_list_iter, raw)))  # type: ignore[arg-type]
        )
        known = _ADDRESS_LISTS.get(key)
    except TypeError:  # not a list of lists of strings: converted (or refused) below
        key = None
        known = None
    if known is not None:
        return known
    addresses = _convert_addresses(raw)
    if key is not None and _key_octets(key) <= _ADDRESS_KEY_OCTETS_MAX:
        if len(_ADDRESS_LISTS) >= _ADDRESS_LISTS_MAX:
            _ADDRESS_LISTS.clear()
        _ADDRESS_LISTS[key] = addresses
    return addresses


def _convert_addresses(raw: Value) -> tuple[Address, ...]:
    """:func:`_addresses` for a list not seen before."""
    result = []
    for entry in raw if raw.__class__ is list else as_list(raw):
        parts = entry if entry.__class__ is list else as_list(entry)
        if len(parts) != 4:
            raise RemoteProtocolError("ENVELOPE address without 4 fields")
        name, route, mailbox, host = parts
        result.append(
            Address(
                _text(name),
                _text(route),
                _text(mailbox),
                _text(host),
            )
        )
    return tuple(result)


def parse_envelope(value: Value) -> Envelope:
    """Convert a parsed ENVELOPE list.

    Sender and Reply-To are most often the From list again (RFC 3501 section
    7.4.2: the server fills them in from From when the header lacks them);
    an equal list is converted once and its (immutable) tuple shared.
    """
    items = value if value.__class__ is list else as_list(value)
    if len(items) != 10:
        raise RemoteProtocolError(f"ENVELOPE with {len(items)} fields instead of 10")
    date, subject, from_raw, sender_raw, reply_raw, to_raw, cc, bcc, in_reply_to, message_id = items
    from_ = _addresses(from_raw)
    return Envelope(
        _text(date),
        _text(subject),
        from_,
        from_ if sender_raw == from_raw else _addresses(sender_raw),
        from_ if reply_raw == from_raw else _addresses(reply_raw),
        _addresses(to_raw),
        () if cc is None else _addresses(cc),
        () if bcc is None else _addresses(bcc),
        None if in_reply_to is None else _text(in_reply_to),
        _text(message_id),
    )


@dataclass(frozen=True)
class BodyStructure:
    """One part of a BODYSTRUCTURE; ``parts`` holds the children of a multipart."""

    type: str
    subtype: str
    parameters: dict[str, str] = field(default_factory=dict)
    id: str | None = None
    description: str | None = None
    encoding: str | None = None
    size: int | None = None
    lines: int | None = None
    parts: tuple[BodyStructure, ...] = ()
    envelope: Envelope | None = None  # message/rfc822
    disposition: tuple[str, dict[str, str]] | None = None
    language: tuple[str, ...] = ()
    location: str | None = None

    def __init__(  # noqa: PLR0917  (the fields of RFC 3501 section 7.4.2's body)
        self,
        type: str,
        subtype: str,
        parameters: dict[str, str] | None = None,
        id: str | None = None,
        description: str | None = None,
        encoding: str | None = None,
        size: int | None = None,
        lines: int | None = None,
        parts: tuple[BodyStructure, ...] = (),
        envelope: Envelope | None = None,
        disposition: tuple[str, dict[str, str]] | None = None,
        language: tuple[str, ...] = (),
        location: str | None = None,
    ) -> None:
        # Written out for speed, as Address.__init__; no parameters is an empty dict.
        fields = self.__dict__
        fields["type"] = type
        fields["subtype"] = subtype
        fields["parameters"] = {} if parameters is None else parameters
        fields["id"] = id
        fields["description"] = description
        fields["encoding"] = encoding
        fields["size"] = size
        fields["lines"] = lines
        fields["parts"] = parts
        fields["envelope"] = envelope
        fields["disposition"] = disposition
        fields["language"] = language
        fields["location"] = location

    @property
    def is_multipart(self) -> bool:
        return self.type == "multipart"

    def walk(self) -> list[BodyStructure]:
        """This part and every part below it, depth first."""
        found = [self]
        for part in self.parts:
            found.extend(part.walk())
        return found


def _parameters(value: Value, findings: list[Finding]) -> dict[str, str]:
    """A body parameter list ``("CHARSET" "US-ASCII")``: names lower case, NIL is empty."""
    items = value if value.__class__ is list else as_list(value)
    if len(items) % 2:
        _note(findings, "imap.bodystructure-params", "odd parameter list", repr(items))
        items = items[:-1]
    parameters = {}
    for index in range(0, len(items), 2):
        name, text = items[index], items[index + 1]
        parameters[(_text(name) or "").lower()] = _text(text) or ""
    return parameters


def _disposition(value: Value, findings: list[Finding]) -> tuple[str, dict[str, str]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        # Exchange: an unparenthesized disposition string.
        _note(findings, "imap.bodystructure-disposition", "disposition not a list", repr(value))
        return (as_text(value) or "").lower(), {}
    if not value:
        return None
    params = _parameters(value[1], findings) if len(value) > 1 else {}
    return (as_text(value[0]) or "").lower(), params


def parse_bodystructure(value: Value, findings: list[Finding], *, depth: int = 0) -> BodyStructure:
    """Convert a parsed BODY / BODYSTRUCTURE list (lenient; deviations become findings)."""
    if depth > MAX_PART_DEPTH:
        raise RemoteProtocolError(f"BODYSTRUCTURE parts nested deeper than {MAX_PART_DEPTH}")
    items = value if value.__class__ is list else as_list(value)
    if not items:
        raise RemoteProtocolError("empty BODYSTRUCTURE")
    if items[0].__class__ is list:
        children = []
        index = 0
        while index < len(items) and isinstance(items[index], list):
            children.append(parse_bodystructure(items[index], findings, depth=depth + 1))
            index += 1
        subtype = (_text(items[index]) if index < len(items) else "mixed") or "mixed"
        extension = items[index + 1 :]
        return BodyStructure(
            type="multipart",
            subtype=subtype.lower(),
            parameters=_parameters(extension[0], findings) if extension else {},
            parts=tuple(children),
            disposition=_disposition(extension[1], findings) if len(extension) > 1 else None,
        )
    if len(items) < 7:
        raise RemoteProtocolError(f"body part with {len(items)} fields, at least 7 needed")
    main = (_text(items[0]) or "").lower()
    sub = (_text(items[1]) or "").lower()
    size = _number(items[6], findings, "body size")
    rest = items[7:]
    envelope = None
    lines: int | None = None
    parts: tuple[BodyStructure, ...] = ()
    if main == "text" and rest:
        lines = _number(rest[0], findings, "line count")
        rest = rest[1:]
    elif main == "message" and sub == "rfc822" and len(rest) >= 3:
        envelope = parse_envelope(rest[0])
        parts = (parse_bodystructure(rest[1], findings, depth=depth + 1),)
        lines = _number(rest[2], findings, "line count")
        rest = rest[3:]
    # Single-part extension data: md5, disposition, language, location.
    disposition = None
    language: tuple[str, ...] = ()
    location = None
    if len(rest) > 1:
        disposition = None if rest[1] is None else _disposition(rest[1], findings)
        if len(rest) > 2 and rest[2] is not None:
            raw = rest[2]
            language = tuple(_text(x) or "" for x in (raw if isinstance(raw, list) else [raw]))
        if len(rest) > 3 and rest[3] is not None:
            location = _text(rest[3])
    raw_parameters = items[2]
    identifier = items[3]
    description = items[4]
    encoding = items[5]
    return BodyStructure(
        main,
        sub,
        {} if raw_parameters is None else _parameters(raw_parameters, findings),
        None if identifier is None else _text(identifier),
        None if description is None else _text(description),
        _text(encoding),
        size,
        lines,
        parts,
        envelope,
        disposition,
        language,
        location,
    )


def _number(value: Value, findings: list[Finding], what: str) -> int:
    """:func:`as_int`, with the common case (an atom of decimal digits) first."""
    if value.__class__ is str and value.isdecimal():
        return int(value)
    return as_int(value, findings=findings, what=what)


@dataclass
class FetchData:
    """The items of one FETCH response, typed."""

    number: int
    uid: int | None = None
    flags: tuple[str, ...] | None = None
    internal_date: datetime | None = None
    size: int | None = None
    envelope: Envelope | None = None
    bodystructure: BodyStructure | None = None
    modseq: int | None = None
    #: RFC 8474 section 5: EMAILID and THREADID (None when NIL or not fetched).
    email_id: str | None = None
    thread_id: str | None = None
    #: Gmail's X-GM-EXT-1: X-GM-MSGID, X-GM-THRID, X-GM-LABELS (labels as written, decoded).
    gm_msgid: int | None = None
    gm_thrid: int | None = None
    gm_labels: tuple[str, ...] | None = None
    #: ``BINARY.SIZE[part]`` values by part (RFC 3516 section 4.3), e.g. ``{"1": 42}``.
    binary_sizes: dict[str, int] = field(default_factory=dict)
    #: Body sections by their name as the server wrote it, e.g. ``BODY[]``, ``BODY[HEADER]<0>``.
    #: The parser leaves a section of 1 MiB or more as the ``bytearray`` it was read
    #: into (:mod:`refclient.protocol.imap.framing`); ``IMAPSession.fetch`` hands out
    #: ``bytes`` only, and ``IMAPSession.save_message`` writes the bytearray unchanged.
    sections: dict[str, bytes | None] = field(default_factory=dict)
    #: Items this parser does not type, raw.
    other: dict[str, Value] = field(default_factory=dict)

    def body(self, section: str = "") -> bytes:
        """The octets of ``BODY[section]`` (also matches RFC822 for ``""``); raises KeyError."""
        wanted = f"BODY[{section.upper()}]"
        for name, data in self.sections.items():
            upper = name.upper()
            plain = upper.split("<", 1)[0]
            if plain == wanted or (section == "" and upper == "RFC822"):
                return data or b""
        raise KeyError(section)

    def binary(self, part: str = "") -> bytes:
        """The decoded octets of ``BINARY[part]`` (RFC 3516 section 4.2); raises KeyError."""
        wanted = f"BINARY[{part.upper()}]"
        for name, data in self.sections.items():
            if name.upper().split("<", 1)[0] == wanted:
                return data or b""
        raise KeyError(part)


def parse_fetch(number: int, value: list[Value], findings: list[Finding]) -> FetchData:
    """Convert ``* n FETCH (...)``'s list into :class:`FetchData`.

    A body section whose value is missing (Yandex sometimes writes
    ``BODY[1] UID 5``) is kept as None and reported, not fatal. The most
    frequent items (:data:`_COMMON_ITEMS`) are typed right here; body
    sections and the other items take the general path.
    """
    items = as_list(value[0]) if len(value) == 1 and isinstance(value[0], list) else value
    data = FetchData(number)
    index = 0
    count = len(items)
    common = _COMMON_ITEMS
    while index < count:
        name_value = items[index]
        if name_value.__class__ is not str:
            raise RemoteProtocolError(f"FETCH item name {name_value!r} is not an atom"[:200])
        kind = common.get(name_value)
        if kind is None:
            kind = common.get(name_value.upper())
        if kind is not None and index + 1 < count:
            item = items[index + 1]
            index += 2
            if kind == _UID:
                data.uid = _number(item, findings, "UID")
            elif kind == _FLAGS:
                data.flags = _flags(item)
            elif kind == _SIZE:
                data.size = _number(item, findings, "RFC822.SIZE")
            elif kind == _ENVELOPE:
                data.envelope = parse_envelope(item)
            else:
                data.bodystructure = parse_bodystructure(item, findings)
            continue
        name = name_value.upper()
        is_section = name.startswith(_SECTION_PREFIXES) or name in _RFC822_SECTIONS
        missing = index + 1 >= count or (is_section and items[index + 1].__class__ is str)
        if missing and not is_section:
            raise RemoteProtocolError(f"FETCH item {name_value} without a value"[:200])
        if missing:
            _note(findings, "imap.fetch-missing-value", f"{name_value} without a value", name)
            data.sections[name_value] = None
            index += 1
            continue
        item = items[index + 1]
        index += 2
        if is_section:  # a string (a str value was taken as missing above) or NIL
            if isinstance(item, list | str):
                raise RemoteProtocolError(f"{name_value} is a list, not a string"[:200])
            data.sections[name_value] = item
        else:
            _fetch_item(data, name, name_value, item, findings)
    return data


_UID, _FLAGS, _SIZE, _ENVELOPE, _BODYSTRUCTURE = range(5)
#: The most frequent FETCH items by their upper-case name, typed in :func:`parse_fetch`.
_COMMON_ITEMS = {
    "UID": _UID,
    "FLAGS": _FLAGS,
    "RFC822.SIZE": _SIZE,
    "ENVELOPE": _ENVELOPE,
    "BODYSTRUCTURE": _BODYSTRUCTURE,
    "BODY": _BODYSTRUCTURE,
}


def _flags(item: Value) -> tuple[str, ...]:
    """A FLAGS list (RFC 3501 section 7.4.2): atoms, taken as they are."""
    if item.__class__ is list:
        flags = tuple(item)
        for flag in flags:
            if flag.__class__ is not str:
                break
        else:
            return flags  # type: ignore[return-value]
    return tuple(as_text(flag) or "" for flag in as_list(item))


def _fetch_item(
    data: FetchData, name: str, name_value: str, item: Value, findings: list[Finding]
) -> None:
    if name == "UID":
        data.uid = as_int(item, findings=findings, what="UID")
    elif name == "FLAGS":
        data.flags = tuple(as_text(flag) or "" for flag in as_list(item))
    elif name == "INTERNALDATE":
        data.internal_date = _internal_date(as_text(item), findings)
    elif name == "RFC822.SIZE":
        data.size = as_int(item, findings=findings, what="RFC822.SIZE")
    elif name == "ENVELOPE":
        data.envelope = parse_envelope(item)
    elif name in {"BODYSTRUCTURE", "BODY"}:
        data.bodystructure = parse_bodystructure(item, findings)
    elif name == "MODSEQ":
        data.modseq = as_int(as_list(item)[0] if item else None, findings=findings, what="MODSEQ")
    elif name in ("EMAILID", "THREADID"):
        ident = None if item is None else _object_id(item, name)
        setattr(data, "email_id" if name == "EMAILID" else "thread_id", ident)
    elif name == "X-GM-MSGID":
        data.gm_msgid = as_int(item, findings=findings, what=name)
    elif name == "X-GM-THRID":
        data.gm_thrid = as_int(item, findings=findings, what=name)
    elif name == "X-GM-LABELS":
        data.gm_labels = tuple(_label(label) for label in as_list(item))
    elif name.startswith("BINARY.SIZE[") and name.endswith("]"):
        data.binary_sizes[name[12:-1]] = as_int(item, findings=findings, what=name)
    elif _is_section(name):
        if isinstance(item, list):
            raise RemoteProtocolError(f"{name_value} is a list, not a string"[:200])
        data.sections[name_value] = item.encode() if isinstance(item, str) else item
    else:
        data.other[name_value] = item


def _object_id(item: Value, name: str) -> str:
    """``(M6d99ac3275bb4e)`` of RFC 8474 section 5: one atom in parentheses."""
    inner = as_list(item)
    text = as_text(inner[0]) if len(inner) == 1 else None
    if not text:
        raise RemoteProtocolError(f"malformed {name} {item!r}"[:200])
    return text


def _label(value: Value) -> str:
    """A Gmail label: an atom (``\\Inbox``) or a string in modified UTF-7 or UTF-8."""
    if isinstance(value, list):
        raise RemoteProtocolError(f"X-GM-LABELS holds a list: {value!r}"[:200])
    if isinstance(value, bytes | bytearray):
        try:
            return decode_utf7(bytes(value))
        except UTF7Error:
            return value.decode("utf-8", "replace")
    return value or ""


def _is_section(name: str) -> bool:
    """Whether a FETCH item carries message octets (RFC 3501 section 7.4.2, RFC 3516)."""
    return name.startswith(_SECTION_PREFIXES) or name in _RFC822_SECTIONS


_SECTION_PREFIXES = ("BODY[", "BINARY[")


_RFC822_SECTIONS = frozenset({"RFC822", "RFC822.HEADER", "RFC822.TEXT"})


def merge_fetch(first: FetchData, second: FetchData) -> FetchData:
    """One message's items when the server split them over two FETCH responses.

    RFC 3501 section 7.4.2 lets a server send a message's data items in more
    than one response; the later value of an item wins.
    """
    merged = FetchData(first.number)
    for name in (
        "uid",
        "flags",
        "internal_date",
        "size",
        "envelope",
        "bodystructure",
        "modseq",
        "email_id",
        "thread_id",
        "gm_msgid",
        "gm_thrid",
        "gm_labels",
    ):
        later = getattr(second, name)
        setattr(merged, name, later if later is not None else getattr(first, name))
    merged.sections = {**first.sections, **second.sections}
    merged.other = {**first.other, **second.other}
    merged.binary_sizes = {**first.binary_sizes, **second.binary_sizes}
    return merged


def _internal_date(text: str | None, findings: list[Finding]) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_internal_date(text)
    except ValueError:
        _note(findings, "imap.internaldate-syntax", f"bad INTERNALDATE {text!r}", text)
        return None
