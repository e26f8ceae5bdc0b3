"""Encode IMAP commands (RFC 3501 section 9): atoms, quoted strings, literals, lists.

A command becomes a list of *chunks*: the first is sent at once; each later
one is sent after the server's ``+`` continuation for the synchronizing
literal that ends the chunk before it (RFC 3501 section 7.5). A literal of at
most ``non_sync_limit`` octets is written non-synchronizing instead
(``{n+}``, RFC 7888: any size with LITERAL+, up to 4096 octets with
LITERAL-; -1 when the server offers neither) and needs no continuation.

Each chunk is a list of *pieces* (:func:`encode_command_parts`): a literal's
octets are a piece of their own, the very object the caller gave, so that a
50 MB APPEND is sent as it is instead of being copied into one more command
buffer. :func:`encode_command` joins the pieces for callers that want bytes.

A non-binary literal holding NUL is refused (:class:`LocalProtocolError`):
RFC 3501 section 4.3 forbids NUL in a literal; a literal8 (RFC 3516 section
4.2) may carry it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from refclient.protocol.errors import LocalProtocolError

_ATOM_SAFE = re.compile(rb"[!#$&'+,\-./0-9:;<=>?@A-Z^_`a-z|~]+")
_QUOTABLE = re.compile(rb"[\x01-\x09\x0b\x0c\x0e-\x7f]*")


@dataclass(frozen=True)
class Atom:
    """Written as is: command names, flags, sequence sets, search keys, ``BODY.PEEK[]``."""

    text: str


@dataclass(frozen=True)
class Literal:
    """Always written as a literal (message data for APPEND).

    ``binary`` writes a literal8, ``~{n}`` (RFC 3516 section 4.2; also the
    ``UTF8 (~{n})`` of RFC 6855 section 4), which may hold any octet, NUL
    included.
    """

    data: bytes
    binary: bool = False

    def __post_init__(self) -> None:
        # Checked once, here, not again each time the command is encoded (a 50 MB
        # message is scanned once).
        if not self.binary:
            _refuse_nul(self.data)


def _refuse_nul(raw: bytes) -> None:
    """A plain literal cannot hold NUL (RFC 3501 section 4.3)."""
    if b"\x00" in raw:
        raise LocalProtocolError(
            "a literal cannot hold NUL (RFC 3501 section 4.3); "
            "send it as literal8 where the server offers BINARY (RFC 3516 section 4.2)"
        )


Argument = Atom | Literal | str | bytes | int | Sequence["Argument"]


def encode_command(
    tag: str, name: str, arguments: Iterable[Argument], *, non_sync_limit: int = -1
) -> list[bytes]:
    """The chunks of one command line, CRLF included in the last."""
    return [
        b"".join(pieces)
        for pieces in encode_command_parts(tag, name, arguments, non_sync_limit=non_sync_limit)
    ]


def encode_command_parts(
    tag: str, name: str, arguments: Iterable[Argument], *, non_sync_limit: int = -1
) -> list[list[bytes]]:
    """The chunks of one command line, each a list of pieces; literal octets are not copied."""
    encoder = _Encoder(non_sync_limit)
    encoder.current += tag.encode("ascii") + b" " + name.encode("ascii")
    for argument in arguments:
        encoder.current += b" "
        encoder.encode(argument)
    encoder.current += b"\r\n"
    encoder.end_chunk()
    return encoder.chunks


#: A literal at least this long is a piece of its own rather than copied into the line.
_INLINE_LITERAL = 64 * 1024


class _Encoder:
    """Builds the chunks: small text in one buffer, large literal octets as their own pieces."""

    def __init__(self, non_sync_limit: int) -> None:
        self.non_sync_limit = non_sync_limit
        self.chunks: list[list[bytes]] = []
        self.pieces: list[bytes] = []
        self.current = bytearray()

    def flush(self) -> None:
        if self.current:
            self.pieces.append(bytes(self.current))
            self.current.clear()

    def end_chunk(self) -> None:
        self.flush()
        self.chunks.append(self.pieces)
        self.pieces = []

    def literal(self, raw: bytes, *, binary: bool, checked: bool = False) -> None:
        """Write ``raw`` as a literal; ``checked``: a :class:`Literal` checked it for NUL."""
        if not binary and not checked:
            _refuse_nul(raw)
        literal_plus = len(raw) <= self.non_sync_limit
        marker = b"{%d+}\r\n" if literal_plus else b"{%d}\r\n"
        if binary:
            self.current += b"~"
        self.current += marker % len(raw)
        if not literal_plus:
            self.end_chunk()  # the octets follow the server's "+" (RFC 3501 section 7.5)
        if len(raw) >= _INLINE_LITERAL:
            self.flush()
            self.pieces.append(raw)
        else:
            self.current += raw

    def encode(self, argument: Argument) -> None:
        current = self.current
        if isinstance(argument, Atom):
            text = argument.text.encode("utf-8")
            if b"\r" in text or b"\n" in text or not text:
                raise LocalProtocolError(f"invalid atom {argument.text!r}")
            current += text
        elif isinstance(argument, int):
            current += str(argument).encode()
        elif isinstance(argument, Literal | str | bytes):
            data = argument.data if isinstance(argument, Literal) else argument
            raw = data.encode("utf-8") if isinstance(data, str) else data
            if isinstance(argument, Literal) or not _QUOTABLE.fullmatch(raw):
                if isinstance(argument, Literal):
                    self.literal(raw, binary=argument.binary, checked=True)
                else:
                    self.literal(raw, binary=False)
            elif isinstance(argument, str) and raw and _ATOM_SAFE.fullmatch(raw):
                current += raw
            else:
                current += b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
        else:
            current += b"("
            for index, item in enumerate(argument):
                if index:
                    self.current += b" "
                self.encode(item)
            self.current += b")"


def sequence_set(numbers: Iterable[int]) -> str:
    """``1:3,7,9:10`` for the given message numbers or UIDs (ascending ranges)."""
    ordered = sorted(set(numbers))
    if not ordered:
        raise LocalProtocolError("empty sequence set")
    ranges: list[str] = []
    start = previous = ordered[0]
    for number in [*ordered[1:], 0]:
        if number == previous + 1:
            previous = number
            continue
        ranges.append(str(start) if start == previous else f"{start}:{previous}")
        start = previous = number
    return ",".join(ranges)
