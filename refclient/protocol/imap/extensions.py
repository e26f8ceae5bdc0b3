"""Typed values of the IMAP extensions' responses, from parsed :class:`Untagged` values.

Each converter takes what :mod:`refclient.protocol.imap.parser` produced and
returns a small typed object; a malformed value is a
:class:`~refclient.protocol.errors.RemoteProtocolError`. Sans-IO like the
rest of the engine.

- UID sets (RFC 3501 section 9 ``sequence-set``; ``*`` is refused where the
  server must write numbers, as in COPYUID and VANISHED)
- ``[COPYUID v src dst]`` (RFC 4315 section 3, sent by MOVE too, RFC 6851
  section 4.3) and ``[APPENDUID v uid]``
- ``* VANISHED [(EARLIER)] uids`` (RFC 7162 section 3.2.10)
- ``* ESEARCH [(TAG "t")] [UID] MIN n MAX n COUNT n ALL set`` (RFC 4731 section 3.1)
- ``* LIST (attrs) delim name (CHILDINFO (...) OLDNAME (...))`` extended data
  (RFC 5258 section 3.5) and ``* STATUS`` (RFC 3501 section 7.2.4)
- ``* QUOTA root (res usage limit ...)`` and ``* QUOTAROOT mbox root...`` (RFC 9208 section 5)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from refclient.protocol.errors import RemoteProtocolError
from refclient.protocol.imap.parser import ResponseCode, Untagged, Value
from refclient.protocol.imap.structures import as_int, as_list, as_text

_RANGE = re.compile(r"(\d+)(?::(\d+))?")
#: More members than this in one set is a hostile server, not a mailbox (a bound on memory).
MAX_SET_MEMBERS = 10_000_000


def parse_uid_set(text: str, *, limit: int = MAX_SET_MEMBERS) -> list[int]:
    """``1:3,7`` as ``[1, 2, 3, 7]``, in the order written (RFC 3501 section 9).

    A range may be written high-to-low (``5:3`` is 3, 4, 5). Zero, ``*`` and
    more than ``limit`` members are malformed.
    """
    numbers: list[int] = []
    for part in text.split(","):
        match = _RANGE.fullmatch(part)
        if match is None:
            raise RemoteProtocolError(f"malformed UID set {text!r}"[:200])
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) else low
        low, high = min(low, high), max(low, high)
        if low == 0:
            raise RemoteProtocolError(f"UID 0 in {text!r}"[:200])
        if len(numbers) + high - low + 1 > limit:
            raise RemoteProtocolError(f"UID set of more than {limit} members")
        numbers.extend(range(low, high + 1))
    return numbers


@dataclass(frozen=True)
class CopyUID:
    """``[COPYUID uidvalidity source-uids destination-uids]`` (RFC 4315 section 3)."""

    uidvalidity: int
    source: tuple[int, ...]
    destination: tuple[int, ...]

    @property
    def mapping(self) -> dict[int, int]:
        """Each source UID's new UID."""
        return dict(zip(self.source, self.destination, strict=True))


def parse_copyuid(code: ResponseCode) -> CopyUID:
    """The COPYUID code; the two sets must have the same number of members."""
    if code.name != "COPYUID" or len(code.values) != 3:
        raise RemoteProtocolError(f"malformed COPYUID code {code.raw!r}"[:200])
    validity = as_int(code.values[0], what="UIDVALIDITY")
    source = parse_uid_set(as_text(code.values[1]) or "")
    destination = parse_uid_set(as_text(code.values[2]) or "")
    if len(source) != len(destination):
        raise RemoteProtocolError(
            f"COPYUID sets of different sizes ({len(source)} and {len(destination)})"
        )
    return CopyUID(validity, tuple(source), tuple(destination))


@dataclass(frozen=True)
class Vanished:
    """``* VANISHED`` (RFC 7162 section 3.2.10): UIDs expunged; EARLIER ones do not count."""

    uids: tuple[int, ...]
    earlier: bool


def parse_vanished(response: Untagged) -> Vanished:
    """A VANISHED response's UIDs and whether it is the ``(EARLIER)`` form."""
    values = list(response.values)
    earlier = False
    if values and isinstance(values[0], list):
        tags = [str(v).upper() for v in as_list(values.pop(0)) if isinstance(v, str)]
        earlier = "EARLIER" in tags
    if len(values) != 1 or not isinstance(values[0], str):
        raise RemoteProtocolError("malformed VANISHED response: one UID set expected")
    return Vanished(tuple(parse_uid_set(values[0])), earlier)


@dataclass(frozen=True)
class ESearch:
    """An ESEARCH response (RFC 4731 section 3.1); absent return items are None."""

    tag: str | None = None
    uid: bool = False
    min: int | None = None
    max: int | None = None
    count: int | None = None
    all: tuple[int, ...] | None = None
    modseq: int | None = None
    #: Return data this parser does not type (e.g. PARTIAL), raw.
    other: dict[str, Value] = field(default_factory=dict)


def parse_esearch(response: Untagged) -> ESearch:
    """Type an ``* ESEARCH`` response's values."""
    values = list(response.values)
    tag: str | None = None
    if values and isinstance(values[0], list):
        correlator = as_list(values.pop(0))
        if len(correlator) != 2 or str(correlator[0]).upper() != "TAG":
            raise RemoteProtocolError(f"malformed ESEARCH correlator {correlator!r}"[:200])
        tag = as_text(correlator[1])
    uid = False
    if values and isinstance(values[0], str) and values[0].upper() == "UID":
        uid = True
        values.pop(0)
    if len(values) % 2:
        raise RemoteProtocolError(f"ESEARCH return data without a value: {values!r}"[:200])
    numbers: dict[str, int] = {}
    found: tuple[int, ...] | None = None
    other: dict[str, Value] = {}
    for index in range(0, len(values), 2):
        name = as_text(values[index])
        if name is None or isinstance(values[index], list):
            raise RemoteProtocolError(f"ESEARCH return item {values[index]!r}"[:200])
        key, value = name.upper(), values[index + 1]
        if key in ("MIN", "MAX", "COUNT", "MODSEQ"):
            numbers[key] = as_int(value, what=f"ESEARCH {key}")
        elif key == "ALL":
            found = tuple(parse_uid_set(as_text(value) or ""))
        else:
            other[key] = value
    return ESearch(
        tag=tag,
        uid=uid,
        min=numbers.get("MIN"),
        max=numbers.get("MAX"),
        count=numbers.get("COUNT"),
        all=found,
        modseq=numbers.get("MODSEQ"),
        other=other,
    )


@dataclass(frozen=True)
class ListData:
    """The extended data of one LIST response (RFC 5258 section 3.5, RFC 6154)."""

    attributes: frozenset[str]
    delimiter: str | None
    name: Value
    #: ``CHILDINFO`` selection criteria that matched children (RFC 5258 section 3.5).
    childinfo: tuple[str, ...] = ()
    #: The name before a RENAME, if the server said (``OLDNAME``, RFC 5465 section 5.4).
    oldname: Value = None


def parse_list(response: Untagged) -> ListData:
    """``* LIST (attributes) delimiter name [(extended data)]``."""
    if len(response.values) < 3:
        raise RemoteProtocolError("malformed LIST response: fewer than three values")
    attributes, delimiter, name = response.values[:3]
    childinfo: tuple[str, ...] = ()
    oldname: Value = None
    if len(response.values) > 3:
        extended = as_list(response.values[3])
        for index in range(0, len(extended) - 1, 2):
            tag = (as_text(extended[index]) or "").upper()
            value = extended[index + 1]
            if tag == "CHILDINFO":
                childinfo = tuple((as_text(v) or "").upper() for v in as_list(value))
            elif tag == "OLDNAME":
                old = as_list(value)
                oldname = old[0] if old else None
    return ListData(
        attributes=frozenset(str(a) for a in as_list(attributes)),
        delimiter=as_text(delimiter),
        name=name,
        childinfo=childinfo,
        oldname=oldname,
    )


def parse_status(response: Untagged) -> tuple[Value, dict[str, Value]]:
    """``* STATUS name (item value ...)``: the raw name and the items (upper-case keys).

    Values stay raw: most are numbers, but MAILBOXID (RFC 8474) is a list.
    """
    if len(response.values) < 2:
        raise RemoteProtocolError("malformed STATUS response")
    pairs = as_list(response.values[1])
    if len(pairs) % 2:
        raise RemoteProtocolError(f"STATUS item without a value: {pairs!r}"[:200])
    items: dict[str, Value] = {}
    for index in range(0, len(pairs), 2):
        items[(as_text(pairs[index]) or "").upper()] = pairs[index + 1]
    return response.values[0], items


@dataclass(frozen=True)
class QuotaResource:
    """One resource of a quota root: usage and limit (RFC 9208 section 5.1)."""

    usage: int
    limit: int


def parse_quota(response: Untagged) -> tuple[str, dict[str, QuotaResource]]:
    """``* QUOTA root (resource usage limit ...)``."""
    if len(response.values) != 2:
        raise RemoteProtocolError("malformed QUOTA response")
    root = as_text(response.values[0]) or ""
    triples = as_list(response.values[1])
    if len(triples) % 3:
        raise RemoteProtocolError(f"QUOTA resources not in triples: {triples!r}"[:200])
    resources: dict[str, QuotaResource] = {}
    for index in range(0, len(triples), 3):
        name = (as_text(triples[index]) or "").upper()
        resources[name] = QuotaResource(
            as_int(triples[index + 1], what="quota usage"),
            as_int(triples[index + 2], what="quota limit"),
        )
    return root, resources


def parse_quotaroot(response: Untagged) -> tuple[Value, tuple[str, ...]]:
    """``* QUOTAROOT mailbox root...``: the raw mailbox name and its roots."""
    if not response.values:
        raise RemoteProtocolError("malformed QUOTAROOT response")
    roots = tuple(as_text(v) or "" for v in response.values[1:])
    return response.values[0], roots


def parse_object_id(value: Value) -> str:
    """``(F123abc)`` or a bare ``objectid`` (RFC 8474 section 4, 5): the identifier."""
    inner = as_list(value) if isinstance(value, list) else [value]
    if len(inner) != 1:
        raise RemoteProtocolError(f"malformed object id {value!r}"[:200])
    text = as_text(inner[0])
    if not text or not re.fullmatch(r"[A-Za-z0-9_-]{1,255}", text):
        raise RemoteProtocolError(f"malformed object id {value!r}"[:200])
    return text


@dataclass(frozen=True)
class NamespaceEntry:
    """One namespace of a NAMESPACE response (RFC 2342 section 5), names still raw.

    ``prefix`` is the mailbox-name prefix as sent (modified UTF-7 unless
    UTF8=ACCEPT); ``delimiter`` is None for a flat namespace (NIL);
    ``extensions`` holds Namespace_Response_Extensions (``"X-PARAM" ("a")``).
    """

    prefix: bytes
    delimiter: str | None
    extensions: dict[str, tuple[str, ...]] = field(default_factory=dict)


def parse_namespace(
    response: Untagged,
) -> tuple[list[NamespaceEntry], list[NamespaceEntry], list[NamespaceEntry]]:
    """``* NAMESPACE personal other shared`` (RFC 2342 section 5): each NIL or a list."""
    if len(response.values) != 3:
        raise RemoteProtocolError(
            f"NAMESPACE with {len(response.values)} groups instead of 3",
            reference="RFC 2342 section 5",
        )
    return (
        _namespace_group(response.values[0]),
        _namespace_group(response.values[1]),
        _namespace_group(response.values[2]),
    )


def _namespace_group(value: Value) -> list[NamespaceEntry]:
    entries = []
    for raw in as_list(value):
        items = as_list(raw)
        if len(items) < 2 or isinstance(items[0], list) or len(items) % 2:
            raise RemoteProtocolError(
                f"malformed namespace {items!r}"[:200], reference="RFC 2342 section 5"
            )
        prefix = items[0]
        extensions: dict[str, tuple[str, ...]] = {}
        for index in range(2, len(items), 2):
            values = tuple(as_text(item) or "" for item in as_list(items[index + 1]))
            extensions[(as_text(items[index]) or "").upper()] = values
        entries.append(
            NamespaceEntry(
                prefix=prefix.encode() if isinstance(prefix, str) else (prefix or b""),
                delimiter=as_text(items[1]),
                extensions=extensions,
            )
        )
    return entries


def parse_id(response: Untagged) -> dict[str, str | None] | None:
    """``* ID (field value ...)`` or ``* ID NIL`` (RFC 2971 section 3.2).

    Field names are kept as the server wrote them; a value may be NIL (None).
    """
    if len(response.values) != 1:
        raise RemoteProtocolError(
            "ID response without exactly one parameter list", reference="RFC 2971 section 4"
        )
    value = response.values[0]
    if value is None:
        return None
    pairs = as_list(value)
    if len(pairs) % 2 or any(isinstance(item, list) for item in pairs):
        raise RemoteProtocolError(
            f"malformed ID parameter list {pairs!r}"[:200], reference="RFC 2971 section 4"
        )
    return {as_text(pairs[i]) or "": as_text(pairs[i + 1]) for i in range(0, len(pairs), 2)}
