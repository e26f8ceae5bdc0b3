"""The MIME structure of a stored message: section octets, ENVELOPE, BODYSTRUCTURE.

The stdlib ``email`` package parses every header (Content-Type parameters,
RFC 2231 values, address lists), but it does not say *where* a part's octets
are, and FETCH ``BODY[1.2]`` must return them exactly (RFC 3501 section 6.4.5).
So this module finds the offsets itself: the blank line ending each header
and the boundary delimiter lines of each multipart (RFC 2046 section 5.1.1),
and hands each header block to ``email`` for the meaning. A :class:`Part`
keeps offsets into the message's bytes, so extracting a section copies only
what is sent.

Parsing is cached per message bytes object (:func:`parse`), because the
same message is fetched again and again and its bytes never change.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from email.message import Message as EmailMessage
from email.parser import BytesParser
from email.policy import compat32
from email.utils import collapse_rfc2231_value, getaddresses

from fakeservers.imap.responses import NIL, nstring, parenthesized, string

_HEADER_PARSER = BytesParser(policy=compat32)
_FOLD = re.compile(rb"\r?\n(?=[ \t])")
# One header field with its continuation lines (RFC 5322 section 2.2.3).
_FIELD = re.compile(rb"([^ \t\r\n:][^\r\n:]*):[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*(?:\r?\n|\Z)")
_ENVELOPE_FIELDS = ("date", "subject")
_ADDRESS_FIELDS = ("from", "sender", "reply-to", "to", "cc", "bcc")


@dataclass(frozen=True, eq=False)
class Part:
    """One MIME entity: header at ``data[start:body_start]``, body up to ``end``."""

    data: bytes
    start: int
    body_start: int
    end: int
    headers: EmailMessage
    #: The parts of a multipart, in order.
    children: tuple[Part, ...]
    #: The encapsulated message of a message/rfc822 part.
    message: Part | None

    @property
    def header_octets(self) -> memoryview:
        """The header including its terminating blank line (BODY[HEADER], BODY[n.MIME])."""
        return memoryview(self.data)[self.start : self.body_start]

    @property
    def body_octets(self) -> memoryview:
        """The body (BODY[TEXT], BODY[n])."""
        return memoryview(self.data)[self.body_start : self.end]

    @property
    def octets(self) -> memoryview:
        """The whole entity (BODY[])."""
        return memoryview(self.data)[self.start : self.end]

    @property
    def lines(self) -> int:
        """Body lines, counting a last line without a line ending (``body-fld-lines``)."""
        count = self.data.count(b"\n", self.body_start, self.end)
        if self.end > self.body_start and self.data[self.end - 1] != 0x0A:
            count += 1
        return count

    def raw_header(self, name: str) -> bytes | None:
        """The first field ``name`` exactly as sent but unfolded, or None."""
        wanted = name.lower()
        for field, value in self.headers.raw_items():
            if field.lower() == wanted:
                raw = str(value).encode("ascii", "surrogateescape")
                return _FOLD.sub(b"", raw).strip(b" \t\r\n")
        return None

    def header_fields(self, names: tuple[str, ...], *, exclude: bool) -> bytes:
        """The fields named (or all others) and a blank line: HEADER.FIELDS[.NOT]."""
        wanted = {name.lower() for name in names}
        chosen = [
            match.group()
            for match in _FIELD.finditer(self.data, self.start, self.body_start)
            if (match.group(1).decode("ascii", "replace").strip().lower() in wanted) != exclude
        ]
        return b"".join(chosen) + b"\r\n"

    def find(self, numbers: tuple[int, ...]) -> Part | None:
        """The part a section's part numbers name (RFC 3501 section 6.4.5), or None."""
        node: Part = self
        for number in numbers:
            found = node.child(number)
            if found is None:
                return None
            node = found
        return node

    def child(self, number: int) -> Part | None:
        """Part ``number`` inside this entity (a single-part entity is its own part 1)."""
        if self.children:
            return self.children[number - 1] if 0 < number <= len(self.children) else None
        if self.message is not None:
            return self.message.child(number)
        return self if number == 1 else None

    @functools.cached_property
    def envelope(self) -> bytes:
        """ENVELOPE of this message (RFC 3501 section 7.4.2)."""
        fields = [nstring(self.raw_header(name)) for name in _ENVELOPE_FIELDS]
        addresses = {name: _address_list(self.raw_header(name)) for name in _ADDRESS_FIELDS}
        # "If the Sender or Reply-To lines are absent ... the server sets it to From."
        for defaulted in ("sender", "reply-to"):
            if addresses[defaulted] == NIL:
                addresses[defaulted] = addresses["from"]
        fields += [addresses[name] for name in _ADDRESS_FIELDS]
        fields += [nstring(self.raw_header("in-reply-to")), nstring(self.raw_header("message-id"))]
        return parenthesized(fields)

    @functools.cached_property
    def body_structure(self) -> bytes:
        """BODYSTRUCTURE, with extension data (RFC 3501 section 7.4.2)."""
        return self._structure(extensible=True)

    @functools.cached_property
    def body(self) -> bytes:
        """BODY: the structure without extension data."""
        return self._structure(extensible=False)

    def _structure(self, *, extensible: bool) -> bytes:
        if self.children:
            items = [b"".join(child._structure(extensible=extensible) for child in self.children)]
            items.append(string(self.headers.get_content_subtype().upper().encode()))
            if extensible:
                items += [self._params(), *self._extension()]
            return b"(" + b" ".join(items) + b")"
        maintype = self.headers.get_content_maintype()
        items = [
            string(maintype.upper().encode()),
            string(self.headers.get_content_subtype().upper().encode()),
            self._params(),
            nstring(self.raw_header("content-id")),
            nstring(self.raw_header("content-description")),
            string((self.raw_header("content-transfer-encoding") or b"7BIT").upper()),
            b"%d" % (self.end - self.body_start),
        ]
        if self.message is not None:
            inner = self.message._structure(extensible=extensible)
            items += [self.message.envelope, inner, b"%d" % self.lines]
        elif maintype == "text":
            items.append(b"%d" % self.lines)
        if extensible:
            items += [nstring(self.raw_header("content-md5")), *self._extension()]
        return parenthesized(items)

    def _params(self, header: str = "content-type") -> bytes:
        params = self.headers.get_params(header=header) or []
        pairs = [(name, value) for name, value in params[1:] if name]
        is_text = header == "content-type" and self.headers.get_content_maintype() == "text"
        if is_text and not any(name.lower() == "charset" for name, _ in pairs):
            pairs.insert(0, ("charset", "US-ASCII"))  # RFC 2045 section 5.2 default
        if not pairs:
            return NIL
        return parenthesized(
            string(name.upper().encode()) + b" " + string(_param_octets(value))
            for name, value in pairs
        )

    def _extension(self) -> list[bytes]:
        """``body-fld-dsp body-fld-lang body-fld-loc`` (RFC 3501 section 9)."""
        disposition = self.headers.get_params(header="content-disposition")
        if disposition:
            kind = string(disposition[0][0].upper().encode("ascii", "surrogateescape"))
            dsp = b"(" + kind + b" " + self._params("content-disposition") + b")"
        else:
            dsp = NIL
        language = self.raw_header("content-language")
        lang = NIL if language is None else string(language)
        return [dsp, lang, nstring(self.raw_header("content-location"))]


def _param_octets(value: str | tuple[str, str, str]) -> bytes:
    text = collapse_rfc2231_value(value) if isinstance(value, tuple) else value
    return text.encode("utf-8", "surrogateescape")


def _address_list(raw: bytes | None) -> bytes:
    """``env-from`` etc.: a list of ``(name adl mailbox host)``, NIL if empty."""
    if raw is None:
        return NIL
    text = raw.decode("ascii", "surrogateescape")
    entries = []
    for name, address in getaddresses([text]):
        if not address:
            continue
        mailbox, _, host = address.rpartition("@") if "@" in address else (address, "", "")
        entries.append(
            parenthesized(
                [
                    nstring(_octets(name) or None),
                    NIL,
                    nstring(_octets(mailbox)),
                    nstring(_octets(host) or None),
                ]
            )
        )
    return b"(" + b"".join(entries) + b")" if entries else NIL


def _octets(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


@functools.lru_cache(maxsize=4096)
def parse(data: bytes) -> Part:
    """The MIME tree of a whole message (cached per bytes object; bytes hash once)."""
    return _parse_entity(data, 0, len(data), default_type="text/plain")


def _parse_entity(data: bytes, start: int, end: int, *, default_type: str) -> Part:
    body_start = _header_end(data, start, end)
    headers = _HEADER_PARSER.parsebytes(data[start:body_start], headersonly=True)
    if default_type != "text/plain":
        headers.set_default_type(default_type)
    children: tuple[Part, ...] = ()
    message: Part | None = None
    boundary = headers.get_boundary()
    if headers.get_content_maintype() == "multipart" and boundary:
        child_type = "message/rfc822" if headers.get_content_subtype() == "digest" else "text/plain"
        children = tuple(
            _parse_entity(data, part_start, part_end, default_type=child_type)
            for part_start, part_end in _split_multipart(data, body_start, end, boundary)
        )
    elif headers.get_content_type() == "message/rfc822":
        message = _parse_entity(data, body_start, end, default_type="text/plain")
    return Part(data, start, body_start, end, headers, children, message)


def _header_end(data: bytes, start: int, end: int) -> int:
    """Where the body starts: after the first empty line (CRLF or bare LF)."""
    for empty in (b"\r\n", b"\n"):
        if data.startswith(empty, start) and start + len(empty) <= end:
            return start + len(empty)
    # The CRLF form first; the bare-LF form only before it, so that a CRLF
    # message of many megabytes is not scanned to its end for "\n\n".
    crlf = data.find(b"\r\n\r\n", start, end)
    bound = end if crlf < 0 else crlf + 4
    bare = data.find(b"\n\n", start, bound)
    if bare >= 0:
        return bare + 2
    return bound


def _split_multipart(
    data: bytes, body_start: int, end: int, boundary: str
) -> list[tuple[int, int]]:
    """(start, end) of each body part between delimiter lines (RFC 2046 section 5.1.1).

    The line break before a delimiter belongs to the delimiter, not to the part.
    """
    delimiter = re.compile(
        rb"\r?\n--"
        + re.escape(boundary.encode("utf-8", "surrogateescape"))  # may hold U+FFFD
        + rb"(--)?[ \t]*(?:\r?\n|\Z)"
    )
    # Let a delimiter on the very first body line match, using the header's blank line.
    search_from = body_start
    if data.startswith(b"\n", body_start - 1):
        search_from -= 2 if data.startswith(b"\r\n", body_start - 2) else 1
    parts: list[tuple[int, int]] = []
    part_start: int | None = None
    for match in delimiter.finditer(data, search_from, end):
        if part_start is not None:
            parts.append((part_start, match.start()))
        if match.group(1):
            return parts
        part_start = match.end()
    if part_start is not None and part_start <= end:
        parts.append((part_start, end))
    return parts
