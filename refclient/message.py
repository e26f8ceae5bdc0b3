"""Compose messages with the standard library's ``email`` package.

UTF-8 headers are encoded per RFC 2047 with ``policy.SMTP``, or kept as UTF-8
with ``policy.SMTPUTF8`` when an address needs it (RFC 6532); lines end in
CRLF. Attachments get a MIME type guessed from the file name.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path


def compose(
    *,
    sender: str,
    to: Sequence[str],
    subject: str,
    body: str,
    attachments: Sequence[Path] = (),
    cc: Sequence[str] = (),
    html: str | None = None,
) -> EmailMessage:
    """A message ready to send: text (plus HTML as multipart/alternative) and attachments."""
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = sender
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    domain = sender.rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain.encode("idna").decode("ascii"))
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for path in attachments:
        kind, _encoding = mimetypes.guess_type(path.name)
        maintype, _, subtype = (kind or "application/octet-stream").partition("/")
        message.add_attachment(
            path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name
        )
    return message


def needs_smtputf8(*addresses: str) -> bool:
    """Whether any address has non-ASCII characters (RFC 6531)."""
    return any(not address.isascii() for address in addresses)


def as_bytes(message: EmailMessage) -> bytes:
    """The message's octets, CRLF line ends; UTF-8 headers only when addresses need them."""
    addresses = [str(message.get(name, "")) for name in ("From", "To", "Cc")]
    chosen = policy.SMTPUTF8 if needs_smtputf8(*addresses) else policy.SMTP
    return message.as_bytes(policy=chosen)
