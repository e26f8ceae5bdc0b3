"""SMTPUTF8 end to end: smtplib submits UTF-8 addresses and header fields, imaplib reads them back.

RFC 6531 section 3.4 (SMTPUTF8 on MAIL FROM), RFC 6532 (UTF-8 header
fields), RFC 6855 section 3 (after ``ENABLE UTF8=ACCEPT`` the server sends
them as they are): the message each recipient reads over IMAP is the one
submitted, byte for byte, behind the server's trace fields. One recipient
is an account whose address is UTF-8 itself.
"""

from __future__ import annotations

import imaplib
import smtplib
from collections.abc import Iterator

import pytest

from fakeservers.controller import DEFAULT_ACCOUNTS, AccountSpec, FakeMailServers
from fakeservers.pki import TestPKI
from fakeservers.smtp import strip_trace_headers

ALICE = ("alice@example.test", "alice-pass")
JOERG = ("jörg@example.test", "jörg-pass")
MESSAGE = (
    "From: Alice <alice@example.test>\r\n"
    "To: Jörg Müller <jörg@example.test>, alice@example.test\r\n"
    "Subject: Grüße aus München ☃\r\n"
    "X-Ünïcode-Field: straße\r\n"
    "\r\n"
    "Hallo Jörg\r\n"
).encode()


@pytest.fixture
def servers(mail_pki: TestPKI) -> Iterator[FakeMailServers]:
    accounts = (*DEFAULT_ACCOUNTS, AccountSpec(*JOERG))
    with FakeMailServers(accounts=accounts, pki=mail_pki) as running:
        yield running


def submit(servers: FakeMailServers, *, smtputf8: bool) -> dict[str, tuple[int, bytes]]:
    """Send :data:`MESSAGE` to Jörg and Alice; the refused recipients (smtplib)."""
    with smtplib.SMTP_SSL(
        servers.host,
        servers.endpoints["submissions"].port,
        context=servers.client_context(),
        timeout=10,
    ) as client:
        client.login(*ALICE)
        # smtplib's sendmail leaves command lines ASCII (only send_message switches);
        # the negative test sends the UTF-8 address without SMTPUTF8 on purpose.
        client.command_encoding = "utf-8"
        return client.sendmail(
            ALICE[0],
            [JOERG[0], ALICE[0]],
            MESSAGE,
            mail_options=["SMTPUTF8"] if smtputf8 else [],
        )


def imap_read(servers: FakeMailServers, user: str, password: str) -> list[bytes]:
    """Every INBOX message of ``user`` after ENABLE UTF8=ACCEPT (imaplib, IMAPS)."""
    with imaplib.IMAP4_SSL(
        servers.host,
        servers.endpoints["imaps"].port,
        ssl_context=servers.client_context(),
        timeout=10,
    ) as imap:
        credentials = f"\0{user}\0{password}".encode()
        imap.authenticate("PLAIN", lambda _: credentials)  # UTF-8 user names need SASL here
        status, _ = imap.enable("UTF8=ACCEPT")
        assert status == "OK" and imap.utf8_enabled
        assert imap.response("ENABLED")[1] == [b"UTF8=ACCEPT"]
        imap.select("INBOX", readonly=True)
        status, data = imap.uid("SEARCH", "ALL")
        assert status == "OK"
        found: list[bytes] = []
        for uid in data[0].split():
            status, fetched = imap.uid("FETCH", uid, "(BODY.PEEK[])")
            assert status == "OK" and isinstance(fetched[0], tuple)
            found.append(fetched[0][1])
        return found


def test_utf8_message_reaches_both_recipients_byte_exact(servers: FakeMailServers) -> None:
    assert submit(servers, smtputf8=True) == {}
    for user, password in (ALICE, JOERG):
        (stored,) = imap_read(servers, user, password)
        assert strip_trace_headers(stored) == MESSAGE
        assert stored.startswith(f"Return-Path: <{ALICE[0]}>\r\n".encode())


def test_utf8_address_without_smtputf8_is_refused(servers: FakeMailServers) -> None:
    refused = submit(servers, smtputf8=False)
    (code, reply) = refused[JOERG[0]]
    assert code == 553 and reply.startswith(b"5.6.7")  # RFC 6531 section 3.4
    assert imap_read(servers, *JOERG) == []
    (delivered,) = imap_read(servers, *ALICE)  # the ASCII recipient still gets it
    assert strip_trace_headers(delivered) == MESSAGE
