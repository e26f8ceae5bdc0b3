"""Trace header fields the submission server prepends on delivery (RFC 5321 section 4.4).

A delivered message is the client's exact bytes after two new leading
fields: ``Return-Path:`` (the envelope sender, added at final delivery) and
one ``Received:`` field. A message kept in the outbox (non-local recipients,
not finally delivered) gets the ``Received:`` field only. A client checking a
round trip compares the stored message with :func:`strip_trace_headers`
applied, which removes exactly those fields and nothing the client sent.
"""

from __future__ import annotations

import email.utils
import re
import secrets
from datetime import UTC, datetime

_UNSAFE = re.compile(r"[^\x21-\x7e]")


def received_field(*, helo: str, peer: str, hostname: str, tls: bool, authenticated: bool) -> bytes:
    """A ``Received:`` field (RFC 5321 section 4.4) with RFC 3848 protocol types.

    ``with`` is ESMTP, plus ``S`` under TLS and ``A`` after AUTH. Client-chosen
    text (the HELO name) is reduced to printable ASCII so the field stays valid.
    """
    protocol = "ESMTP" + ("S" if tls else "") + ("A" if authenticated else "")
    date = email.utils.format_datetime(datetime.now(UTC))
    helo_name = _UNSAFE.sub("?", helo)[:255] or "unknown"
    return (
        f"Received: from {helo_name} ({_UNSAFE.sub('?', peer)})\r\n"
        f"\tby {hostname} (mailcompat) with {protocol} id {secrets.token_hex(8)};\r\n"
        f"\t{date}\r\n"
    ).encode("ascii")


def return_path_field(sender: str) -> bytes:
    """``Return-Path: <sender>`` (RFC 5321 section 4.4), UTF-8 when the sender is (RFC 6531)."""
    return f"Return-Path: <{sender}>\r\n".encode("utf-8", "surrogateescape")


#: The exact shape of the fields :func:`return_path_field` and :func:`received_field` write.
_OUR_RETURN_PATH = re.compile(rb"Return-Path: <[^\r\n]*>\r\n")
_OUR_RECEIVED = re.compile(
    rb"Received: from [\x21-\x7e]+ \([\x21-\x7e]*\)\r\n"
    rb"\tby [^\r\n]* \(mailcompat\) with ESMTPS?A? id [0-9a-f]+;\r\n"
    rb"\t[^\r\n]*\r\n"
)


def strip_trace_headers(data: bytes) -> bytes:
    """The message as the client sent it: without the Return-Path and Received this server adds.

    Only fields of exactly the shape this server writes, at the very start,
    are removed: a client's own ``Received:`` fields stay.
    """
    return_path = _OUR_RETURN_PATH.match(data)
    start = return_path.end() if return_path else 0
    received = _OUR_RECEIVED.match(data, start)
    return data[received.end() :] if received else data[start:]
