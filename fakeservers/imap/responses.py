"""Formatting IMAP data on the wire (RFC 3501 sections 4 and 9).

Strings go out quoted when RFC 3501 allows it (7-bit, no CR, LF or NUL, and
not too long to be readable) and as literals otherwise, so any octets reach
the client unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from fakeservers.imap import utf7

# QUOTED-CHAR is any TEXT-CHAR (CHAR minus CR and LF) with " and \ escaped.
_NEEDS_LITERAL = re.compile(rb"[\x00\r\n\x80-\xff]")
_QUOTED_SPECIAL = re.compile(rb'(["\\])')
#: Longer strings go out as literals even when they could be quoted.
_MAX_QUOTED = 1024

NIL = b"NIL"


def literal(data: bytes) -> bytes:
    """``{n}`` CRLF and the octets (RFC 3501 section 4.3)."""
    return b"{%d}\r\n" % len(data) + data


def string(data: bytes) -> bytes:
    """A ``string``: quoted if it can be, else a literal."""
    if len(data) > _MAX_QUOTED or _NEEDS_LITERAL.search(data):
        return literal(data)
    return b'"' + _QUOTED_SPECIAL.sub(rb"\\\1", data) + b'"'


def nstring(data: bytes | None) -> bytes:
    """``nstring``: NIL for None, else :func:`string`."""
    return NIL if data is None else string(data)


def mailbox(name: str, *, utf8: bool = False) -> bytes:
    """A mailbox name as a string in modified UTF-7 (RFC 3501 section 5.1.3), or in
    UTF-8 once the client enabled UTF8=ACCEPT or IMAP4rev2 (RFC 6855 section 3).
    """
    return string(name.encode("utf-8") if utf8 else utf7.encode(name))


def parenthesized(items: Iterable[bytes]) -> bytes:
    """``(a b c)``."""
    return b"(" + b" ".join(items) + b")"


def flag_list(flags: Iterable[str]) -> bytes:
    """A flag list, system flags first then keywords, each group sorted (stable output)."""
    ordered = sorted(flags, key=lambda flag: (not flag.startswith("\\"), flag))
    return parenthesized(flag.encode("ascii") for flag in ordered)
