"""The IMAP extensions of the fake server over raw sockets, each case paired with a failing one."""

from __future__ import annotations

import base64
import logging
import re
import zlib
from collections.abc import Iterator

import pytest

from fakeservers.config import ServerConfig
from fakeservers.controller import ENDPOINTS, FakeMailServers
from fakeservers.imap.objectids import email_id, gmail_message_id
from fakeservers.pki import TestPKI
from tests.fakeservers.imap.imap_raw_client import RawFactory, RawImap

ALICE = "alice@example.test"
PLAIN = b"From: bob@example.test\r\nSubject: plain\r\nMessage-ID: <a@example.test>\r\n\r\nhello\r\n"
REPLY = b"Subject: Re: plain\r\nIn-Reply-To: <a@example.test>\r\n\r\nhi back\r\n"
PAYLOAD = b"\x00\x01binary\xff"
BINARY = (
    b"Subject: attachment\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\n\r\ntext\r\n"
    b"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + base64.b64encode(PAYLOAD)
    + b"\r\n--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-unknown\r\n\r\n?\r\n"
    b"--b--\r\n"
)


@pytest.fixture
def client(raw_imap: RawFactory, imap_server: FakeMailServers) -> RawImap:
    """A logged-in raw client; INBOX holds PLAIN, REPLY and BINARY (UIDs 1, 2, 3)."""
    for data in (PLAIN, REPLY, BINARY):
        imap_server.store.deliver(ALICE, data)
    connection = raw_imap()
    connection.login()
    return connection


def _ok(lines: list[bytes]) -> list[bytes]:
    assert b" OK " in lines[-1], lines
    return lines[:-1]


def _modseq(imap_server: FakeMailServers, uid: int) -> int:
    message = imap_server.store.mailbox(ALICE, "INBOX").by_uid(uid)
    assert message is not None
    return message.modseq


# -- ENABLE (RFC 5161) ----------------------------------------------------------------


def test_enable_names_only_what_it_newly_enabled(client: RawImap) -> None:
    assert _ok(client.command(b"E", b"ENABLE CONDSTORE X-UNKNOWN")) == [b"* ENABLED CONDSTORE\r\n"]
    assert _ok(client.command(b"E", b"ENABLE CONDSTORE QRESYNC")) == [b"* ENABLED QRESYNC\r\n"]


def test_enable_in_the_selected_state_is_bad(client: RawImap) -> None:
    client.command(b"S", b"SELECT INBOX")
    assert client.command(b"E", b"ENABLE CONDSTORE")[-1].startswith(b"E BAD ")


# -- MOVE (RFC 6851) ------------------------------------------------------------------


def test_uid_move_sends_copyuid_then_expunge(client: RawImap, imap_server: FakeMailServers) -> None:
    client.command(b"S", b"SELECT INBOX")
    archive = imap_server.store.mailbox(ALICE, "Archive")
    assert client.command(b"M", b"UID MOVE 2:3 Archive") == [
        b"* OK [COPYUID %d 2:3 1:2] Moved\r\n" % archive.uidvalidity,
        b"* 2 EXPUNGE\r\n",
        b"* 2 EXPUNGE\r\n",
        b"* 1 RECENT\r\n",  # the \\Recent of the moved messages went with them
        b"M OK UID MOVE completed\r\n",
    ]
    assert [m.data for m in archive.messages] == [REPLY, BINARY]
    assert len(imap_server.store.mailbox(ALICE, "INBOX").messages) == 1


def test_move_to_a_missing_mailbox_moves_nothing(
    client: RawImap, imap_server: FakeMailServers
) -> None:
    client.command(b"S", b"SELECT INBOX")
    assert client.command(b"M", b"MOVE 1 Nowhere") == [b"M NO [TRYCREATE] No mailbox Nowhere\r\n"]
    assert client.command(b"X", b"EXAMINE INBOX")[1] == b"* 3 EXISTS\r\n"
    assert client.command(b"M", b"MOVE 1 Archive")[-1].startswith(b"M NO [READ-ONLY]")


# -- CONDSTORE (RFC 7162 section 3.1) -------------------------------------------------


def test_condstore_select_fetch_and_changedsince(
    client: RawImap, imap_server: FakeMailServers
) -> None:
    lines = client.command(b"S", b"SELECT INBOX (CONDSTORE)")
    highest = imap_server.store.mailbox(ALICE, "INBOX").highest_modseq
    assert b"* OK [HIGHESTMODSEQ %d] Highest\r\n" % highest in lines
    client.command(b"T", b"UID STORE 2 +FLAGS.SILENT (\\Flagged)")
    changed = _modseq(imap_server, 2)
    assert changed > highest
    assert _ok(client.command(b"F", b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % highest)) == [
        b"* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent) MODSEQ (%d))\r\n" % changed
    ]
    assert _ok(client.command(b"F", b"FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % changed)) == []


def test_store_unchangedsince_refuses_a_changed_message(
    client: RawImap, imap_server: FakeMailServers
) -> None:
    client.command(b"S", b"SELECT INBOX")
    before = _modseq(imap_server, 1)
    lines = client.command(b"T", b"STORE 1:2 (UNCHANGEDSINCE %d) +FLAGS (\\Seen)" % before)
    first = _modseq(imap_server, 1)
    assert lines == [
        b"* OK [HIGHESTMODSEQ %d] Highest\r\n" % (before + 2),  # CONDSTORE now on (3.1)
        b"* 1 FETCH (FLAGS (\\Recent \\Seen) MODSEQ (%d))\r\n" % first,
        b"T OK [MODIFIED 2] Conditional STORE failed\r\n",  # message 2 is newer than `before`
    ]
    stale = client.command(b"T", b"UID STORE 1 (UNCHANGEDSINCE %d) FLAGS.SILENT ()" % before)
    assert stale == [b"T OK [MODIFIED 1] Conditional UID STORE failed\r\n"]


def test_search_modseq_reports_the_highest_match(
    client: RawImap, imap_server: FakeMailServers
) -> None:
    client.command(b"S", b"SELECT INBOX")
    since = _modseq(imap_server, 3)
    assert _ok(client.command(b"Q", b"SEARCH MODSEQ %d" % since)) == [
        b"* OK [HIGHESTMODSEQ %d] Highest\r\n" % since,
        b"* SEARCH 3 (MODSEQ %d)\r\n" % since,
    ]
    assert _ok(client.command(b"Q", b"SEARCH MODSEQ %d" % (since + 100))) == [b"* SEARCH\r\n"]
    assert client.command(b"Q", b"SEARCH MODSEQ x")[-1].startswith(b"Q BAD ")


def test_status_highestmodseq(client: RawImap, imap_server: FakeMailServers) -> None:
    highest = imap_server.store.mailbox(ALICE, "INBOX").highest_modseq
    assert _ok(client.command(b"U", b"STATUS INBOX (HIGHESTMODSEQ MESSAGES)")) == [
        b'* STATUS "INBOX" (HIGHESTMODSEQ %d MESSAGES 3)\r\n' % highest
    ]
    assert client.command(b"U", b"STATUS INBOX (MODSEQ)")[-1].startswith(b"U BAD ")


# -- QRESYNC (RFC 7162 section 3.2) ---------------------------------------------------


def test_select_qresync_reports_vanished_and_changed(
    client: RawImap, imap_server: FakeMailServers
) -> None:
    box = imap_server.store.mailbox(ALICE, "INBOX")
    known = box.highest_modseq
    imap_server.store.set_flags(ALICE, "INBOX", 1, ["\\Answered"], mode="add")
    imap_server.store.set_flags(ALICE, "INBOX", 2, ["\\Deleted"], mode="add")
    imap_server.store.expunge(ALICE, "INBOX")
    client.command(b"E", b"ENABLE QRESYNC")
    lines = client.command(b"S", b"SELECT INBOX (QRESYNC (%d %d 1:3))" % (box.uidvalidity, known))
    assert lines[-3:] == [
        b"* VANISHED (EARLIER) 2\r\n",
        b"* 1 FETCH (FLAGS (\\Answered \\Recent) UID 1 MODSEQ (%d))\r\n" % _modseq(imap_server, 1),
        b"S OK [READ-WRITE] SELECT completed\r\n",
    ]
    client.command(b"D", b"STORE 2 +FLAGS.SILENT (\\Deleted)")
    assert client.command(b"X", b"EXPUNGE")[0] == b"* VANISHED 3\r\n"
    assert client.command(b"F", b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % known)[0] == (
        b"* VANISHED (EARLIER) 2:3\r\n"
    )


def test_qresync_parameters_need_enable(client: RawImap) -> None:
    reply = client.command(b"S", b"SELECT INBOX (QRESYNC (1 1))")
    assert reply == [b"S BAD QRESYNC needs ENABLE QRESYNC first\r\n"]
    client.command(b"S", b"SELECT INBOX")
    vanished = client.command(b"F", b"UID FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)")
    assert vanished == [b"F BAD VANISHED needs ENABLE QRESYNC\r\n"]
    assert client.command(b"F", b"FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)")[-1].startswith(
        b"F BAD "  # VANISHED only with UID FETCH (RFC 7162 section 3.2.6)
    )


def test_closed_when_selecting_another_mailbox_under_qresync(client: RawImap) -> None:
    client.command(b"S", b"SELECT INBOX")
    assert b"* OK [CLOSED] Previous mailbox closed\r\n" not in client.command(b"S", b"SELECT Sent")
    client.command(b"U", b"UNSELECT")
    client.command(b"E", b"ENABLE QRESYNC")
    client.command(b"S", b"SELECT INBOX")
    assert client.command(b"S", b"SELECT Sent")[0] == b"* OK [CLOSED] Previous mailbox closed\r\n"


# -- ESEARCH (RFC 4731) and SEARCHRES (RFC 5182) --------------------------------------


def test_esearch_return_options(client: RawImap) -> None:
    client.command(b"S", b"SELECT INBOX")
    assert _ok(client.command(b"R", b"UID SEARCH RETURN (MIN MAX COUNT ALL) ALL")) == [
        b'* ESEARCH (TAG "R") UID MIN 1 MAX 3 ALL 1:3 COUNT 3\r\n'
    ]
    assert _ok(client.command(b"R", b"SEARCH RETURN () SUBJECT nothing-like-this")) == [
        b'* ESEARCH (TAG "R")\r\n'
    ]
    assert client.command(b"R", b"SEARCH RETURN (BIGGEST) ALL")[-1].startswith(b"R BAD ")


def test_searchres_saves_a_result_for_later_commands(client: RawImap) -> None:
    client.command(b"S", b"SELECT INBOX")
    assert client.command(b"R", b"SEARCH RETURN (SAVE) SUBJECT plain") == [
        b"R OK SEARCH completed\r\n"  # SAVE alone: no ESEARCH response (RFC 5182 2.1)
    ]
    assert _ok(client.command(b"F", b"UID FETCH $ (UID)")) == [
        b"* 1 FETCH (UID 1)\r\n",
        b"* 2 FETCH (UID 2)\r\n",
    ]
    assert _ok(client.command(b"R", b"SEARCH $ NOT SUBJECT Re")) == [b"* SEARCH 1\r\n"]
    client.command(b"R", b"SEARCH RETURN (SAVE MAX) ALL")
    assert _ok(client.command(b"F", b"FETCH $ (UID)")) == [b"* 3 FETCH (UID 3)\r\n"]
    client.command(b"R", b"SEARCH RETURN (SAVE) SUBJECT nothing-like-this")
    assert _ok(client.command(b"F", b"FETCH $ (UID)")) == []  # an empty result is saved too


# -- LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819), CREATE-SPECIAL-USE (RFC 6154) --


def test_list_extended_selection_and_return_options(client: RawImap) -> None:
    client.command(b"C", b"CREATE Lists/Python")
    client.command(b"U", b"UNSUBSCRIBE Lists")
    lines = _ok(
        client.command(
            b"L", b'LIST (SUBSCRIBED RECURSIVEMATCH) "" (INBOX "Lists*") RETURN (CHILDREN)'
        )
    )
    assert lines == [
        b'* LIST (\\HasNoChildren \\Subscribed) "/" "INBOX"\r\n',
        b'* LIST (\\HasChildren) "/" "Lists" ("CHILDINFO" ("SUBSCRIBED"))\r\n',
        b'* LIST (\\HasNoChildren \\Subscribed) "/" "Lists/Python"\r\n',
    ]
    uses = _ok(client.command(b"L", b'LIST (SPECIAL-USE) "" "*"'))
    assert uses[0] == b'* LIST (\\Archive \\HasNoChildren) "/" "Archive"\r\n'
    assert len(uses) == 5
    assert client.command(b"L", b'LIST (RECURSIVEMATCH) "" "*"')[-1].startswith(b"L BAD ")


def test_list_status_follows_each_mailbox(client: RawImap) -> None:
    lines = _ok(client.command(b"L", b'LIST "" (INBOX Sent) RETURN (STATUS (MESSAGES UNSEEN))'))
    assert lines == [
        b'* LIST (\\HasNoChildren) "/" "INBOX"\r\n',
        b'* STATUS "INBOX" (MESSAGES 3 UNSEEN 3)\r\n',
        b'* LIST (\\HasNoChildren \\Sent) "/" "Sent"\r\n',
        b'* STATUS "Sent" (MESSAGES 0 UNSEEN 0)\r\n',
    ]
    assert client.command(b"L", b'LIST "" * RETURN (STATUS (BOGUS))')[-1].startswith(b"L BAD ")


def test_create_special_use_and_mailboxid(client: RawImap, imap_server: FakeMailServers) -> None:
    reply = client.command(b"C", b"CREATE Outbox (USE (\\Sent))")
    box = imap_server.store.mailbox(ALICE, "Outbox")
    assert reply == [b"C OK [MAILBOXID (%s)] CREATE completed\r\n" % box.mailbox_id.encode()]
    assert box.special_use == "\\Sent"
    assert client.command(b"C", b"CREATE Weird (USE (\\Important))") == [
        b"C NO [USEATTR] Unsupported special use (one of \\All \\Archive ... \\Trash)\r\n"
    ]


# -- UTF8=ACCEPT (RFC 6855) and APPENDLIMIT (RFC 7889) ---------------------------------


def test_utf8_accept_sends_names_in_utf8(client: RawImap) -> None:
    client.command(b"C", 'CREATE "Entwürfe"'.encode())
    assert _ok(client.command(b"L", b'LIST "" Entw*')) == [
        b'* LIST (\\HasNoChildren) "/" "Entw&APw-rfe"\r\n'
    ]
    client.command(b"E", b"ENABLE UTF8=ACCEPT")
    assert _ok(client.command(b"L", b'LIST "" Entw*')) == [
        b'* LIST (\\HasNoChildren) "/" {9}\r\n',
        "Entwürfe\r\n".encode(),
    ]


def test_append_utf8_needs_enable(client: RawImap) -> None:
    message = "Subject: grüße\r\n\r\n!\r\n".encode()
    command = b"APPEND INBOX UTF8 (~{%d+}\r\n%s)" % (len(message), message)
    assert client.command(b"A", command) == [b"A BAD APPEND UTF8 needs ENABLE UTF8=ACCEPT\r\n"]
    client.command(b"E", b"ENABLE UTF8=ACCEPT")
    assert client.command(b"A", command)[-1].startswith(b"A OK [APPENDUID ")


def test_utf8_accept_makes_search_strings_utf8_and_charset_a_mistake(client: RawImap) -> None:
    message = "Subject: Grüße aus Köln\r\n\r\n!\r\n".encode()
    client.command(b"A", b"APPEND INBOX {%d+}\r\n%s" % (len(message), message))
    client.command(b"S", b"SELECT INBOX")
    word = "Grüße".encode()
    search = b"SEARCH SUBJECT {%d+}\r\n%s" % (len(word), word)
    # Before ENABLE the default charset is US-ASCII (RFC 3501 section 6.4.4).
    assert client.command(b"B", search)[-1].startswith(b"B BAD ")
    client.command(b"X", b"UNSELECT")  # ENABLE belongs to the authenticated state (RFC 5161)
    assert _ok(client.command(b"E", b"ENABLE UTF8=ACCEPT")) == [b"* ENABLED UTF8=ACCEPT\r\n"]
    client.command(b"S", b"SELECT INBOX")
    found = _ok(client.command(b"U", search))
    assert found[0].startswith(b"* SEARCH ") and found[0] != b"* SEARCH\r\n"
    # RFC 6855 section 3 (erratum 4029): no CHARSET once UTF8=ACCEPT is enabled.
    named = b"SEARCH CHARSET UTF-8 SUBJECT Koeln"
    assert client.command(b"C", named)[-1].startswith(b"C BAD ")


def test_status_appendlimit(client: RawImap, imap_server: FakeMailServers) -> None:
    limit = imap_server.config.limits.max_literal
    assert _ok(client.command(b"U", b"STATUS Sent (APPENDLIMIT)")) == [
        b'* STATUS "Sent" (APPENDLIMIT %d)\r\n' % limit
    ]
    client.send(b"A APPEND Sent {%d}\r\n" % (limit + 1))
    assert client.line().startswith(b"A NO [TOOBIG] ")


# -- BINARY (RFC 3516) ----------------------------------------------------------------


def test_binary_undoes_the_transfer_encoding(client: RawImap) -> None:
    client.command(b"S", b"SELECT INBOX")
    lines = client.command(b"F", b"FETCH 3 (BINARY.SIZE[2] BINARY.PEEK[2])")
    assert lines[0] == b"* 3 FETCH (BINARY.SIZE[2] %d BINARY[2] ~{%d}\r\n" % (
        len(PAYLOAD),
        len(PAYLOAD),
    )
    assert lines[1] == PAYLOAD + b")\r\n"
    assert client.command(b"F", b"FETCH 3 (BINARY.PEEK[3])") == [
        b"F NO [UNKNOWN-CTE] unknown content transfer encoding x-unknown\r\n"
    ]


# -- COMPRESS=DEFLATE (RFC 4978) -------------------------------------------------------


def test_compress_deflate_both_ways(client: RawImap) -> None:
    assert client.command(b"Z", b"COMPRESS DEFLATE") == [b"Z OK DEFLATE active\r\n"]
    deflate = zlib.compressobj(wbits=-15)
    inflate = zlib.decompressobj(wbits=-15)
    client.send(deflate.compress(b"N NOOP\r\n") + deflate.flush(zlib.Z_SYNC_FLUSH))
    received = b""
    while not received.endswith(b"\r\n"):
        received += inflate.decompress(client.sock.recv(4096))
    assert received == b"N OK NOOP completed\r\n"
    client.send(deflate.compress(b"Z COMPRESS DEFLATE\r\n") + deflate.flush(zlib.Z_SYNC_FLUSH))
    received = b""
    while not received.endswith(b"\r\n"):
        received += inflate.decompress(client.sock.recv(4096))
    assert received == b"Z NO [COMPRESSIONACTIVE] Compression is already active\r\n"


@pytest.mark.parametrize("together", [True, False], ids=["with-the-command", "after-the-reply"])
def test_octets_that_are_no_deflate_stream_end_the_session_quietly(
    client: RawImap, raw_imap: RawFactory, caplog: pytest.LogCaptureFixture, together: bool
) -> None:
    # RFC 4978 section 4: a corrupt stream cannot be resynchronised. The server drops the
    # connection, as for any client gone wrong, not with an error of its own; whether the
    # octets came in one write with the command (inflated when compression starts) or after.
    garbage = b"\xff\xfe this is not deflate\r\n"
    if together:
        client.send(b"Z COMPRESS DEFLATE\r\n" + garbage)
        assert client.until_tagged(b"Z") == [b"Z OK DEFLATE active\r\n"]
    else:
        assert client.command(b"Z", b"COMPRESS DEFLATE") == [b"Z OK DEFLATE active\r\n"]
        client.send(garbage)
    assert client.at_eof()
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    other = raw_imap()
    other.login()  # the server goes on serving
    other.close()


def test_compress_with_an_unknown_mechanism_is_bad(client: RawImap) -> None:
    assert client.command(b"Z", b"COMPRESS LZW") == [b"Z BAD Unknown compression mechanism\r\n"]
    assert client.command(b"N", b"NOOP") == [b"N OK NOOP completed\r\n"]  # still clear


# -- QUOTA (RFC 9208) -----------------------------------------------------------------


def test_quota_usage_and_limits(client: RawImap, imap_server: FakeMailServers) -> None:
    octets, count = imap_server.store.usage(ALICE)
    storage = (octets + 1023) // 1024
    assert _ok(client.command(b"Q", b"GETQUOTAROOT INBOX")) == [
        b'* QUOTAROOT "INBOX" ""\r\n',
        b'* QUOTA "" (STORAGE %d 1048576 MESSAGE %d 100000)\r\n' % (storage, count),
    ]
    assert _ok(client.command(b"Q", b'SETQUOTA "" (MESSAGE 3)')) == [
        b'* QUOTA "" (MESSAGE 3 3)\r\n'
    ]
    append = client.command(b"A", b"APPEND INBOX {10+}\r\nSubject:\r\n")
    assert append == [b"A NO [OVERQUOTA] Quota exceeded\r\n"]
    assert client.command(b"Q", b'GETQUOTA "other"') == [
        b"Q NO [NONEXISTENT] No such quota root\r\n"
    ]


# -- OBJECTID (RFC 8474) --------------------------------------------------------------


def test_objectid_items_and_keys(client: RawImap, imap_server: FakeMailServers) -> None:
    client.command(b"S", b"SELECT INBOX")
    lines = _ok(client.command(b"F", b"FETCH 1:2 (EMAILID THREADID)"))
    ids = [re.findall(rb"\((\w+)\)", line) for line in lines]
    assert ids[0][1] == ids[1][1]  # the reply is in the thread of the first message
    assert ids[0][0] != ids[1][0]
    first = imap_server.store.mailbox(ALICE, "INBOX").messages[0]
    assert ids[0][0] == email_id(first).encode()
    client.command(b"C", b"UID COPY 1 Archive")
    assert _ok(client.command(b"R", b"SEARCH EMAILID " + ids[0][0])) == [b"* SEARCH 1\r\n"]
    client.command(b"S", b"SELECT Archive")
    assert _ok(client.command(b"F", b"FETCH 1 (EMAILID)")) == [
        b"* 1 FETCH (EMAILID (%s))\r\n" % ids[0][0]  # a copy keeps its EMAILID
    ]
    assert _ok(client.command(b"R", b"SEARCH EMAILID Mnothing")) == [b"* SEARCH\r\n"]


# -- IMAP4rev2 (RFC 9051) -------------------------------------------------------------


def test_imap4rev2_differences(client: RawImap) -> None:
    rev1 = client.command(b"S", b"SELECT INBOX")
    assert b"* 3 RECENT\r\n" in rev1
    client.command(b"U", b"UNSELECT")
    assert _ok(client.command(b"E", b"ENABLE IMAP4rev2")) == [b"* ENABLED IMAP4rev2\r\n"]
    rev2 = client.command(b"S", b"SELECT INBOX")
    assert not [line for line in rev2 if b"RECENT" in line or b"UNSEEN" in line]
    assert _ok(client.command(b"R", b"SEARCH SUBJECT plain")) == [
        b'* ESEARCH (TAG "R") ALL 1:2\r\n'
    ]
    assert _ok(client.command(b"F", b"FETCH 1 (FLAGS)")) == [b"* 1 FETCH (FLAGS ())\r\n"]


# -- Gmail's X-GM-EXT-1 -----------------------------------------------------------------


@pytest.fixture
def gmail_server(mail_pki: TestPKI) -> Iterator[FakeMailServers]:
    """The IMAP endpoints with the Gmail extensions switched on."""
    ports: dict[str, int | None] = {
        spec.name: (0 if spec.protocol == "imap" else None) for spec in ENDPOINTS
    }
    config = ServerConfig(gmail_extensions=True)
    with FakeMailServers(ports=ports, pki=mail_pki, config=config) as servers:
        yield servers


def test_gmail_items_when_switched_on(gmail_server: FakeMailServers) -> None:
    store = gmail_server.store
    for data in (PLAIN, REPLY):
        store.deliver(ALICE, data)
    client = RawImap(gmail_server.endpoints["imaps"].port, gmail_server.client_context())
    try:
        client.login()
        client.command(b"S", b"SELECT INBOX")
        client.command(b"C", b"CREATE Work")
        client.command(b"C", b"COPY 1 Work")
        client.command(b"C", b"COPY 1 Sent")
        lines = _ok(client.command(b"F", b"FETCH 1:2 (X-GM-MSGID X-GM-THRID X-GM-LABELS)"))
        first = store.mailbox(ALICE, "INBOX").messages[0]
        msgid = gmail_message_id(first)
        assert lines[0].startswith(b"* 1 FETCH (X-GM-MSGID %d X-GM-THRID " % msgid)
        assert lines[0].endswith(b' X-GM-LABELS ("\\\\Sent" "Work"))\r\n')
        assert lines[1].endswith(b" X-GM-LABELS ())\r\n")
        threads = [re.search(rb"X-GM-THRID (\d+)", line) for line in lines]
        assert threads[0] and threads[1] and threads[0].group(1) == threads[1].group(1)
        assert _ok(client.command(b"R", b'SEARCH X-GM-RAW "subject:re -is:starred"')) == [
            b"* SEARCH 2\r\n"
        ]
        assert _ok(client.command(b"R", b"SEARCH X-GM-MSGID %d" % msgid)) == [b"* SEARCH 1\r\n"]
    finally:
        client.close()


def test_gmail_items_are_refused_by_default(client: RawImap) -> None:
    client.command(b"S", b"SELECT INBOX")
    assert client.command(b"F", b"FETCH 1 (X-GM-MSGID)") == [
        b"F BAD X-GM fetch items are not supported\r\n"
    ]
    assert client.command(b"R", b'SEARCH X-GM-RAW "plain"') == [
        b"R BAD X-GM search keys are not supported\r\n"
    ]
