"""Modified UTF-7 mailbox names (RFC 3501 section 5.1.3).

Printable US-ASCII stands for itself except ``&``, written ``&-``; any other
run of characters is UTF-16BE in modified base64 (``,`` for ``/``, no
padding) between ``&`` and ``-``.
"""

from __future__ import annotations

import base64
import binascii


class UTF7Error(ValueError):
    """The bytes are not valid modified UTF-7."""


def encode(name: str) -> bytes:
    """``name`` in modified UTF-7."""
    out = bytearray()
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.extend(b"&" + base64.b64encode(raw).rstrip(b"=").replace(b"/", b",") + b"-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.extend(b"&-" if char == "&" else char.encode("ascii"))
        else:
            pending.append(char)
    flush()
    return bytes(out)


def decode(data: bytes) -> str:
    """The name that ``data`` encodes; raises :class:`UTF7Error` when malformed."""
    out: list[str] = []
    position = 0
    while position < len(data):
        amp = data.find(b"&", position)
        if amp < 0:
            out.append(_ascii(data[position:]))
            break
        out.append(_ascii(data[position:amp]))
        end = data.find(b"-", amp)
        if end < 0:
            raise UTF7Error("unterminated '&' shift")
        chunk = data[amp + 1 : end]
        if not chunk:
            out.append("&")
        else:
            padded = chunk.replace(b",", b"/") + b"=" * (-len(chunk) % 4)
            try:
                raw = base64.b64decode(padded, validate=True)
                out.append(raw.decode("utf-16-be"))
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise UTF7Error(f"bad modified base64 {chunk!r}") from exc
        position = end + 1
    return "".join(out)


def _ascii(data: bytes) -> str:
    try:
        return data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise UTF7Error("8-bit octet in a modified UTF-7 name") from exc
