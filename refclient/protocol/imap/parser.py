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
from collections.abc import Callable, Iterable, Iterator
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

    A balanced line piece of a shape seen before (the bulk of FETCH lines)
    is built by that shape's builder (:func:`_shaped_values`); another
    piece in the common shape (see :func:`_plain_tokens`) is cut by C-speed
    bytes operations; any other piece by one compiled pattern (:data:`_TOKEN`,
    the scan runs in C). All give the same values, and the loops only
    dispatch on each token. A literal is the value
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
        general = True  # the general tokenizer, unless a faster path takes the piece
        if len(line) - position >= _PLAIN_MIN:
            piece = line[position:] if position else line
            shaped = (
                _shaped_values(frame, piece, max_nesting - len(stack))
                if index >= last or piece[-1:] != b"~"  # not a literal8's "~" (RFC 3516)
                else None
            )
            if shaped is not None:
                current.extend(shaped)
                general = False
            elif (plain := _plain_tokens(piece)) is not None:
                words, strings = plain
                if index < last and words and words[-1] == "~" and line[-1:] == b"~":
                    # The "~" of a literal8 (RFC 3516 section 4.2): the literal follows.
                    words.pop()
                current = _word_values(
                    frame, words, strings, current, stack=stack, max_nesting=max_nesting
                )
                general = False
        if general:
            current = _tokenize_piece(
                frame,
                line,
                position,
                before_literal=index < last,
                current=current,
                stack=stack,
                max_nesting=max_nesting,
            )
        if index < last:
            current.append(literals[index])
        position = 0
    if stack:
        raise _error(frame, "unbalanced '('")
    return top


def _word_values(
    frame: Frame,
    words: Iterable[str],
    strings: list[bytes],
    current: list[Value],
    *,
    stack: list[list[Value]],
    max_nesting: int,
) -> list[Value]:
    """Add the values of ``words`` to ``current``; returns the list open at the end.

    The one place where lists are opened and closed, for every tokenizer:
    ``words`` are atoms as ``str``, ``(`` and ``)``, and ``"`` for the next
    of ``strings`` (:func:`_plain_tokens`, :func:`_token_words`). ``stack``
    holds the open lists and is changed in place.
    """
    append = current.append
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
    return current


#: Octet map of a line piece's outside (strings cut out) to its shape key: digits become
#: ``0``, everything else stays. Pieces with equal keys cut into the same tokens in the
#: same places, and differ only in the digits of some atoms (UIDs, sizes, counts).
_SHAPE_KEY = bytes(0x30 if 0x30 <= octet <= 0x39 else octet for octet in range(0x100))
#: The tokens of a common-shape outside, when a shape is learnt (:func:`_learn_shape`).
_SHAPE_TOKEN = re.compile(rb'[()"]|[^ ()"]++')
#: Most shapes kept; a server that sends ever new ones costs a learning each, no memory.
_SHAPES_MAX = 512
#: Longest piece whose shape is learnt: the keys kept then hold at most 8 MiB in all,
#: whatever a server sends (a FETCH line of metadata is some hundreds of octets).
_SHAPE_PIECE_MAX = 16 * 1024
#: Deepest nesting, and most tokens, a learnt shape may have (bounds its builder's source).
_SHAPE_DEPTH_MAX = 64
_SHAPE_TOKENS_MAX = 2000
#: In :data:`_SHAPES`: a key seen once (learnt when seen again), or one that is no shape.
_SEEN_ONCE = 0
_NO_SHAPE = 1


@dataclass(frozen=True)
class _Shape:
    """How to build the values of every line piece whose outside has one shape key.

    ``build(strings, outside)`` returns the piece's values: its lists and
    NILs as learnt, the strings in order, the atoms with digits sliced out
    of the outside, the other atoms as learnt (shared ``str`` objects).
    """

    build: Callable[[list[bytes], bytes], list[Value]]
    depth: int  # deepest list nesting
    backslashes: int  # the atoms' backslashes: a piece with more has an escape in a string


_SHAPES: dict[bytes, _Shape | int] = {}


def _shaped_values(frame: Frame, piece: bytes, room: int) -> list[Value] | None:
    """The values of a balanced common-shape piece from its learnt shape, or None.

    A FETCH response's line is mostly the same from message to message but
    for its strings and some numbers, so its shape (see :data:`_SHAPE_KEY`)
    is learnt when seen a second time (:func:`_learn_shape`) and then
    filled: the strings cut out by one split, and the lists built by the
    shape's builder in one call. None leaves the piece to the other paths
    (not the common shape, not balanced on its own, nested deeper than
    ``room`` allows, an escape in a string, or a shape not learnt), which
    give the same values and raise the same errors (RFC 3501 section 9).
    """
    if b"[" in piece and b'"' not in piece:
        return None  # a section spec such as BODY[]: not the common shape
    if len(piece) > _SHAPE_PIECE_MAX:
        return None  # kept as a key, it would hold too much memory
    parts = piece.split(b'"')
    if not len(parts) & 1:
        return None  # an unterminated quoted string
    outside = b'"'.join(parts[0::2])
    key = outside.translate(_SHAPE_KEY)
    shape = _SHAPES.get(key)
    if shape.__class__ is not _Shape:
        if shape is None:
            if len(_SHAPES) >= _SHAPES_MAX:
                _SHAPES.clear()
            _SHAPES[key] = _SEEN_ONCE
            return None
        if shape == _SEEN_ONCE:
            return _learn_shape(frame, key, outside, parts[1::2], room)
        return None
    if (
        shape.depth > room
        or 0x0D in piece  # CR, LF: the octets are looked up as ints, by memchr
        or 0x0A in piece
        or piece.count(0x5C) != shape.backslashes  # more than the atoms': an escape
    ):
        return None
    return shape.build(parts[1::2], outside)


def _learn_shape(
    frame: Frame, key: bytes, outside: bytes, strings: list[bytes], room: int
) -> list[Value] | None:
    """Learn the shape of a piece from its values by the word loop; returns those values.

    The shape's builder is a function made from the values' structure
    alone: its source holds list displays, ``None``, and indexes into the
    strings, into the learnt atoms and into the outside (slices), never an
    octet of the piece. A piece that is not in the common shape, raises, or
    does not close every list it opens is remembered as no shape, and None
    is returned: the caller's other paths then read it in its context (an
    unbalanced piece may well close a list that an earlier piece opened).
    """
    if strings and b"".join(strings).translate(None, _QUOTED_OCTETS):
        return None  # an escape, CR or LF in this piece's strings, not in its shape
    _SHAPES[key] = _NO_SHAPE
    if outside.translate(None, _PLAIN_OCTETS):
        return None
    spaced = outside.replace(b'"', b' " ').replace(b"(", b" ( ").replace(b")", b" ) ")
    words = spaced.decode("ascii").split()  # as _plain_tokens cuts them
    if len(words) > _SHAPE_TOKENS_MAX:
        return None
    values: list[Value] = []
    stack: list[list[Value]] = []
    try:
        _word_values(frame, words, strings, values, stack=stack, max_nesting=_SHAPE_DEPTH_MAX)
    except RemoteProtocolError:
        return None
    if stack:
        return None
    items: list[str] = []
    atoms: list[str] = []
    depth = deepest = string = 0
    for match in _SHAPE_TOKEN.finditer(outside):
        token = match.group()
        if token == b"(":
            items.append("[")
            depth += 1
            deepest = max(deepest, depth)
        elif token == b")":
            items.append("]")
            depth -= 1
        elif token == b'"':
            items.append(f"s[{string}]")
            string += 1
        elif token.upper() == b"NIL":
            items.append("None")
        elif token.translate(None, b"0123456789") != token:
            items.append(f"o[{match.start()}:{match.end()}].decode()")
        else:
            items.append(f"c[{len(atoms)}]")
            atoms.append(token.decode("ascii"))
    source = ",".join(["lambda s, o: [", *items, "]"]).replace("[,", "[").replace(",]", "]")
    # The source is the structure's alone (see above); no builtins are in reach of it.
    build = eval(source, {"__builtins__": {}, "c": tuple(atoms)})
    shape = _Shape(build, deepest, outside.count(0x5C))
    if shape.build(strings, outside) != values:
        return None  # the builder does not give the word loop's values: not used
    _SHAPES[key] = shape
    return values if deepest <= room else None


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
    strings: list[bytes] = []
    return _word_values(
        frame,
        _token_words(frame, tokens, strings),
        strings,
        current,
        stack=stack,
        max_nesting=max_nesting,
    )


def _token_words(frame: Frame, tokens: list[bytes], strings: list[bytes]) -> Iterator[str]:
    """:data:`_TOKEN`'s tokens as the words :func:`_word_values` takes, one at a time.

    A quoted string is unescaped and appended to ``strings`` before its word
    ``"`` is given, so the builder finds it there; the words come one at a
    time so that an error in the lists before a bad token is reported first,
    as the line reads.
    """
    specials = _SPECIAL_FIRST
    for token in tokens:
        first = token[0]
        if first == 0x28:  # (
            yield "("
        elif first == 0x29:  # )
            yield ")"
        elif first == 0x22:  # "
            if len(token) < 2:
                raise _error(frame, "unterminated quoted string")
            inner = token[1:-1]
            strings.append(_UNESCAPE.sub(rb"\1", inner) if b"\\" in inner else inner)
            yield '"'
        elif first in specials and not (first == 0x5B and len(token) > 1):
            if first == 0x5B:  # [
                raise _error(frame, "section without ']'")
            raise _error(frame, f"unexpected octet {token[:1]!r}")
        else:
            yield token.decode("utf-8", "replace")


def _parse_code(data: bytes, *, max_nesting: int) -> ResponseCode:
    name, _, rest = data.partition(b" ")
    raw = rest.decode("utf-8", "replace")
    try:
        values = tuple(parse_values(Frame((rest,), ()), max_nesting=max_nesting))
    except RemoteProtocolError:
        values = ()
    return ResponseCode(name.decode("ascii", "replace").upper(), values, raw)
