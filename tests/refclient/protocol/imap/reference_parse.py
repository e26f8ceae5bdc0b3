"""The general pattern's reading of a line piece, which the faster parser paths must equal."""

from __future__ import annotations

from collections.abc import Callable

from refclient.protocol.errors import RemoteProtocolError
from refclient.protocol.imap.framing import Frame
from refclient.protocol.imap.parser import Value, _tokenize_piece, parse_values

#: The nesting limit both readings are given.
NESTING = 6


def general(line: bytes) -> list[Value]:
    """The values of ``line`` by the general pattern alone (the reference)."""
    frame = Frame((line,), ())
    stack: list[list[Value]] = []
    top: list[Value] = []
    _tokenize_piece(
        frame, line, 0, before_literal=False, current=top, stack=stack, max_nesting=NESTING
    )
    if stack:
        raise RemoteProtocolError("malformed response: unbalanced '('")
    return top


def outcome(parse: Callable[[bytes], list[Value]], line: bytes) -> object:
    """The values, or the error message, of ``parse(line)``."""
    try:
        return parse(line)
    except RemoteProtocolError as error:
        return ("error", str(error).split(" (", 1)[0])


def parsed(line: bytes) -> object:
    """The outcome of the parser as a whole (whichever path it takes) for ``line``."""
    return outcome(lambda piece: parse_values(Frame((piece,), ()), max_nesting=NESTING), line)
