"""Test messages for the round trips, and the trace fields the real servers prepend.

A message sent through Postfix and fetched from Dovecot comes back as the
exact bytes sent, preceded by trace header fields (RFC 5321 section 4.4):

- Postfix's submission service adds ``Received`` (``with ESMTPSA``);
- Dovecot's LMTP delivery adds ``Return-Path`` (RFC 5321 section 4.4, the
  envelope sender), ``Delivered-To`` (the envelope recipient) and its own
  ``Received`` (``with LMTP``).

:func:`split_trace` removes exactly those leading fields so the rest can be
compared byte for byte with what was sent.
"""

from __future__ import annotations

import email.policy
import email.utils
import secrets
from email.message import EmailMessage

#: The header fields a delivery through Postfix and Dovecot adds, in the order they appear.
ADDED_TRACE_FIELDS: tuple[str, ...] = ("Return-Path", "Delivered-To", "Received", "Received")

#: Field names :func:`split_trace` strips from the top of a delivered message (lower case).
TRACE_FIELD_NAMES = frozenset(name.lower() for name in ADDED_TRACE_FIELDS)

#: Body lines that exercise dot-stuffing (RFC 5321 section 4.5.2, RFC 1939 section 3).
DOT_LINES: tuple[str, ...] = (".", "..", ".leading dot", "..two leading dots")

#: An attachment with every byte value, so any 7-bit or line-ending damage shows.
ATTACHMENT = bytes(range(256)) * 4


def round_trip_message(*, sender: str, recipient: str, token: str | None = None) -> EmailMessage:
    """A message with an 8-bit UTF-8 body, dot lines and a binary attachment.

    ``Date`` and ``Message-ID`` are set by the client so no server has to add
    them; ``token`` (random by default) makes the Message-ID unique per test.
    """
    token = token or secrets.token_hex(8)
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = f"interop round trip {token}"
    message["Date"] = email.utils.formatdate(localtime=False)
    message["Message-ID"] = f"<{token}@interop.example.test>"
    first_line = "Grüße aus dem Test, ça marche: 8-bit UTF-8 body, 100 €, not encoded."
    body = "\n".join((first_line, *DOT_LINES, "last line"))
    message.set_content(body + "\n", charset="utf-8", cte="8bit")
    message.add_attachment(
        ATTACHMENT, maintype="application", subtype="octet-stream", filename="bytes.bin"
    )
    return message


def message_bytes(message: EmailMessage) -> bytes:
    """The message as sent on the wire: CRLF line ends (RFC 5322 section 2.1)."""
    return message.as_bytes(policy=email.policy.SMTP)


def _field_end(raw: bytes, start: int) -> int:
    """Offset just past the header field starting at ``start``, folded lines included."""
    end = start
    while True:
        newline = raw.find(b"\r\n", end)
        if newline < 0:
            return len(raw)
        end = newline + 2
        if raw[end : end + 1] not in (b" ", b"\t"):
            return end


def split_trace(raw: bytes) -> tuple[list[str], bytes]:
    """Split the leading trace fields off ``raw``: (their names in order, the rest).

    Only fields whose names are in :data:`TRACE_FIELD_NAMES` are taken; the
    first other line (a header field the client sent, or the empty line)
    ends the trace block, so fields the client sent are never removed.
    """
    names: list[str] = []
    position = 0
    while True:
        name, colon, _ = raw[position : _field_end(raw, position)].partition(b":")
        if not colon or name.decode("ascii", errors="replace").lower() not in TRACE_FIELD_NAMES:
            return names, raw[position:]
        names.append(name.decode("ascii"))
        position = _field_end(raw, position)
