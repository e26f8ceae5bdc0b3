"""Parse one framed IMAP response into an event (RFC 3501 section 7 and 9).

Values use plain Python types: an atom is ``str`` (numbers, flags like
``\\Seen`` and section specs like ``BODY[HEADER]<0>`` included), a string
(quoted, literal or RFC 3516 literal8 ``~{n}``) is ``bytes``, NIL is
``None``, a parenthesized list is a ``list``. Converting values to typed
structures (ENVELOPE, BODYSTRUCTURE, FETCH items) is :mod:`refclient.protocol.imap.structures`' job.

Nesting is bounded (a 10,000-level BODYSTRUCTURE is a RemoteProtocolError,
not a RecursionError): lists are built with an explicit stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from refclient.protocol.errors import RemoteProtocolError
from refclient.protocol.imap.framing import Frame

Value = str | bytes | None | list["Value"]

_ATOM = re.compile(rb'[^\x00-\x20()"{\x7f\[\]]+')
_QUOTED = re.compile(rb'"((?:[^"\\\r\n]|\\.)*)"')
_UNESCAPE = re.compile(rb"\\(.)")
_SECTION_END = re.compile(rb"\]")
_PARTIAL = re.compile(rb"<[0-9.]+>")

#: Status words of a status response (RFC 3501 section 7.1).
STATUS_WORDS = frozenset({"OK", "NO", "BAD", "BYE", "PREAUTH"})


@dataclass(frozen=True)
class ResponseCode:
    """A response code such as ``[UIDVALIDITY 3857529045]`` (RFC 3501 section 7.1)."""

    name: str
    values: tuple[Value, ...] = ()
    raw: str = ""


@dataclass(frozen=True)
class Continuation:
    """``+ text``: the server waits for a literal or a SASL response."""

    text: bytes


@dataclass(frozen=True)
class Tagged:
    """The tagged completion of a command."""

    tag: str
    status: str
    code: ResponseCode | None
    text: str


@dataclass(frozen=True)
class Untagged:
    """An untagged response: a status (``* OK ...``) or data (``* 3 EXISTS``)."""

    name: str  # upper case: OK, BYE, CAPABILITY, FETCH, EXISTS ...
    number: int | None = None
    values: list[Value] = field(default_factory=list)
    code: ResponseCode | None = None
    text: str = ""

    @property
    def is_status(self) -> bool:
        """Whether this is a status response (OK, NO, BAD, BYE, PREAUTH)."""
        return self.name in STATUS_WORDS


Response = Continuation | Tagged | Untagged


def parse_frame(frame: Frame, *, max_nesting: int) -> Response:
    """Parse one framed response; raises RemoteProtocolError when malformed."""
    first = frame.first_line
    if first.startswith(b"+"):
        return Continuation(first[2:] if first.startswith(b"+ ") else first[1:])
    reader = _Reader(frame, max_nesting=max_nesting)
    tag = reader.word()
    if not tag:
        raise reader.error("response without a tag")
    name = reader.word().upper()
    number: int | None = None
    if tag == "*" and name.isdigit():
        number = int(name)
        name = reader.word().upper()
    if not name:
        raise reader.error("response without a type")
    if tag != "*":
        if name not in {"OK", "NO", "BAD"}:
            raise reader.error(f"tagged response with status {name!r}")
        code, text = reader.status_rest()
        return Tagged(tag, name, code, text)
    if name in STATUS_WORDS:
        code, text = reader.status_rest()
        return Untagged(name, number, [], code, text)
    return Untagged(name, number, reader.values())


class _Reader:
    """Reads tokens from the pieces of a frame."""

    def __init__(self, frame: Frame, *, max_nesting: int) -> None:
        self._frame = frame
        self._index = 0  # current line piece
        self._line = frame.lines[0]
        self._pos = 0
        self._max_nesting = max_nesting

    def error(self, message: str) -> RemoteProtocolError:
        return RemoteProtocolError(
            f"malformed response: {message}",
            line=self._frame.raw_preview(),
            reference="RFC 3501 section 9",
        )

    def word(self) -> str:
        """The next space-delimited word of the first line (tag, number, type)."""
        line = self._line
        while self._pos < len(line) and line[self._pos] == 0x20:
            self._pos += 1
        start = self._pos
        while self._pos < len(line) and line[self._pos] != 0x20:
            self._pos += 1
        return line[start : self._pos].decode("ascii", "replace")

    def status_rest(self) -> tuple[ResponseCode | None, str]:
        """``[code] text`` of a status response (text may be empty, a common deviation)."""
        rest = b"".join(self._remaining_pieces())
        rest = rest.lstrip(b" ")
        code: ResponseCode | None = None
        if rest.startswith(b"["):
            end = rest.find(b"]")
            if end < 0:
                raise self.error("response code without ']'")
            code = _parse_code(rest[1:end], max_nesting=self._max_nesting)
            rest = rest[end + 1 :].lstrip(b" ")
        return code, rest.decode("utf-8", "replace")

    def _remaining_pieces(self) -> list[bytes]:
        pieces = [self._line[self._pos :]]
        for index in range(self._index, len(self._frame.literals)):
            pieces.append(self._frame.literals[index])
            pieces.append(self._frame.lines[index + 1])
        return pieces

    def values(self) -> list[Value]:
        """Every remaining value, with lists nested."""
        stack: list[list[Value]] = [[]]
        while True:
            token = self._next_token()
            if token is _END:
                break
            if token is _OPEN:
                if len(stack) > self._max_nesting:
                    raise self.error(f"lists nested deeper than {self._max_nesting}")
                child: list[Value] = []
                stack[-1].append(child)
                stack.append(child)
            elif token is _CLOSE:
                if len(stack) == 1:
                    raise self.error("unbalanced ')'")
                stack.pop()
            else:
                stack[-1].append(token)  # type: ignore[arg-type]
        if len(stack) != 1:
            raise self.error("unbalanced '('")
        return stack[0]

    def _next_token(self) -> object:
        line = self._line
        while True:
            while self._pos < len(line) and line[self._pos] == 0x20:
                self._pos += 1
            if self._pos < len(line):
                break
            # End of a line piece: a literal follows, or the response is over.
            if self._index < len(self._frame.literals):
                literal = self._frame.literals[self._index]
                self._index += 1
                self._line = line = self._frame.lines[self._index]
                self._pos = 0
                return literal
            return _END
        char = line[self._pos]
        if char == 0x28:  # (
            self._pos += 1
            return _OPEN
        if char == 0x29:  # )
            self._pos += 1
            return _CLOSE
        if (
            char == 0x7E  # ~ of a literal8 (RFC 3516 section 4.2), the literal follows
            and self._pos + 1 == len(line)
            and self._index < len(self._frame.literals)
        ):
            self._pos += 1
            return self._next_token()
        if char == 0x22:  # "
            match = _QUOTED.match(line, self._pos)
            if match is None:
                raise self.error("unterminated quoted string")
            self._pos = match.end()
            return _UNESCAPE.sub(rb"\1", match.group(1))
        atom = self._atom()
        return None if atom.upper() == "NIL" else atom

    def _atom(self) -> str:
        line = self._line
        start = self._pos
        match = _ATOM.match(line, self._pos)
        self._pos = match.end() if match else self._pos
        if self._pos < len(line) and line[self._pos] == 0x5B:  # [ section spec
            end = _SECTION_END.search(line, self._pos)
            if end is None:
                raise self.error("section without ']'")
            self._pos = end.end()
            partial = _PARTIAL.match(line, self._pos)
            if partial is not None:
                self._pos = partial.end()
        if self._pos == start:
            raise self.error(f"unexpected octet {line[start : start + 1]!r}")
        return line[start : self._pos].decode("utf-8", "replace")


_OPEN, _CLOSE, _END = object(), object(), object()


def _parse_code(data: bytes, *, max_nesting: int) -> ResponseCode:
    name, _, rest = data.partition(b" ")
    raw = rest.decode("utf-8", "replace")
    frame = Frame((rest,), ())
    try:
        values = tuple(_Reader(frame, max_nesting=max_nesting).values())
    except RemoteProtocolError:
        values = ()
    return ResponseCode(name.decode("ascii", "replace").upper(), values, raw)
