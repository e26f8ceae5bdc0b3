"""OAuth2 tokens with an expiry: accepted while valid, refused after, by real clients."""

from __future__ import annotations

import base64
import imaplib
import smtplib

import pytest

from fakeservers.controller import FakeMailServers

USER = "alice@example.test"


def _xoauth2(token: str) -> bytes:
    return f"user={USER}\1auth=Bearer {token}\1\1".encode()


def test_imap_accepts_a_live_token_and_refuses_an_expired_one(
    mail_servers: FakeMailServers,
) -> None:
    mail_servers.store.add_token(USER, "live", expires_in=3600)
    mail_servers.store.add_token(USER, "stale", expires_in=0)
    port, context = mail_servers.endpoints["imaps"].port, mail_servers.client_context()
    with imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=context) as client:
        assert client.authenticate("XOAUTH2", lambda _: _xoauth2("live"))[0] == "OK"
    with (
        imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=context) as client,
        pytest.raises(imaplib.IMAP4.error),
    ):
        client.authenticate("XOAUTH2", lambda _: _xoauth2("stale"))


def test_smtp_refuses_an_expired_token_with_the_oauth_error(mail_servers: FakeMailServers) -> None:
    mail_servers.store.add_token(USER, "stale", expires_in=0)
    port, context = mail_servers.endpoints["submissions"].port, mail_servers.client_context()
    with smtplib.SMTP_SSL("127.0.0.1", port, context=context) as smtp:
        smtp.ehlo()
        initial = base64.b64encode(_xoauth2("stale")).decode()
        code, text = smtp.docmd("AUTH", f"XOAUTH2 {initial}")
        assert code == 334  # RFC 7628 section 3.2.2: the error JSON as a challenge
        assert b'"status":"400"' in base64.b64decode(text)
        code, _ = smtp.docmd("")
        assert code == 535


def test_a_token_without_expiry_never_expires(mail_servers: FakeMailServers) -> None:
    mail_servers.store.add_token(USER, "forever")
    mail_servers.store.add_token(USER, "forever", expires_in=None)
    assert mail_servers.store.check_token(USER, "forever") is not None
