"""The blocking facade drives the same sessions from plain synchronous code."""

from __future__ import annotations

import pytest

from fakeservers.controller import FakeMailServers
from fakeservers.smtp import strip_trace_headers
from refclient import errors
from refclient.blocking import IMAPClient, POP3Client, SMTPClient
from refclient.credentials import Credentials
from refclient.session.options import ClientOptions

ALICE = Credentials(user="alice@example.test", password="alice-pass")
MESSAGE = b"Subject: blocking\r\n\r\nhello\r\n"


def test_send_then_read_with_blocking_clients(mail_servers: FakeMailServers) -> None:
    options = ClientOptions(ca_file=mail_servers.ca_file)
    with SMTPClient(mail_servers.url("submission"), ALICE, options=options) as smtp:
        result = smtp.send(MESSAGE, sender=ALICE.user, recipients=[ALICE.user])
        assert result.accepted == [ALICE.user]
    with IMAPClient(mail_servers.url("imaps"), ALICE, options=options) as imap:
        assert imap.select("INBOX").exists == 1
        (uid,) = imap.search("ALL")
        assert strip_trace_headers(imap.fetch_message(uid)) == MESSAGE
        assert "IMAP4REV1" in imap.capabilities
    with POP3Client(mail_servers.url("pop3"), ALICE, options=options) as pop:
        assert pop.stat()[0] == 1
        assert strip_trace_headers(pop.retr(1)) == MESSAGE


def test_a_failed_login_raises_and_closes(mail_servers: FakeMailServers) -> None:
    wrong = Credentials(user=ALICE.user, password="nope")
    client = IMAPClient(
        mail_servers.url("imaps"), wrong, options=ClientOptions(ca_file=mail_servers.ca_file)
    )
    with pytest.raises(errors.AuthenticationFailed), client:
        pass
    assert client.session.tls is not None  # it got as far as TLS, then closed cleanly
