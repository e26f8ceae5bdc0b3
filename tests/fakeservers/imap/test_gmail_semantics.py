"""Gmail's mailbox semantics (the ``gmail-semantics`` quirk), seen by imaplib and smtplib.

Each behaviour is shown on and off: the default servers keep RFC 3501
semantics.
"""

from __future__ import annotations

import imaplib
import smtplib
from collections.abc import Iterator

import pytest

from fakeservers.controller import FakeMailServers
from fakeservers.pki import TestPKI
from fakeservers.profiles.catalogue import server_config

ALICE = ("alice@example.test", "alice-pass")
NOTE = b"Message-ID: <one@example.test>\r\nSubject: hi\r\n\r\nhello\r\n"


@pytest.fixture(params=[True, False], ids=["gmail-semantics", "rfc"])
def servers(request: pytest.FixtureRequest, mail_pki: TestPKI) -> Iterator[FakeMailServers]:
    quirks = ["gmail-semantics"] if request.param else []
    with FakeMailServers(config=server_config("default", quirks=quirks), pki=mail_pki) as running:
        yield running


def _imap(servers: FakeMailServers) -> imaplib.IMAP4_SSL:
    port, context = servers.endpoints["imaps"].port, servers.client_context()
    client = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=context)
    client.login(*ALICE)
    return client


def _gmail(servers: FakeMailServers) -> bool:
    return "deleted-expunges" in servers.config.behaviours


def test_deleted_expunges_at_once(servers: FakeMailServers) -> None:
    servers.store.deliver(ALICE[0], NOTE)
    with _imap(servers) as client:
        client.select("INBOX")
        client.store("1", "+FLAGS", "(\\Deleted)")
        client.noop()
        count = int(client.select("INBOX")[1][0])
    assert count == (0 if _gmail(servers) else 1)


def test_append_keeps_one_copy_per_message_id(servers: FakeMailServers) -> None:
    with _imap(servers) as client:
        first = client.append("INBOX", None, None, NOTE)
        second = client.append("INBOX", None, None, NOTE)
        count = int(client.select("INBOX")[1][0])
    assert first[0] == second[0] == "OK"
    if _gmail(servers):
        assert count == 1
        assert first[1] == second[1]  # the same APPENDUID
    else:
        assert count == 2


def test_submission_lands_in_sent(servers: FakeMailServers) -> None:
    port, context = servers.endpoints["submissions"].port, servers.client_context()
    with smtplib.SMTP_SSL("127.0.0.1", port, context=context) as smtp:
        smtp.login(*ALICE)
        smtp.sendmail(ALICE[0], ["bob@example.test"], NOTE)
    sent = servers.store.mailbox(ALICE[0], "Sent").messages
    assert len(sent) == (1 if _gmail(servers) else 0)
    if sent:
        assert sent[0].data == NOTE
        assert "\\Seen" in sent[0].flags
