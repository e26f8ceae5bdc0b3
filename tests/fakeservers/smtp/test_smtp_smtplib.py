"""The fake submission server driven by the standard library's smtplib, TLS verified."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import smtplib
from collections.abc import Iterator

import pytest

from fakeservers.config import Limits, ServerConfig
from fakeservers.controller import ENDPOINTS, FakeMailServers
from fakeservers.pki import TestPKI
from fakeservers.smtp import strip_trace_headers

ALICE = "alice@example.test"
BOB = "bob@example.test"
MESSAGE = b"From: alice@example.test\r\nSubject: hi\r\n\r\n.leading dot\r\n8-bit \xc3\xa9\xff\r\n"


def starttls_client(servers: FakeMailServers) -> smtplib.SMTP:
    client = smtplib.SMTP(servers.host, servers.endpoints["submission"].port, timeout=5)
    client.starttls(context=servers.client_context())
    return client


def tls_client(servers: FakeMailServers) -> smtplib.SMTP_SSL:
    return smtplib.SMTP_SSL(
        servers.host,
        servers.endpoints["submissions"].port,
        context=servers.client_context(),
        timeout=5,
    )


def inbox(servers: FakeMailServers, user: str) -> list[bytes]:
    return [m.data for m in servers.store.mailbox(user, "INBOX").messages]


@pytest.fixture
def alice(smtp_server: FakeMailServers) -> Iterator[smtplib.SMTP_SSL]:
    client = tls_client(smtp_server)
    client.login(ALICE, "alice-pass")
    yield client
    client.quit()


# -- EHLO and TLS ---------------------------------------------------------------------


def test_ehlo_before_and_after_starttls(smtp_server: FakeMailServers) -> None:
    client = smtplib.SMTP(smtp_server.host, smtp_server.endpoints["submission"].port, timeout=5)
    client.ehlo()
    for keyword in ("size", "8bitmime", "smtputf8", "pipelining", "enhancedstatuscodes"):
        assert client.has_extn(keyword)
    assert client.has_extn("starttls") and not client.has_extn("auth")
    assert client.esmtp_features["size"] == str(Limits().max_message_size)
    client.starttls(context=smtp_server.client_context())
    client.ehlo()
    assert not client.has_extn("starttls")
    assert client.esmtp_features["auth"].split() == [
        "CRAM-MD5",
        "LOGIN",
        "OAUTHBEARER",
        "PLAIN",
        "SCRAM-SHA-1",
        "SCRAM-SHA-256",
        "XOAUTH2",
    ]
    client.quit()


def test_implicit_tls_offers_auth_and_no_starttls(smtp_server: FakeMailServers) -> None:
    client = tls_client(smtp_server)
    client.ehlo()
    assert client.has_extn("auth") and not client.has_extn("starttls")
    client.quit()


def test_greeting(smtp_server: FakeMailServers) -> None:
    client = tls_client(smtp_server)
    code, text = client.ehlo()
    assert code == 250 and text.startswith(b"localhost\n")
    client.quit()


def test_auth_and_mail_refused_before_starttls(smtp_server: FakeMailServers) -> None:
    client = smtplib.SMTP(smtp_server.host, smtp_server.endpoints["submission"].port, timeout=5)
    client.ehlo()
    assert client.docmd("AUTH", "PLAIN")[0] == 530
    assert client.mail(ALICE) == (530, b"5.7.0 Must issue a STARTTLS command first")
    client.quit()


# -- AUTH -------------------------------------------------------------------------------


def auth_with(client: smtplib.SMTP, mechanism: str, password: str) -> tuple[int, bytes]:
    """smtplib's own PLAIN / LOGIN / CRAM-MD5 client code, with a chosen mechanism."""
    client.user, client.password = ALICE, password
    if mechanism == "PLAIN":
        return client.auth("PLAIN", client.auth_plain)
    if mechanism == "LOGIN":
        return client.auth("LOGIN", client.auth_login, initial_response_ok=False)
    return client.auth("CRAM-MD5", client.auth_cram_md5, initial_response_ok=False)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
@pytest.mark.parametrize("implicit_tls", [False, True])
def test_auth_mechanisms_through_smtplib(
    smtp_server: FakeMailServers, mechanism: str, implicit_tls: bool
) -> None:
    client = tls_client(smtp_server) if implicit_tls else starttls_client(smtp_server)
    client.ehlo()
    assert auth_with(client, mechanism, "alice-pass") == (235, b"2.7.0 Authentication successful")
    client.quit()


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_wrong_password_gets_535(smtp_server: FakeMailServers, mechanism: str) -> None:
    client = tls_client(smtp_server)
    client.ehlo()
    with pytest.raises(smtplib.SMTPAuthenticationError) as failure:
        auth_with(client, mechanism, "bob-pass")
    assert failure.value.smtp_code == 535
    assert failure.value.smtp_error == b"5.7.8 Authentication credentials invalid"
    client.quit()


def test_mail_requires_authentication(smtp_server: FakeMailServers) -> None:
    client = tls_client(smtp_server)
    client.ehlo()
    assert client.mail(ALICE) == (530, b"5.7.0 Authentication required")
    client.quit()


def test_xoauth2_failure_is_a_334_json_then_535(smtp_server: FakeMailServers) -> None:
    smtp_server.store.account(ALICE).tokens.add("good-token")
    client = tls_client(smtp_server)
    client.ehlo()
    bad = base64.b64encode(f"user={ALICE}\x01auth=Bearer bad\x01\x01".encode()).decode()
    code, challenge = client.docmd("AUTH", f"XOAUTH2 {bad}")
    assert code == 334
    assert json.loads(base64.b64decode(challenge))["status"] == "400"
    assert client.docmd("") == (535, b"5.7.8 Authentication credentials invalid")
    good = base64.b64encode(f"user={ALICE}\x01auth=Bearer good-token\x01\x01".encode()).decode()
    assert client.docmd("AUTH", f"XOAUTH2 {good}")[0] == 235
    client.quit()


def test_scram_sha1_server_final_is_a_334_challenge(smtp_server: FakeMailServers) -> None:
    client = tls_client(smtp_server)
    client.ehlo()
    bare = f"n={ALICE},r=smtpclientnonce"
    first = base64.b64encode(f"n,,{bare}".encode()).decode()
    code, challenge = client.docmd("AUTH", f"SCRAM-SHA-1 {first}")
    assert code == 334
    server_first = base64.b64decode(challenge).decode()
    fields = dict(item.split("=", 1) for item in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha1", b"alice-pass", base64.b64decode(fields["s"]), 4096)
    without_proof = f"c=biws,r={fields['r']}"
    auth_message = f"{bare},{server_first},{without_proof}".encode()
    client_key = hmac.digest(salted, b"Client Key", "sha1")
    signature = hmac.digest(hashlib.sha1(client_key).digest(), auth_message, "sha1")
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature, strict=True)))
    final = base64.b64encode(f"{without_proof},p={proof.decode()}".encode()).decode()
    code, server_final = client.docmd(final)
    assert code == 334
    expected = hmac.digest(hmac.digest(salted, b"Server Key", "sha1"), auth_message, "sha1")
    assert base64.b64decode(server_final) == b"v=" + base64.b64encode(expected)
    assert client.docmd("")[0] == 235
    client.quit()


def test_long_oauth2_token_as_a_challenge_response(smtp_server: FakeMailServers) -> None:
    token = "t" * 4000  # RFC 4954 section 4: responses up to about 12288 octets
    smtp_server.store.account(ALICE).tokens.add(token)
    client = tls_client(smtp_server)
    client.ehlo()
    # Too long for the 512-octet AUTH command line, so sent after an empty 334 challenge.
    assert client.docmd("AUTH", "XOAUTH2") == (334, b"")
    response = base64.b64encode(f"user={ALICE}\x01auth=Bearer {token}\x01\x01".encode())
    assert len(response) > 5000
    assert client.docmd(response.decode())[0] == 235
    client.quit()


def test_auth_cancel_and_bad_base64(smtp_server: FakeMailServers) -> None:
    client = tls_client(smtp_server)
    client.ehlo()
    assert client.docmd("AUTH", "LOGIN")[0] == 334
    assert client.docmd("*")[0] == 501
    assert client.docmd("AUTH", "PLAIN !!!")[0] == 501
    assert client.docmd("AUTH", "GSSAPI")[0] == 504
    assert client.docmd("AUTH", "PLAIN =")[0] == 535  # empty initial response
    assert client.docmd("AUTH")[0] == 501
    assert client.docmd("AUTH", "XOAUTH2")[0] == 334
    assert client.docmd("A" * 13000) == (500, b"5.5.6 Authentication response line too long")
    plain = base64.b64encode(f"\0{ALICE}\0alice-pass".encode()).decode()
    assert client.docmd("AUTH", f"plain {plain}")[0] == 235  # names are case-insensitive
    client.quit()


# -- delivery ---------------------------------------------------------------------------


def test_send_to_two_local_recipients_over_starttls(smtp_server: FakeMailServers) -> None:
    client = starttls_client(smtp_server)
    client.login(ALICE, "alice-pass")
    assert client.sendmail(ALICE, [BOB, ALICE], MESSAGE) == {}
    client.quit()
    for user in (ALICE, BOB):
        [stored] = inbox(smtp_server, user)
        assert strip_trace_headers(stored) == MESSAGE
        assert stored.startswith(b"Return-Path: <alice@example.test>\r\nReceived: from ")
        assert b" with ESMTPSA id " in stored


def test_sender_copy_appears_nowhere(alice: smtplib.SMTP_SSL, smtp_server: FakeMailServers) -> None:
    alice.sendmail(ALICE, [BOB], MESSAGE)
    for box in smtp_server.store.mailboxes(ALICE):
        assert box.messages == [], box.name
    assert smtp_server.store.outbox() == []


def test_recipient_listed_twice_gets_one_copy(
    alice: smtplib.SMTP_SSL, smtp_server: FakeMailServers
) -> None:
    alice.sendmail(ALICE, [BOB, "BOB@example.test"], MESSAGE)
    assert len(inbox(smtp_server, BOB)) == 1


def test_unknown_local_recipient_gets_550_511(alice: smtplib.SMTP_SSL) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        alice.sendmail(ALICE, ["nobody@example.test"], MESSAGE)
    assert refused.value.recipients == {"nobody@example.test": (550, b"5.1.1 No such user here")}


def test_partial_refusal_still_delivers_to_the_others(
    alice: smtplib.SMTP_SSL, smtp_server: FakeMailServers
) -> None:
    refused = alice.sendmail(ALICE, ["nobody@example.test", BOB], MESSAGE)
    assert refused == {"nobody@example.test": (550, b"5.1.1 No such user here")}
    assert len(inbox(smtp_server, BOB)) == 1


def test_other_domains_go_to_the_outbox(
    alice: smtplib.SMTP_SSL, smtp_server: FakeMailServers
) -> None:
    alice.sendmail(ALICE, ["carol@elsewhere.test", BOB, "dave@elsewhere.test"], MESSAGE)
    [outgoing] = smtp_server.store.outbox()
    assert outgoing.sender == ALICE
    assert outgoing.recipients == ("carol@elsewhere.test", "dave@elsewhere.test")
    assert strip_trace_headers(outgoing.data) == MESSAGE
    assert not outgoing.data.startswith(b"Return-Path:")  # not a final delivery
    assert len(inbox(smtp_server, BOB)) == 1


def test_smtputf8_recipient_and_body(alice: smtplib.SMTP_SSL, smtp_server: FakeMailServers) -> None:
    message = "Subject: caf\u00e9\r\n\r\n\u00e9t\u00e9\r\n".encode()
    alice.sendmail(ALICE, ["j\u00f6rg@elsewhere.test"], message, mail_options=["SMTPUTF8"])
    [outgoing] = smtp_server.store.outbox()
    assert outgoing.recipients == ("j\u00f6rg@elsewhere.test",)
    assert strip_trace_headers(outgoing.data) == message


@pytest.fixture
def small_servers(mail_pki: TestPKI) -> Iterator[FakeMailServers]:
    ports: dict[str, int | None] = {
        spec.name: (0 if spec.protocol == "smtp" else None) for spec in ENDPOINTS
    }
    config = ServerConfig(limits=Limits(max_message_size=10_000))
    with FakeMailServers(ports=ports, pki=mail_pki, config=config) as servers:
        yield servers


def test_message_over_the_size_limit_gets_552_534(small_servers: FakeMailServers) -> None:
    client = tls_client(small_servers)
    client.login(ALICE, "alice-pass")
    big = b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 200
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:  # SIZE= on MAIL
        client.sendmail(ALICE, [BOB], big)
    assert refused.value.smtp_code == 552
    assert refused.value.smtp_error.startswith(b"5.3.4")
    # Without SIZE= the limit is enforced on DATA itself.
    assert client.docmd("MAIL", f"FROM:<{ALICE}>")[0] == 250
    assert client.docmd("RCPT", f"TO:<{BOB}>")[0] == 250
    assert client.docmd("DATA")[0] == 354
    client.send(b"x" * 998 + b"\r\n")
    client.send((b"y" * 998 + b"\r\n") * 11 + b".\r\n")
    code, text = client.getreply()
    assert (code, text[:5]) == (552, b"5.3.4")
    # the session goes on, and a message under the limit passes
    assert client.sendmail(ALICE, [BOB], MESSAGE) == {}
    client.quit()
    assert [strip_trace_headers(m) for m in inbox(small_servers, BOB)] == [MESSAGE]


def test_successful_auth_logs_no_warning(
    smtp_server: FakeMailServers, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        client = tls_client(smtp_server)
        client.login(ALICE, "alice-pass")
        client.quit()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
