"""Delivery status notifications (RFC 3461) as the submission server issues them.

After a message is accepted, each recipient ends up *delivered* (a copy in
its INBOX) or *failed* (the delivery after acceptance failed, for example
over the account's quota). RFC 3461 section 4.1 says who asked to hear of
it: ``NOTIFY=SUCCESS`` for delivered, ``NOTIFY=FAILURE`` (also the default
when NOTIFY is absent, section 4.1 and 6.1) for failed, ``NOTIFY=NEVER`` for
nothing. Recipients kept in the outbox are neither: the outbox stands for a
relay hop that never happens, so their DSN request stays in the record.

A notification is a report of RFC 6522 (``multipart/report;
report-type=delivery-status``) with three parts, laid out as Postfix writes
them:

1. a human-readable explanation (``text/plain``);
2. the ``message/delivery-status`` part of RFC 3464 section 2: per-message
   fields (``Reporting-MTA``, ``Original-Envelope-Id`` from ENVID,
   ``Arrival-Date``) and one block per recipient (``Original-Recipient`` from
   ORCPT, ``Final-Recipient``, ``Action``, ``Status``, ``Diagnostic-Code``
   for failures);
3. the original message: all of it as ``message/rfc822`` with ``RET=FULL``,
   only its header as ``text/rfc822-headers`` with ``RET=HDRS``. Without RET,
   RFC 3461 section 4.3 leaves the choice to the MTA: a failed notification
   returns the whole message, a delivered one its header (as Postfix does).

In an SMTPUTF8 transaction the parts are RFC 6533's ``message/global-
delivery-status`` and ``message/global`` / ``message/global-headers``, and
addresses of type ``utf-8`` are written in UTF-8. Otherwise a non-ASCII
address is written as RFC 6533's ``utf-8-addr-xtext`` (``\\x{HEX}``).

The report is sent from the null reverse-path (RFC 5321 section 4.5.5, RFC
3461 section 6.2) to the envelope sender. A message whose own reverse-path
is null never gets one (RFC 3461 section 6.2: that would risk loops).

The report is assembled here as octets rather than with :mod:`email`'s
generator, because the returned message must be embedded byte for byte,
8-bit and non-UTF-8 octets included, which the generator would re-encode.
"""

from __future__ import annotations

import email.utils
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from fakeservers.smtp.parameters import MailParameters, RecipientParameters

#: RFC 3464 section 2.3.3: the Action values this server produces.
DELIVERED = "delivered"
FAILED = "failed"

#: The display name and local part of the report's author, as Postfix writes them.
MAILER_DAEMON = "MAILER-DAEMON"


@dataclass(frozen=True)
class RecipientOutcome:
    """What became of one accepted recipient (RFC 3464 section 2.3)."""

    recipient: RecipientParameters
    #: :data:`DELIVERED` or :data:`FAILED`.
    action: str
    #: RFC 3463 enhanced status code, e.g. ``2.0.0`` or ``5.2.2``.
    status: str
    #: The SMTP reply that describes a failure (``Diagnostic-Code: smtp; ...``).
    diagnostic: str | None = None


@dataclass(frozen=True)
class Notification:
    """One DSN the server issued (or could not deliver) for an accepted message."""

    #: :data:`DELIVERED` or :data:`FAILED`: every recipient it reports had this action.
    action: str
    #: The recipients it reports.
    recipients: tuple[str, ...]
    #: The address it is for: the envelope sender.
    to: str
    #: The report's octets (RFC 6522 multipart/report).
    data: bytes
    #: (user, UID in INBOX) where it was delivered; None when the sender is not a
    #: local account (nothing can carry it: the outbox never relays) or its
    #: delivery failed too (a notification about a notification is never sent).
    delivered: tuple[str, int] | None = None


def wants_notification(recipient: RecipientParameters, action: str) -> bool:
    """Whether ``recipient``'s NOTIFY asks for a DSN with ``action`` (RFC 3461 section 4.1)."""
    notify = recipient.notify
    if notify is not None and notify == ("NEVER",):
        return False
    if action == DELIVERED:
        return notify is not None and "SUCCESS" in notify
    # Section 4.1: without NOTIFY the MTA acts as if NOTIFY=FAILURE (or FAILURE,DELAY).
    return notify is None or "FAILURE" in notify


def _address(kind: str, address: str, *, utf8: bool) -> str:
    """``addr-type; address`` for a report field (RFC 3464 section 2.3.1, RFC 6533 section 3)."""
    if address.isascii():
        return f"{kind}; {address}"
    if utf8:
        return f"utf-8; {address}"
    # RFC 6533 section 3: utf-8-addr-xtext, each non-ASCII code point as \x{HEX}.
    escaped = "".join(c if c.isascii() else f"\\x{{{ord(c):X}}}" for c in address)
    return f"utf-8; {escaped}"


def _header_of(message: bytes) -> bytes:
    """The header section of ``message`` with the blank line that ends it (RFC 5322 section 2.1)."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        end = message.find(separator)
        if end >= 0:
            return message[: end + len(separator)]
    return message if message.endswith(b"\n") else message + b"\r\n"


def _crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8", "surrogateescape")


def build_report(
    *,
    action: str,
    outcomes: Sequence[RecipientOutcome],
    sender: str,
    parameters: MailParameters,
    message: bytes,
    hostname: str,
    arrival: datetime,
) -> bytes:
    """The RFC 6522 multipart/report for ``outcomes`` of one message, to ``sender``.

    ``message`` is the message as this server received it (with its own
    ``Received:`` field), returned whole or as its header per RET.
    """
    utf8 = parameters.smtputf8
    now = email.utils.format_datetime(datetime.now(UTC))
    failed = action == FAILED
    full = parameters.ret == "FULL" or (parameters.ret is None and failed)
    returned = message if full else _header_of(message)
    boundary = f"{secrets.token_hex(12)}/{hostname}"
    while boundary.encode() in returned:  # RFC 2046 section 5.1.1: must not occur inside
        boundary = f"{secrets.token_hex(12)}/{hostname}"
    if utf8:  # RFC 6533 sections 3 and 6
        status_type = "message/global-delivery-status"
        returned_type = "message/global" if full else "message/global-headers"
    else:
        status_type = "message/delivery-status"
        returned_type = "message/rfc822" if full else "text/rfc822-headers"

    if failed:
        subject = "Undelivered Mail Returned to Sender"
        intro = (
            "This is the mail system at host {host}.\n\n"
            "I'm sorry to have to inform you that your message could not\n"
            "be delivered to one or more recipients. It's attached below.\n"
        )
    else:
        subject = "Successful Mail Delivery Report"
        intro = (
            "This is the mail system at host {host}.\n\n"
            "Your message was successfully delivered to the destination(s)\n"
            "listed below.\n"
        )
    explanation = intro.format(host=hostname) + "\n                   The mail system\n\n"
    for outcome in outcomes:
        detail = outcome.diagnostic or f"delivered to mailbox: {outcome.status}"
        explanation += f"<{outcome.recipient.address}>: {detail}\n"

    # RFC 3464 section 2.2: per-message fields, then a blank line before each recipient.
    status = f"Reporting-MTA: dns; {hostname}\n"
    if parameters.envid is not None:  # section 2.2.1, the ENVID decoded from xtext
        status += f"Original-Envelope-Id: {parameters.envid}\n"
    status += f"Arrival-Date: {email.utils.format_datetime(arrival)}\n"
    for outcome in outcomes:
        status += "\n"
        orcpt = outcome.recipient.orcpt
        if orcpt is not None:  # section 2.3.1, from the ORCPT parameter
            status += f"Original-Recipient: {_address(orcpt[0], orcpt[1], utf8=utf8)}\n"
        status += f"Final-Recipient: {_address('rfc822', outcome.recipient.address, utf8=utf8)}\n"
        status += f"Action: {outcome.action}\nStatus: {outcome.status}\n"
        if outcome.diagnostic is not None:  # section 2.3.6
            status += f"Diagnostic-Code: smtp; {outcome.diagnostic}\n"

    charset = "us-ascii" if explanation.isascii() else "utf-8"
    # RFC 2045 section 6 / RFC 3030 section 3: the encoding the returned octets need.
    if parameters.body == "BINARYMIME":
        encoding = "binary"
    elif returned.isascii() and status.isascii():
        encoding = "7bit"
    else:
        encoding = "8bit"
    header = (
        f"Date: {now}\n"
        f"From: Mail Delivery System <{MAILER_DAEMON}@{hostname}>\n"
        f"Subject: {subject}\n"
        f"To: <{sender}>\n"
        "Auto-Submitted: auto-replied\n"  # RFC 3834 section 5
        "MIME-Version: 1.0\n"
        f'Content-Type: multipart/report; report-type=delivery-status;\n\tboundary="{boundary}"\n'
        f"Content-Transfer-Encoding: {encoding}\n"
        f"Message-ID: <{secrets.token_hex(10)}@{hostname}>\n"
        "\n"
        "This is a MIME-encapsulated message.\n\n"
    )
    return b"".join(
        [
            _crlf(header),
            _crlf(
                f"--{boundary}\nContent-Description: Notification\n"
                f"Content-Type: text/plain; charset={charset}\n\n{explanation}\n"
            ),
            _crlf(
                f"--{boundary}\nContent-Description: Delivery report\n"
                f"Content-Type: {status_type}\n\n{status}\n"
            ),
            _crlf(
                f"--{boundary}\nContent-Description: "
                f"{'Undelivered Message' if full else 'Message Headers'}\n"
                f"Content-Type: {returned_type}\n"
                + (f"Content-Transfer-Encoding: {encoding}\n" if encoding != "7bit" else "")
                + "\n"
            ),
            returned,
            b"" if returned.endswith(b"\n") else b"\r\n",
            _crlf(f"\n--{boundary}--\n"),
        ]
    )
