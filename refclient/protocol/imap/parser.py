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
from itertools import product

from refclient.protocol.errors import RemoteProtocolError
from refclient.protocol.imap.framing import Frame

Value = str | bytes | None | list["Value"]

#: One token of a line piece (RFC 3501 section 9): a parenthesis, a quoted string, an
#: atom with an optional section spec and partial (``BODY[HEADER.FIELDS (TO)]<0>``), a
#: bare section spec, or else any single octet, which the parser then refuses. Spaces
#: separate tokens and are skipped.
_TOKEN = re.compile(
    rb"[()]"
    rb'|"(?:[^"\\\r\n]++|\\.)*+"'
    rb'|[^\x00-\x20()"{\x7f\[\]]++(?:\[[^\]]*+\](?:<[0-9.]++>)?)?'
    rb"|\[[^\]]*+\](?:<[0-9.]++>)?"
    rb"|[^ ]"
)
_UNESCAPE = re.compile(rb"\\(.)")
_WORD = re.compile(rb" *([^ ]*)")
#: NIL in every case (RFC 3501 section 9: atoms are case-insensitive).
_NILS = frozenset(bytes(letters) for letters in product(b"Nn", b"Ii", b"Ll"))
#: First octets of tokens that are no value: controls, ``{`` ``[`` ``]`` and DEL.
_SPECIAL_FIRST = frozenset([*range(0x20), 0x7B, 0x5B, 0x5D, 0x7F])
#: NIL in every case, as a word of :func:`_plain_tokens`.
_NIL_WORDS = frozenset(nil.decode("ascii") for nil in _NILS)
#: Shortest line piece worth :func:`_plain_tokens`: its few bytes operations cost
#: more than the pattern's scan of a piece such as ``)`` or ``UID 7 FLAGS (\\Seen)``.
_PLAIN_MIN = 48
#: The octets of a line piece's common shape outside quoted strings: printable
#: ASCII and space, without ``[``, ``]`` and ``{`` (:func:`_plain_tokens`).
_PLAIN_OCTETS = bytes(octet for octet in range(0x20, 0x7F) if octet not in b"[]{")
#: The octets of a quoted string in the common shape: any but ``\\``, CR and LF.
_QUOTED_OCTETS = bytes(octet for octet in range(0x100) if octet not in b"\\\r\n")
_TAGGED_STATUS = frozenset({"OK", "NO", "BAD"})

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

    def __init__(self, tag: str, status: str, code: ResponseCode | None, text: str) -> None:
        # Written out: the generated __init__ of a frozen dataclass sets each field
        # through object.__setattr__, several times the cost for an object per response.
        fields = self.__dict__
        fields["tag"] = tag
        fields["status"] = status
        fields["code"] = code
        fields["text"] = text


@dataclass(frozen=True)
class Untagged:
    """An untagged response: a status (``* OK ...``) or data (``* 3 EXISTS``)."""

    name: str  # upper case: OK, BYE, CAPABILITY, FETCH, EXISTS ...
    number: int | None = None
    values: list[Value] = field(default_factory=list)
    code: ResponseCode | None = None
    text: str = ""

    def __init__(
        self,
        name: str,
        number: int | None = None,
        values: list[Value] | None = None,
        code: ResponseCode | None = None,
        text: str = "",
    ) -> None:
        # Written out for speed, as Tagged.__init__; no values is an empty list.
        fields = self.__dict__
        fields["name"] = name
        fields["number"] = number
        fields["values"] = [] if values is None else values
        fields["code"] = code
        fields["text"] = text

    @property
    def is_status(self) -> bool:
        """Whether this is a status response (OK, NO, BAD, BYE, PREAUTH)."""
        return self.name in STATUS_WORDS


Response = Continuation | Tagged | Untagged


def parse_frame(frame: Frame, *, max_nesting: int) -> Response:
    """Parse one framed response; raises RemoteProtocolError when malformed."""
    first = frame.lines[0]
    if first[:1] == b"+":
        return Continuation(first[2:] if first[:2] == b"+ " else first[1:])
    if first[:2] == b"* ":
        # The bulk of a session's responses, "* n FETCH (...)", read without patterns.
        end = first.find(b" ", 2)
        digits = first[2:end]
        if digits.isdigit() and first[end + 1 : end + 7] == b"FETCH ":
            values = parse_values(frame, end + 6, max_nesting=max_nesting)
            return Untagged("FETCH", int(digits), values)
    match = _WORD.match(first)
    tag = match.group(1).decode("ascii", "replace")  # type: ignore[union-attr]
    if not tag:
        raise _error(frame, "response without a tag")
    match = _WORD.match(first, match.end())  # type: ignore[union-attr]
    name = match.group(1).decode("ascii", "replace").upper()  # type: ignore[union-attr]
    number: int | None = None
    if tag == "*" and name.isdigit():
        number = int(name)
        match = _WORD.match(first, match.end())  # type: ignore[union-attr]
        name = match.group(1).decode("ascii", "replace").upper()  # type: ignore[union-attr]
    if not name:
        raise _error(frame, "response without a type")
    position = match.end()  # type: ignore[union-attr]
    if tag != "*":
        if name not in _TAGGED_STATUS:
            raise _error(frame, f"tagged response with status {name!r}")
        code, text = _status_rest(frame, position, max_nesting)
        return Tagged(tag, name, code, text)
    if name in STATUS_WORDS:
        code, text = _status_rest(frame, position, max_nesting)
        return Untagged(name, number, [], code, text)
    return Untagged(name, number, parse_values(frame, position, max_nesting=max_nesting))


def _error(frame: Frame, message: str) -> RemoteProtocolError:
    return RemoteProtocolError(
        f"malformed response: {message}",
        line=frame.raw_preview(),
        reference="RFC 3501 section 9",
    )


def _status_rest(frame: Frame, position: int, max_nesting: int) -> tuple[ResponseCode | None, str]:
    """``[code] text`` of a status response (text may be empty, a common deviation)."""
    if frame.literals:
        pieces = [frame.lines[0][position:]]
        for index, literal in enumerate(frame.literals):
            pieces.append(literal)
            pieces.append(frame.lines[index + 1])
        rest = b"".join(pieces).lstrip(b" ")
    else:
        rest = frame.lines[0][position:].lstrip(b" ")
    code: ResponseCode | None = None
    if rest[:1] == b"[":
        end = rest.find(b"]")
        if end < 0:
            raise _error(frame, "response code without ']'")
        code = _parse_code(rest[1:end], max_nesting=max_nesting)
        rest = rest[end + 1 :].lstrip(b" ")
    return code, rest.decode("utf-8", "replace")


def parse_values(frame: Frame, position: int = 0, *, max_nesting: int) -> list[Value]:
    """Every value of ``frame`` from ``position`` of its first line on, with lists nested.

    A line piece in the common shape (see :func:`_plain_tokens`) is cut by
    C-speed bytes operations; any other piece by one compiled pattern
    (:data:`_TOKEN`, the scan runs in C). Both give the same tokens, and
    the loops below only dispatch on each token. A literal is the value
    between two line pieces (RFC 3501 section 4.3). An octet that starts no
    token (``{`` inside a line, ``]``, a control character, an unterminated
    quoted string) is an error.
    """
    top: list[Value] = []
    current = top
    stack: list[list[Value]] = []
    lines = frame.lines
    literals = frame.literals
    last = len(literals)
    for index, line in enumerate(lines):
        if line == b")" and index == last and stack:
            # The usual last piece of a response with a literal: the closing parenthesis.
            current = stack.pop()
            continue
        plain = (
            _plain_tokens(line[position:] if position else line)
            if len(line) - position >= _PLAIN_MIN
            else None
        )
        append = current.append
        if plain is not None:
            words, strings = plain
            if index < last and words and words[-1] == "~" and line[-1:] == b"~":
                # The "~" of a literal8 (RFC 3516 section 4.2): the literal follows.
                words.pop()
            take = iter(strings).__next__
            nils = _NIL_WORDS
            for word in words:  # most frequent first: NIL, strings, lists (ENVELOPE)
                if word == "NIL":
                    append(None)
                elif word == '"':
                    append(take())
                elif word == "(":
                    if len(stack) >= max_nesting:
                        raise _error(frame, f"lists nested deeper than {max_nesting}")
                    child: list[Value] = []
                    append(child)
                    stack.append(current)
                    current = child
                    append = child.append
                elif word == ")":
                    if not stack:
                        raise _error(frame, "unbalanced ')'")
                    current = stack.pop()
                    append = current.append
                elif word in nils:  # NIL in another case
                    append(None)
                else:
                    append(word)
        else:
            current = _tokenize_piece(
                frame,
                line,
                position,
                before_literal=index < last,
                current=current,
                stack=stack,
                max_nesting=max_nesting,
            )
            append = current.append
        if index < last:
            append(literals[index])
        position = 0
    if stack:
        raise _error(frame, "unbalanced '('")
    return top


def _plain_tokens(piece: bytes) -> tuple[list[str], list[bytes]] | None:
    """The tokens of a line piece in the common shape, or None for the general tokenizer.

    The common shape: printable ASCII outside quoted strings, with no ``[``,
    ``]`` or ``{`` (so no section spec, no literal announcement, nothing to
    refuse), and quoted strings without ``\\``, CR or LF (so no escapes,
    RFC 3501 section 9 ``quoted``). Then each ``"`` opens or closes a string,
    the strings are the odd pieces of a split on ``"``, and the rest splits
    on spaces once parentheses are spaced out; each string's place is held
    by the word ``"``. Atoms come out as ``str``, strings as ``bytes``: the
    same values the general tokenizer gives for such a piece.
    """
    if b"[" in piece and b'"' not in piece:
        return None  # a section spec such as BODY[] (no string to hold it): not this shape
    parts = piece.split(b'"')
    if not len(parts) & 1:
        return None  # an unterminated quoted string: the general tokenizer reports it
    strings = parts[1::2]
    if strings:
        if b"".join(strings).translate(None, _QUOTED_OCTETS):
            return None  # an escape, CR or LF
        outside = b' " '.join(parts[0::2])
    else:
        outside = piece
    if outside.translate(None, _PLAIN_OCTETS):
        return None
    spaced = outside.replace(b"(", b" ( ").replace(b")", b" ) ")
    return spaced.decode("ascii").split(), strings


def _tokenize_piece(
    frame: Frame,
    line: bytes,
    position: int,
    *,
    before_literal: bool,
    current: list[Value],
    stack: list[list[Value]],
    max_nesting: int,
) -> list[Value]:
    """Add the values of one line piece (from ``position``) to ``current``, by :data:`_TOKEN`.

    ``stack`` holds the open lists and is changed in place; returns the list
    that is open at the end of the piece.
    """
    tokens = _TOKEN.findall(line, position)
    if before_literal and tokens and tokens[-1] == b"~" and line[-1:] == b"~":
        # The "~" of a literal8 (RFC 3516 section 4.2): the literal follows.
        tokens.pop()
    append = current.append
    nils = _NILS
    specials = _SPECIAL_FIRST
    for token in tokens:
        first = token[0]
        if first == 0x28:  # (
            if len(stack) >= max_nesting:
                raise _error(frame, f"lists nested deeper than {max_nesting}")
            child: list[Value] = []
            append(child)
            stack.append(current)
            current = child
            append = current.append
        elif first == 0x29:  # )
            if not stack:
                raise _error(frame, "unbalanced ')'")
            current = stack.pop()
            append = current.append
        elif first == 0x22:  # "
            if len(token) < 2:
                raise _error(frame, "unterminated quoted string")
            inner = token[1:-1]
            append(_UNESCAPE.sub(rb"\1", inner) if b"\\" in inner else inner)
        elif token in nils:
            append(None)
        elif first in specials and not (first == 0x5B and len(token) > 1):
            if first == 0x5B:  # [
                raise _error(frame, "section without ']'")
            raise _error(frame, f"unexpected octet {token[:1]!r}")
        else:
            append(token.decode("utf-8", "replace"))
    return current


def _parse_code(data: bytes, *, max_nesting: int) -> ResponseCode:
    name, _, rest = data.partition(b" ")
    raw = rest.decode("utf-8", "replace")
    try:
        values = tuple(parse_values(Frame((rest,), ()), max_nesting=max_nesting))
    except RemoteProtocolError:
        values = ()
    return ResponseCode(name.decode("ascii", "replace").upper(), values, raw)
