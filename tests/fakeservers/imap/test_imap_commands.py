"""Commands and responses byte for byte over a raw connection (what imaplib hides)."""

from __future__ import annotations

import pytest

from fakeservers.controller import FakeMailServers

from .imap_raw_client import RawFactory, RawImap

ALICE = "alice@example.test"
MULTIPART = (
    b"Subject: parts\r\n"
    b"Content-Type: multipart/mixed; boundary=b\r\n"
    b"\r\n"
    b"--b\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"first part\r\n"
    b"--b\r\n"
    b"Content-Type: text/html\r\n"
    b"\r\n"
    b"<b>second</b>\r\n"
    b"--b--\r\n"
)


@pytest.fixture
def session(raw_imap: RawFactory, imap_server: FakeMailServers) -> RawImap:
    imap_server.store.deliver(ALICE, MULTIPART)
    client = raw_imap()
    client.login()
    return client


def _select(client: RawImap) -> list[bytes]:
    return client.command(b"S", b"SELECT INBOX")


def test_select_reports_the_mailbox(session: RawImap, imap_server: FakeMailServers) -> None:
    box = imap_server.store.mailbox(ALICE, "INBOX")
    assert _select(session) == [
        b"* FLAGS (\\Answered \\Deleted \\Draft \\Flagged \\Seen)\r\n",
        b"* 1 EXISTS\r\n",
        b"* 1 RECENT\r\n",
        b"* OK [UNSEEN 1] First unseen message\r\n",
        b"* OK [PERMANENTFLAGS (\\* \\Answered \\Deleted \\Draft \\Flagged \\Seen)]"
        b" Flags permitted\r\n",
        b"* OK [UIDVALIDITY %d] UIDs valid\r\n" % box.uidvalidity,
        b"* OK [UIDNEXT 2] Predicted next UID\r\n",
        b"* OK [HIGHESTMODSEQ %d] Highest\r\n" % box.highest_modseq,  # RFC 7162 3.1.2.1
        b"* OK [MAILBOXID (%s)] Ok\r\n" % box.mailbox_id.encode(),  # RFC 8474 section 4.2
        b"S OK [READ-WRITE] SELECT completed\r\n",
    ]


def test_select_of_a_missing_mailbox_leaves_nothing_selected(session: RawImap) -> None:
    _select(session)
    assert session.command(b"S", b"SELECT Nowhere") == [
        b"S NO [NONEXISTENT] No mailbox Nowhere\r\n"
    ]
    assert session.command(b"F", b"FETCH 1 FLAGS")[-1].startswith(b"F BAD FETCH is not allowed")


def test_fetch_sections_partial_and_mime(session: RawImap) -> None:
    _select(session)
    lines = session.command(
        b"F", b"FETCH 1 (BODY.PEEK[1]<0.5> BODY.PEEK[2.MIME] BODY.PEEK[3] BODY.PEEK[]<200.10>)"
    )
    assert lines == [
        b"* 1 FETCH (BODY[1]<0> {5}\r\n",
        b"first BODY[2.MIME] {27}\r\n",
        b"Content-Type: text/html\r\n",
        b"\r\n",
        b" BODY[3] NIL BODY[]<200> {0}\r\n",
        b")\r\n",
        b"F OK FETCH completed\r\n",
    ]


def test_fetch_header_fields_echo_and_rfc822_items(session: RawImap) -> None:
    _select(session)
    lines = session.command(b"F", b"FETCH 1 (BODY.PEEK[HEADER.FIELDS (subject)] RFC822.HEADER)")
    assert lines[0] == b"* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {18}\r\n"
    assert lines[1:3] == [b"Subject: parts\r\n", b"\r\n"]
    assert lines[3] == b" RFC822.HEADER {%d}\r\n" % (MULTIPART.index(b"\r\n\r\n") + 4)
    assert session.command(b"G", b"FETCH 1 (FLAGS)")[0] == b"* 1 FETCH (FLAGS (\\Recent))\r\n"
    lines = session.command(b"T", b"FETCH 1 RFC822.TEXT")  # RFC822.TEXT sets \Seen
    assert lines[-2] == b" FLAGS (\\Recent \\Seen))\r\n"


def test_fetch_beyond_the_mailbox_is_bad(session: RawImap) -> None:
    _select(session)
    assert session.command(b"F", b"FETCH 2 FLAGS") == [
        b"F BAD Invalid message sequence number: no message 2 (there are 1)\r\n"
    ]
    assert session.command(b"U", b"UID FETCH 99 FLAGS") == [b"U OK UID FETCH completed\r\n"]


def test_store_rules_for_flags(session: RawImap) -> None:
    _select(session)
    assert session.command(b"A", b"STORE 1 +FLAGS (\\Recent \\Seen)") == [
        b"* 1 FETCH (FLAGS (\\Recent \\Seen))\r\n",  # \Recent cannot be set or cleared
        b"A OK STORE completed\r\n",
    ]
    assert session.command(b"B", b"STORE 1 FLAGS (\\Bogus)") == [
        b"B BAD \\Bogus is not a flag a client can set\r\n"
    ]
    assert session.command(b"C", b"UID STORE 1 -FLAGS (\\Seen)") == [
        b"* 1 FETCH (FLAGS (\\Recent) UID 1)\r\n",
        b"C OK UID STORE completed\r\n",
    ]


def test_close_expunges_silently_and_unselect_does_not(
    session: RawImap, imap_server: FakeMailServers
) -> None:
    imap_server.store.deliver(ALICE, b"Subject: 2\r\n\r\n2\r\n")
    _select(session)
    session.command(b"D", b"STORE 1:2 +FLAGS.SILENT (\\Deleted)")
    assert session.command(b"U", b"UNSELECT") == [b"U OK UNSELECT completed\r\n"]
    assert len(imap_server.store.mailbox(ALICE, "INBOX").messages) == 2
    _select(session)
    assert session.command(b"C", b"CLOSE") == [b"C OK CLOSE completed\r\n"]  # no EXPUNGE lines
    assert imap_server.store.mailbox(ALICE, "INBOX").messages == []


def test_uid_expunge_removes_only_the_named_messages(
    session: RawImap, imap_server: FakeMailServers
) -> None:
    imap_server.store.deliver(ALICE, b"Subject: 2\r\n\r\n2\r\n")
    _select(session)
    session.command(b"D", b"STORE 1:2 +FLAGS.SILENT (\\Deleted)")
    assert session.command(b"X", b"UID EXPUNGE 2") == [
        b"* 2 EXPUNGE\r\n",
        b"* 1 RECENT\r\n",  # the expunged message was \\Recent (RFC 3501 section 7.3.2)
        b"X OK UID EXPUNGE completed\r\n",
    ]
    assert [m.uid for m in imap_server.store.mailbox(ALICE, "INBOX").messages] == [1]


def test_examine_refuses_changes(session: RawImap) -> None:
    assert session.command(b"E", b"EXAMINE INBOX")[-1] == b"E OK [READ-ONLY] EXAMINE completed\r\n"
    assert session.command(b"X", b"EXPUNGE") == [
        b"X NO [READ-ONLY] Mailbox is read-only (EXAMINE)\r\n"
    ]


def test_list_patterns_and_lsub(session: RawImap) -> None:
    session.command(b"C", b"CREATE Work/Reports/")
    assert session.command(b"L", b'LIST "" ""') == [
        b'* LIST (\\Noselect) "/" ""\r\n',
        b"L OK LIST completed\r\n",
    ]
    assert session.command(b"L", b"LIST Work/ %") == [
        b'* LIST (\\HasNoChildren) "/" "Work/Reports"\r\n',
        b"L OK LIST completed\r\n",
    ]
    assert session.command(b"L", b'LIST "" inbox') == [
        b'* LIST (\\HasNoChildren) "/" "INBOX"\r\n',
        b"L OK LIST completed\r\n",
    ]
    session.command(b"U", b"UNSUBSCRIBE Work")
    lsub = session.command(b"L", b'LSUB "" *')
    assert b'* LSUB (\\HasChildren) "/" "Work"\r\n' not in lsub
    assert b'* LSUB (\\HasNoChildren) "/" "Work/Reports"\r\n' in lsub


def test_status_counts(session: RawImap, imap_server: FakeMailServers) -> None:
    box = imap_server.store.mailbox(ALICE, "INBOX")
    assert session.command(b"T", b"STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)") == [
        b'* STATUS "INBOX" (MESSAGES 1 RECENT 1 UIDNEXT 2 UIDVALIDITY %d UNSEEN 1)\r\n'
        % box.uidvalidity,
        b"T OK STATUS completed\r\n",
    ]
    assert session.command(b"T", b"STATUS Nowhere (MESSAGES)") == [
        b"T NO [NONEXISTENT] No mailbox Nowhere\r\n"
    ]


def test_delete_of_the_selected_mailbox_is_refused(session: RawImap) -> None:
    session.command(b"C", b"CREATE Temp")
    assert session.command(b"S", b"SELECT Temp")[-1].startswith(b"S OK")
    assert session.command(b"D", b"DELETE Temp") == [
        b"D NO [INUSE] The selected mailbox cannot be deleted\r\n"
    ]
    session.command(b"U", b"UNSELECT")
    assert session.command(b"D", b"DELETE Temp") == [b"D OK DELETE completed\r\n"]


def test_namespace_and_id(session: RawImap) -> None:
    assert session.command(b"N", b"NAMESPACE") == [
        b'* NAMESPACE (("" "/")) NIL NIL\r\n',
        b"N OK NAMESPACE completed\r\n",
    ]
    assert session.command(b"I", b'ID ("name" "test")') == [
        b'* ID ("name" "mailcompat")\r\n',
        b"I OK ID completed\r\n",
    ]


def test_logout_says_bye_then_ok_then_closes(session: RawImap) -> None:
    assert session.command(b"O", b"LOGOUT") == [
        b"* BYE localhost logging out\r\n",
        b"O OK LOGOUT completed\r\n",
    ]
    assert session.at_eof()
