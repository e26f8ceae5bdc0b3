"""Modified UTF-7 for mailbox names (RFC 3501 section 5.1.3).

The encoding is RFC 2152 UTF-7 with three changes: ``&`` instead of ``+``
starts a shifted run, ``,`` instead of ``/`` in the base64 alphabet, and every
character outside printable US-ASCII is shifted (``&`` itself is ``&-``).
A shifted run is UTF-16BE in unpadded base64, which the stdlib ``base64`` and
``utf-16-be`` codecs do for us.

Decoding is strict, since RFC 3501 says a name must not be encoded in any
other way: no 8-bit octets, no shifted printable ASCII, no redundant
empty run, no padding, and the run must be valid UTF-16.
"""

from __future__ import annotations

import base64
import binascii
import re

_PRINTABLE = re.compile(r"[\x20-\x7e]+")
_NOT_PRINTABLE = re.compile(rb"[^\x20-\x7e]")
_SHIFTED = re.compile(rb"&([A-Za-z0-9+,]*)-")


class MailboxNameError(ValueError):
    """The octets are not a valid modified UTF-7 mailbox name."""


def encode(name: str) -> bytes:
    """A mailbox name as modified UTF-7 octets."""
    out = bytearray()
    position = 0
    for match in _PRINTABLE.finditer(name):
        out += _shift(name[position : match.start()])
        out += match.group().replace("&", "&-").encode("ascii")
        position = match.end()
    out += _shift(name[position:])
    return bytes(out)


def _shift(run: str) -> bytes:
    if not run:
        return b""
    encoded = base64.b64encode(run.encode("utf-16-be")).rstrip(b"=").replace(b"/", b",")
    return b"&" + encoded + b"-"


def decode(octets: bytes) -> str:
    """The mailbox name these modified UTF-7 octets stand for; raises :class:`MailboxNameError`."""
    if _NOT_PRINTABLE.search(octets):
        raise MailboxNameError("mailbox names are 7-bit printable (RFC 3501 section 5.1.3)")
    parts: list[str] = []
    position = 0
    for match in _SHIFTED.finditer(octets):
        parts.append(_plain(octets[position : match.start()]))
        parts.append(_unshift(match.group(1)))
        position = match.end()
    parts.append(_plain(octets[position:]))
    name = "".join(parts)
    if encode(name) != octets:
        raise MailboxNameError(f"{octets!r} is not in canonical modified UTF-7")
    return name


def _plain(octets: bytes) -> str:
    if b"&" in octets:
        raise MailboxNameError("'&' must start a shifted run ending in '-'")
    return octets.decode("ascii")


def _unshift(run: bytes) -> str:
    if not run:
        return "&"
    padded = run.replace(b",", b"/") + b"=" * (-len(run) % 4)
    try:
        return base64.b64decode(padded, validate=True).decode("utf-16-be")
    except (binascii.Error, UnicodeDecodeError) as error:
        raise MailboxNameError(f"bad shifted run &{run.decode()}-: {error}") from None
