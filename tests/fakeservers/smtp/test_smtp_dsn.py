"""Delivery status notifications (RFC 3461, RFC 3464, RFC 6522) from the submission server.

Messages go in with smtplib; the notifications are read back with imaplib
and poplib, as any client would, and parsed with the standard library's
``email`` package (``message/delivery-status`` parts). A failure after
acceptance is an account over its quota (RFC 9208 limits in the store).
"""

from __future__ import annotations

import email
import email.policy
import imaplib
import poplib
import smtplib
from email.message import Message

import pytest

from fakeservers.controller import FakeMailServers
from fakeservers.smtp.dsn import DELIVERED, FAILED
from fakeservers.smtp.record import submission_record

ALICE = "alice@example.test"
BOB = "bob@example.test"
STRANGER = "carol@elsewhere.test"
MESSAGE = (
    b"From: alice@example.test\r\nTo: bob@example.test\r\nSubject: report me\r\n\r\nBody line\r\n"
)


def submit(
    servers: FakeMailServers,
    *,
    sender: str = ALICE,
    recipients: tuple[str, ...] = (BOB,),
    mail_options: tuple[str, ...] = (),
    rcpt_options: tuple[str, ...] = (),
    message: bytes = MESSAGE,
) -> None:
    """Submit ``message`` over implicit TLS as alice, with DSN parameters (smtplib)."""
    with smtplib.SMTP_SSL(
        servers.host,
        servers.endpoints["submissions"].port,
        context=servers.client_context(),
        timeout=10,
    ) as client:
        client.login(ALICE, "alice-pass")
        refused = client.sendmail(
            sender, list(recipients), message, list(mail_options), list(rcpt_options)
        )
        assert refused == {}


def imap_inbox(servers: FakeMailServers, user: str, password: str) -> list[bytes]:
    """Every message of ``user``'s INBOX, fetched over IMAPS with imaplib."""
    port = servers.endpoints["imaps"].port
    with imaplib.IMAP4_SSL(
        servers.host, port, ssl_context=servers.client_context(), timeout=10
    ) as imap:
        imap.login(user, password)
        imap.select("INBOX", readonly=True)
        status, data = imap.uid("SEARCH", "ALL")
        assert status == "OK"
        found: list[bytes] = []
        for uid in data[0].split():
            status, fetched = imap.uid("FETCH", uid, "(BODY.PEEK[])")
            assert status == "OK"
            item = fetched[0]
            assert isinstance(item, tuple)
            found.append(item[1])
        return found


def pop3_inbox(servers: FakeMailServers, user: str, password: str) -> list[bytes]:
    """Every message of ``user``'s maildrop, retrieved over POP3S with poplib."""
    pop = poplib.POP3_SSL(
        servers.host, servers.endpoints["pop3s"].port, context=servers.client_context(), timeout=10
    )
    try:
        pop.user(user)
        pop.pass_(password)
        count, _ = pop.stat()
        return [b"\r\n".join(pop.retr(n)[1]) + b"\r\n" for n in range(1, count + 1)]
    finally:
        pop.quit()


def reports(messages: list[bytes]) -> list[Message]:
    """The messages that are delivery status notifications (RFC 6522 section 3)."""
    parsed = [email.message_from_bytes(m, policy=email.policy.compat32) for m in messages]
    return [
        m
        for m in parsed
        if m.get_content_type() == "multipart/report"
        and m.get_param("report-type") == "delivery-status"
    ]


def parts(message: Message) -> list[Message]:
    """The parts of a multipart (or message/*) entity."""
    payload = message.get_payload()
    assert isinstance(payload, list)
    found = [part for part in payload if isinstance(part, Message)]
    assert len(found) == len(payload)
    return found


def status_blocks(report: Message) -> list[Message]:
    """The per-message block then one block per recipient (RFC 3464 section 2.1)."""
    found = parts(report)
    assert len(found) == 3
    assert found[0].get_content_type() == "text/plain"
    assert found[1].get_content_type() == "message/delivery-status"
    return parts(found[1])


# -- delivered (NOTIFY=SUCCESS) ------------------------------------------------------------


def test_success_dsn_is_read_back_over_imap_and_pop3(mail_servers: FakeMailServers) -> None:
    submit(
        mail_servers,
        mail_options=("RET=HDRS", "ENVID=run+2B42+20x"),
        rcpt_options=("NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;Bob+40example.test"),
    )
    over_imap = imap_inbox(mail_servers, ALICE, "alice-pass")
    over_pop3 = pop3_inbox(mail_servers, ALICE, "alice-pass")
    assert over_imap == over_pop3  # one notification, the same octets both ways
    (report,) = reports(over_imap)
    assert report["From"] == f"Mail Delivery System <MAILER-DAEMON@{mail_servers.config.hostname}>"
    assert report["To"] == f"<{ALICE}>"
    assert report["Auto-Submitted"] == "auto-replied"  # RFC 3834 section 5
    assert over_imap[0].startswith(b"Return-Path: <>\r\n")  # RFC 3461 section 6.2
    per_message, per_recipient = status_blocks(report)
    assert per_message["Reporting-MTA"] == f"dns; {mail_servers.config.hostname}"
    assert per_message["Original-Envelope-Id"] == "run+42 x"  # xtext decoded
    assert per_message["Arrival-Date"]
    assert per_recipient["Final-Recipient"] == f"rfc822; {BOB}"
    assert per_recipient["Original-Recipient"] == "rfc822; Bob@example.test"
    assert per_recipient["Action"] == "delivered"
    assert per_recipient["Status"] == "2.0.0"
    assert per_recipient["Diagnostic-Code"] is None
    returned = parts(report)[2]
    assert returned.get_content_type() == "text/rfc822-headers"  # RET=HDRS
    headers = returned.get_payload()
    assert isinstance(headers, str)
    assert "Subject: report me" in headers and "Body line" not in headers
    # the recipient got the message itself, and nothing else
    assert reports(imap_inbox(mail_servers, BOB, "bob-pass")) == []
    (transaction,) = submission_record(mail_servers.store).transactions
    (notification,) = transaction.notifications
    assert notification.action == DELIVERED and notification.recipients == (BOB,)
    assert notification.delivered is not None and notification.delivered[0] == ALICE


def test_ret_full_returns_the_whole_message(mail_servers: FakeMailServers) -> None:
    submit(mail_servers, mail_options=("RET=FULL",), rcpt_options=("NOTIFY=SUCCESS",))
    (report,) = reports(pop3_inbox(mail_servers, ALICE, "alice-pass"))
    returned = parts(report)[2]
    assert returned.get_content_type() == "message/rfc822"
    (inner,) = parts(returned)
    assert inner["Subject"] == "report me"
    assert inner.get_payload() == "Body line\r\n"
    per_message, _ = status_blocks(report)
    assert per_message["Original-Envelope-Id"] is None  # no ENVID given


def test_no_success_dsn_without_notify_success(mail_servers: FakeMailServers) -> None:
    submit(mail_servers)  # no NOTIFY: only failures would be reported (RFC 3461 4.1)
    submit(mail_servers, rcpt_options=("NOTIFY=FAILURE",))
    submit(mail_servers, rcpt_options=("NOTIFY=NEVER",))
    assert reports(imap_inbox(mail_servers, ALICE, "alice-pass")) == []
    assert len(imap_inbox(mail_servers, BOB, "bob-pass")) == 3
    assert all(not t.notifications for t in submission_record(mail_servers.store).transactions)


def test_one_report_lists_every_recipient_that_asked(mail_servers: FakeMailServers) -> None:
    submit(
        mail_servers,
        recipients=(BOB, ALICE),
        rcpt_options=("NOTIFY=SUCCESS",),
    )
    (report,) = reports(imap_inbox(mail_servers, ALICE, "alice-pass"))
    _, *recipients = status_blocks(report)
    assert [block["Final-Recipient"] for block in recipients] == [
        f"rfc822; {BOB}",
        f"rfc822; {ALICE}",
    ]


# -- failed after acceptance (quota) ---------------------------------------------------------


def test_failure_after_acceptance_sends_failed_dsn_by_default(
    mail_servers: FakeMailServers,
) -> None:
    mail_servers.store.account(BOB).quota["MESSAGE"] = 0
    submit(mail_servers)  # accepted with 250: the failure comes after acceptance
    assert imap_inbox(mail_servers, BOB, "bob-pass") == []
    (report,) = reports(imap_inbox(mail_servers, ALICE, "alice-pass"))
    assert report["Subject"] == "Undelivered Mail Returned to Sender"
    _, per_recipient = status_blocks(report)
    assert per_recipient["Action"] == "failed"
    assert per_recipient["Status"] == "5.2.2"  # RFC 3463 section 3.3: mailbox full
    assert per_recipient["Diagnostic-Code"].startswith("smtp; 552 5.2.2")
    returned = parts(report)[2]
    assert returned.get_content_type() == "message/rfc822"  # no RET: the whole message
    (transaction,) = submission_record(mail_servers.store).transactions
    assert transaction.delivered == () and transaction.failed[0][0] == BOB
    assert transaction.notifications[0].action == FAILED


def test_no_failed_dsn_for_never_or_success_only(mail_servers: FakeMailServers) -> None:
    mail_servers.store.account(BOB).quota["STORAGE"] = 0
    submit(mail_servers, rcpt_options=("NOTIFY=NEVER",))
    submit(mail_servers, rcpt_options=("NOTIFY=SUCCESS",))
    assert imap_inbox(mail_servers, BOB, "bob-pass") == []
    assert imap_inbox(mail_servers, ALICE, "alice-pass") == []
    failed = [t.failed for t in submission_record(mail_servers.store).transactions]
    assert [len(f) for f in failed] == [1, 1]


def test_mixed_outcomes_give_one_report_each(mail_servers: FakeMailServers) -> None:
    mail_servers.store.account(BOB).quota["MESSAGE"] = 0
    submit(mail_servers, recipients=(BOB, ALICE), rcpt_options=("NOTIFY=SUCCESS,FAILURE",))
    found = reports(pop3_inbox(mail_servers, ALICE, "alice-pass"))
    actions = sorted(status_blocks(r)[1]["Action"] for r in found)
    assert actions == ["delivered", "failed"]


# -- who gets a notification ----------------------------------------------------------------


def test_null_reverse_path_never_gets_a_dsn(mail_servers: FakeMailServers) -> None:
    submit(mail_servers, sender="", rcpt_options=("NOTIFY=SUCCESS",))
    (delivered,) = imap_inbox(mail_servers, BOB, "bob-pass")
    assert delivered.startswith(b"Return-Path: <>\r\n")
    assert imap_inbox(mail_servers, ALICE, "alice-pass") == []
    (transaction,) = submission_record(mail_servers.store).transactions
    assert transaction.sender == "" and transaction.notifications == ()


def test_null_reverse_path_failure_is_not_reported_either(mail_servers: FakeMailServers) -> None:
    mail_servers.store.account(BOB).quota["MESSAGE"] = 0
    submit(mail_servers, sender="")
    assert imap_inbox(mail_servers, ALICE, "alice-pass") == []
    (transaction,) = submission_record(mail_servers.store).transactions
    assert transaction.failed and transaction.notifications == ()


def test_sender_outside_the_store_is_recorded_not_delivered(
    mail_servers: FakeMailServers,
) -> None:
    submit(mail_servers, sender=STRANGER, rcpt_options=("NOTIFY=SUCCESS",))
    assert imap_inbox(mail_servers, ALICE, "alice-pass") == []
    assert mail_servers.store.outbox() == []  # nothing carries it
    (transaction,) = submission_record(mail_servers.store).transactions
    (notification,) = transaction.notifications
    assert notification.to == STRANGER and notification.delivered is None
    (report,) = reports([notification.data])
    assert status_blocks(report)[1]["Action"] == "delivered"


def test_outbox_recipients_get_no_notification(mail_servers: FakeMailServers) -> None:
    submit(mail_servers, recipients=(STRANGER,), rcpt_options=("NOTIFY=SUCCESS",))
    assert imap_inbox(mail_servers, ALICE, "alice-pass") == []
    (kept,) = mail_servers.store.outbox()
    assert kept.recipients == (STRANGER,)


@pytest.mark.parametrize("sender", [ALICE, ""])
def test_null_path_mail_from_is_accepted_with_parameters(
    mail_servers: FakeMailServers, sender: str
) -> None:
    submit(mail_servers, sender=sender, mail_options=("RET=HDRS",))
    (transaction,) = submission_record(mail_servers.store).transactions
    assert transaction.sender == sender


def test_smtputf8_transaction_gets_a_global_report(mail_servers: FakeMailServers) -> None:
    message = "From: Jörg <alice@example.test>\r\nSubject: Grüße\r\n\r\nHallo\r\n".encode()
    submit(
        mail_servers,
        mail_options=("SMTPUTF8",),
        rcpt_options=("NOTIFY=SUCCESS", "ORCPT=utf-8;b\\x{F6}b@example.test"),
        message=message,
    )
    (data,) = imap_inbox(mail_servers, ALICE, "alice-pass")
    parsed = email.message_from_bytes(data, policy=email.policy.compat32)
    found = parts(parsed)
    assert found[1].get_content_type() == "message/global-delivery-status"  # RFC 6533 section 6
    assert found[2].get_content_type() == "message/global-headers"
    assert "Original-Recipient: utf-8; böb@example.test".encode() in data
    assert "Subject: Grüße".encode() in data


def test_ascii_transaction_gets_a_plain_report(mail_servers: FakeMailServers) -> None:
    submit(
        mail_servers,
        rcpt_options=("NOTIFY=SUCCESS", "ORCPT=utf-8;b\\x{F6}b@example.test"),
    )
    (data,) = imap_inbox(mail_servers, ALICE, "alice-pass")
    assert data.isascii()
    assert b"Original-Recipient: utf-8; b\\x{F6}b@example.test" in data  # RFC 6533 section 3
