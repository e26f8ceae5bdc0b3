"""Messages with UTF-8 header fields, as a POP3 client that did not send UTF8 receives them.

RFC 6856 section 2: UTF-8 in header fields (RFC 6532) is for clients that
issued the UTF8 command. For any other client the server must keep to RFC
1939 and RFC 5322 on the wire, which leaves it to downgrade such a message
(RFC 6857, or the simpler RFC 6858) rather than send it unchanged. This
server applies RFC 6858's simplified downgrading to the message's header
section, where the UTF-8 is (section 3):

- in an address field (From, Sender, Reply-To, To, Cc, Bcc and their
  ``Resent-`` forms), a display name with UTF-8 becomes an RFC 2047
  encoded-word; an address whose local part or domain is UTF-8 cannot be
  written in ASCII at all, so it becomes an empty group whose display name is
  the encoded-word of the original text, as RFC 6858 section 3 does
  (``=?utf-8?b?...?=:;``), and the recipient still sees who it was;
- any other field with UTF-8 (Subject, Comments, the trace fields, unknown
  fields) has its whole value written as RFC 2047 encoded-words.

Fields that are ASCII stay byte for byte, and so does the body (8-bit MIME
bodies are not header fields and already allowed by RFC 1939). A header
field with 8-bit octets that are not UTF-8 is no UTF-8 header field and is
left as it is. The result is deterministic, so a message keeps one size and
the same octets in every non-UTF8 session (RFC 6856 section 2: LIST's size
is what RETR sends).

:mod:`email` does the RFC 2047 encoding and the address parsing.
"""

from __future__ import annotations

import email.header
import email.utils
import re

#: RFC 5322 section 3.6.2, 3.6.3 and 3.6.6: the fields whose value is an address list.
ADDRESS_FIELDS = frozenset(
    name.lower()
    for name in (
        "From",
        "Sender",
        "Reply-To",
        "To",
        "Cc",
        "Bcc",
        "Resent-From",
        "Resent-Sender",
        "Resent-To",
        "Resent-Cc",
        "Resent-Bcc",
    )
)

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FIELD_START = re.compile(rb"(?m)^(?![ \t])")
_FOLD = re.compile(r"\r?\n(?=[ \t])")

#: RFC 2047 section 2: an encoded-word line is at most 76 characters.
_MAX_LINE = 76


def header_size(data: bytes) -> int:
    """How many octets the header fields take, up to the blank line (RFC 5322 section 2.1).

    Only indices, no slices: the body of a large message is never copied here.
    """
    end = _HEADER_END.search(data)
    if end is None:
        return len(data)
    return data.index(b"\n", end.start()) + 1  # after the last field's EOL


def has_utf8_header(data: bytes) -> bool:
    """Whether the header section carries UTF-8 beyond ASCII (RFC 6532)."""
    header = data[: header_size(data)]
    if header.isascii():
        return False
    return any(_utf8_field(field) is not None for field in _fields(header))


def downgrade(data: bytes) -> bytes:
    """``data`` with every UTF-8 header field downgraded (RFC 6858 section 3); else unchanged."""
    size = header_size(data)
    header = data[:size]
    if header.isascii():
        return data
    out: list[bytes] = []
    for field in _fields(header):
        text = _utf8_field(field)
        out.append(field if text is None else _downgrade_field(text))
    return b"".join(out) + data[size:]


def _fields(header: bytes) -> list[bytes]:
    """The header's fields, each with its folded lines and line ends."""
    return [part for part in _FIELD_START.split(header) if part]


def _utf8_field(field: bytes) -> str | None:
    """The field as text if it has non-ASCII octets that are valid UTF-8, else None."""
    if field.isascii():
        return None
    try:
        return field.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _downgrade_field(field: str) -> bytes:
    name, colon, value = field.partition(":")
    if not colon:  # not a field at all (RFC 5322 section 2.2): nothing to keep
        return b""
    unfolded = _FOLD.sub("", value).strip()  # RFC 5322 section 2.2.3
    if name.strip().lower() in ADDRESS_FIELDS:
        new = _addresses(unfolded)
    else:
        new = _encoded(unfolded, len(name) + 2)
    return f"{name}: {new}\r\n".encode("ascii")


def _encoded(text: str, offset: int) -> str:
    """``text`` as RFC 2047 encoded-words in UTF-8, folded with CRLF."""
    header = email.header.Header(text, "utf-8", maxlinelen=_MAX_LINE, header_name="x" * offset)
    return header.encode(linesep="\r\n")


def _addresses(value: str) -> str:
    """An address list with ASCII addresses kept and UTF-8 ones turned into empty groups."""
    written: list[str] = []
    for display, address in email.utils.getaddresses([value]):
        if not address and not display:
            continue
        if address.isascii():
            written.append(email.utils.formataddr((display, address), charset="utf-8"))
        else:
            original = f"{display} <{address}>" if display else address
            # RFC 6858 section 3: the group's display name says who it was.
            written.append(_encoded(original, 0) + ":;")
    return ",\r\n ".join(written)
