"""The DATA payload (RFC 5321 section 4.5.2): dot-stuffing and the final ``.``."""

from __future__ import annotations


def stuff(message: bytes) -> bytes:
    """``message`` dot-stuffed and terminated with ``CRLF . CRLF``.

    Lines are taken as they are (the caller provides CRLF line ends); a
    message that does not end in CRLF gets one, as RFC 5321 requires the
    terminator on a line of its own.
    """
    body = message if message.endswith(b"\r\n") else message + b"\r\n"
    if body.startswith(b"."):
        body = b"." + body
    return body.replace(b"\r\n.", b"\r\n..") + b".\r\n"


def unstuff(payload: bytes) -> bytes:
    """The message ``stuff`` encoded (inverse, for tests and servers' views)."""
    if payload.endswith(b".\r\n"):
        payload = payload[:-3]
    if payload.startswith(b".."):
        payload = payload[1:]
    return payload.replace(b"\r\n..", b"\r\n.")
