"""The standard library's imaplib against the fake IMAP server, certificates verified."""

from __future__ import annotations

import imaplib
import ssl
import time
from collections.abc import Iterator

import pytest

from fakeservers.controller import FakeMailServers

ALICE = ("alice@example.test", "alice-pass")
MESSAGE = (
    b"From: Bob <bob@example.test>\r\n"
    b"To: alice@example.test\r\n"
    b"Subject: Greetings\r\n"
    b"Date: Tue, 5 Mar 2024 10:00:00 +0100\r\n"
    b"\r\n"
    b".a line starting with a dot\r\n"
    b"8-bit: gr\xc3\xbc\xc3\x9f\r\n"
    b"\r\n"
    b"..\r\n"
)


@pytest.fixture(params=["imaps", "starttls"])
def client(request: pytest.FixtureRequest, imap_server: FakeMailServers) -> Iterator[imaplib.IMAP4]:
    """A logged-in imaplib client over implicit TLS or STARTTLS."""
    context = imap_server.client_context()
    if request.param == "imaps":
        connection: imaplib.IMAP4 = imaplib.IMAP4_SSL(
            "127.0.0.1", imap_server.endpoints["imaps"].port, ssl_context=context
        )
    else:
        connection = imaplib.IMAP4("127.0.0.1", imap_server.endpoints["imap"].port)
        connection.starttls(context)
    connection.login(*ALICE)
    yield connection
    connection.logout()


def _line(item: object) -> bytes:
    """A data item imaplib returned as a plain line."""
    assert isinstance(item, bytes)
    return item


def _literal(item: object) -> bytes:
    """The literal of a data item imaplib returned as (text before it, literal)."""
    assert isinstance(item, tuple)
    return bytes(item[1])


def _deliver(servers: FakeMailServers, data: bytes = MESSAGE) -> None:
    servers.store.deliver(ALICE[0], data)


def test_list_shows_special_use_and_children(
    client: imaplib.IMAP4, imap_server: FakeMailServers
) -> None:
    assert client.create("Projects/2024")[0] == "OK"
    status, lines = client.list()
    assert status == "OK"
    assert b'(\\HasNoChildren) "/" "INBOX"' in lines
    assert b'(\\HasNoChildren \\Sent) "/" "Sent"' in lines
    assert b'(\\HasChildren) "/" "Projects"' in lines
    status, lines = client.list('""', "%")
    assert not any(b"Projects/" in _line(line) for line in lines)


def test_fetch_body_is_byte_exact(client: imaplib.IMAP4, imap_server: FakeMailServers) -> None:
    _deliver(imap_server)
    assert client.select("INBOX") == ("OK", [b"1"])
    status, data = client.fetch("1", "(BODY[] RFC822.SIZE)")
    assert status == "OK"
    assert _literal(data[0]) == MESSAGE
    # BODY[] (not PEEK) sets \Seen, and the change is reported (RFC 3501 section 6.4.5).
    assert data[1] == b" RFC822.SIZE %d FLAGS (\\Recent \\Seen))" % len(MESSAGE)


def test_peek_keeps_unseen_and_body_sets_seen(
    client: imaplib.IMAP4, imap_server: FakeMailServers
) -> None:
    _deliver(imap_server)
    client.select("INBOX")
    client.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert client.search(None, "UNSEEN") == ("OK", [b"1"])
    data = client.fetch("1", "(BODY[TEXT])")[1]
    assert b"FLAGS (\\Recent \\Seen)" in _line(data[-1])  # the change is reported
    assert client.search(None, "UNSEEN") == ("OK", [b""])


def test_search_keys(client: imaplib.IMAP4, imap_server: FakeMailServers) -> None:
    _deliver(imap_server)
    _deliver(imap_server, b"From: carol@example.test\r\nSubject: other\r\n\r\nhello\r\n")
    client.select("INBOX")
    assert client.search(None, "FROM", '"bob"') == ("OK", [b"1"])
    assert client.search(None, "NOT", "SUBJECT", "greetings") == ("OK", [b"2"])
    assert client.search(None, "BODY", "hello") == ("OK", [b"2"])
    assert client.search(None, "SENTON", "5-Mar-2024") == ("OK", [b"1"])
    assert client.search(None, "OR", "LARGER", "100", "FROM", "carol") == ("OK", [b"1 2"])
    # 8-bit text must travel as a literal (imaplib takes bytes here; its stub says str).
    client.literal = "GR\u00dc\u00df".encode()  # type: ignore[assignment]
    assert client.search("UTF-8", "TEXT") == ("OK", [b"1"])
    assert client.uid("SEARCH", "UID", "2:*") == ("OK", [b"2"])
    status, data = client.search("KOI8-R", "ALL")
    assert status == "NO" and data[0].startswith(b"[BADCHARSET (US-ASCII UTF-8)]")
    with pytest.raises(imaplib.IMAP4.error, match="expected a space"):
        client.search("UTF-8", "TEXT", "gr\u00fc\u00df".encode())  # type: ignore[arg-type]


def test_store_copy_expunge_and_uid_commands(
    client: imaplib.IMAP4, imap_server: FakeMailServers
) -> None:
    _deliver(imap_server)
    _deliver(imap_server)
    client.select("INBOX")
    status, data = client.store("1", "+FLAGS", "(\\Flagged $Work)")
    assert status == "OK" and b"\\Flagged" in data[0] and b"$Work" in data[0]
    status, data = client.copy("1:2", "Archive")
    assert status == "OK" and data[0].startswith(b"[COPYUID ")
    assert imap_server.store.mailbox(ALICE[0], "Archive").messages[0].data == MESSAGE
    assert client.uid("STORE", "2", "+FLAGS.SILENT", "(\\Deleted)") == ("OK", [None])
    assert client.expunge() == ("OK", [b"2"])
    status, data = client.uid("FETCH", "1:*", "(FLAGS)")
    assert data == [b"1 (UID 1 FLAGS (\\Flagged \\Recent $Work))"]
    status, data = client.copy("1", "Nowhere")
    assert status == "NO" and data[0].startswith(b"[TRYCREATE]")


def test_append_with_flags_and_date(client: imaplib.IMAP4, imap_server: FakeMailServers) -> None:
    when = imaplib.Time2Internaldate(time.mktime((2024, 3, 5, 10, 0, 0, 0, 0, -1)))
    status, data = client.append("Drafts", "(\\Draft)", when, MESSAGE)
    assert status == "OK" and data[0].startswith(b"[APPENDUID ")
    stored = imap_server.store.mailbox(ALICE[0], "Drafts").messages[0]
    assert stored.data == MESSAGE and "\\Draft" in stored.flags
    client.select("Drafts")
    internal = imaplib.Internaldate2tuple(_line(client.fetch("1", "(INTERNALDATE)")[1][0]))
    assert internal is not None and internal[:5] == (2024, 3, 5, 10, 0)
    status, refused = client.append("Nowhere", "", "", MESSAGE)
    assert status == "NO" and _line(refused[0]).startswith(b"[TRYCREATE]")


def test_large_append_round_trips(client: imaplib.IMAP4, imap_server: FakeMailServers) -> None:
    big = b"Subject: big\r\n\r\n" + b"0123456789abcdef\r\n" * 200_000  # 3.6 MB
    assert client.append("INBOX", "", "", big)[0] == "OK"
    client.select("INBOX")
    assert _literal(client.fetch("1", "(BODY.PEEK[])")[1][0]) == big


def test_examine_is_read_only(client: imaplib.IMAP4, imap_server: FakeMailServers) -> None:
    _deliver(imap_server)
    status, _ = client.select("INBOX", readonly=True)
    assert status == "OK"
    assert "READ-ONLY" in client.untagged_responses
    client.fetch("1", "(BODY[])")
    assert client.search(None, "UNSEEN") == ("OK", [b"1"])
    status, data = client.store("1", "+FLAGS", "(\\Seen)")
    assert status == "NO" and data[0].startswith(b"[READ-ONLY]")


def test_mailbox_management_with_international_names(
    client: imaplib.IMAP4, imap_server: FakeMailServers
) -> None:
    assert client.create("Entw&APw-rfe")[0] == "OK"
    assert "Entw\u00fcrfe" in [box.name for box in imap_server.store.mailboxes(ALICE[0])]
    assert client.rename("Entw&APw-rfe", "Old/Entw&APw-rfe")[0] == "OK"
    assert client.unsubscribe("Old/Entw&APw-rfe")[0] == "OK"
    assert not any(b"Entw" in line for line in client.lsub()[1] if line)
    assert client.status("Old/Entw&APw-rfe", "(MESSAGES UIDNEXT)") == (
        "OK",
        [b'"Old/Entw&APw-rfe" (MESSAGES 0 UIDNEXT 1)'],
    )
    assert client.delete("Old/Entw&APw-rfe")[0] == "OK"
    status, data = client.delete("Old/Entw&APw-rfe")
    assert status == "NO" and data[0].startswith(b"[NONEXISTENT]")
    status, data = client.create("Sent")
    assert status == "NO" and data[0].startswith(b"[ALREADYEXISTS]")


def test_bodystructure_through_imaplib(client: imaplib.IMAP4, imap_server: FakeMailServers) -> None:
    _deliver(imap_server)
    client.select("INBOX")
    assert client.fetch("1", "(BODYSTRUCTURE)")[1] == [
        b'1 (BODYSTRUCTURE ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" %d 4'
        b" NIL NIL NIL NIL))" % (len(MESSAGE) - MESSAGE.index(b"\r\n\r\n") - 4)
    ]


def test_authenticate_plain(imap_server: FakeMailServers) -> None:
    port = imap_server.endpoints["imaps"].port
    with imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=imap_server.client_context()) as imap:
        status, _ = imap.authenticate(
            "PLAIN", lambda _: b"\0%s\0%s" % tuple(s.encode() for s in ALICE)
        )
        assert status == "OK"
        assert imap.state == "AUTH"
    with (
        imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=imap_server.client_context()) as imap,
        pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"),
    ):
        imap.authenticate("PLAIN", lambda _: b"\0alice@example.test\0wrong")


def test_login_with_wrong_password_is_rejected(imap_server: FakeMailServers) -> None:
    port = imap_server.endpoints["imaps"].port
    with imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=imap_server.client_context()) as imap:
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            imap.login(ALICE[0], "wrong")
        assert imap.login(*ALICE)[0] == "OK"


def test_login_is_refused_before_starttls(imap_server: FakeMailServers) -> None:
    with imaplib.IMAP4("127.0.0.1", imap_server.endpoints["imap"].port) as imap:
        assert "LOGINDISABLED" in imap.capabilities and "STARTTLS" in imap.capabilities
        assert not any(name.startswith("AUTH=") for name in imap.capabilities)
        with pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED"):
            imap.login(*ALICE)
        imap.starttls(imap_server.client_context())
        assert "LOGINDISABLED" not in imap.capabilities and "AUTH=PLAIN" in imap.capabilities
        assert imap.login(*ALICE)[0] == "OK"


def test_certificate_from_another_ca_is_refused(imap_server: FakeMailServers) -> None:
    untrusting = ssl.create_default_context()  # system CAs only, not the test CA
    imap = imaplib.IMAP4("127.0.0.1", imap_server.endpoints["imap"].port)
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            imap.starttls(untrusting)
    finally:
        imap.sock.close()
