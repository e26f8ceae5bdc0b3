"""Encode IMAP commands (RFC 3501 section 9): atoms, quoted strings, literals, lists.

A command becomes a list of *chunks*: the first is sent at once; each later
one is sent after the server's ``+`` continuation for the synchronizing
literal that ends the chunk before it (RFC 3501 section 7.5). A literal of at
most ``non_sync_limit`` octets is written non-synchronizing instead
(``{n+}``, RFC 7888: any size with LITERAL+, up to 4096 octets with
LITERAL-; -1 when the server offers neither) and needs no continuation.
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


Argument = Atom | Literal | str | bytes | int | Sequence["Argument"]


def encode_command(
    tag: str, name: str, arguments: Iterable[Argument], *, non_sync_limit: int = -1
) -> list[bytes]:
    """The chunks of one command line, CRLF included in the last."""
    chunks: list[bytes] = []
    current = bytearray(tag.encode("ascii") + b" " + name.encode("ascii"))
    for argument in arguments:
        current += b" "
        _encode(argument, current, chunks, non_sync_limit=non_sync_limit)
    current += b"\r\n"
    chunks.append(bytes(current))
    return chunks


def _encode(
    argument: Argument, current: bytearray, chunks: list[bytes], *, non_sync_limit: int
) -> None:
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
            literal_plus = len(raw) <= non_sync_limit
            marker = b"{%d+}\r\n" if literal_plus else b"{%d}\r\n"
            if isinstance(argument, Literal) and argument.binary:
                current += b"~"
            current += marker % len(raw)
            if literal_plus:
                current += raw
            else:
                chunks.append(bytes(current))
                current[:] = raw
        elif isinstance(argument, str) and raw and _ATOM_SAFE.fullmatch(raw):
            current += raw
        else:
            current += b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    else:
        current += b"("
        for index, item in enumerate(argument):
            if index:
                current += b" "
            _encode(item, current, chunks, non_sync_limit=non_sync_limit)
        current += b")"


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
