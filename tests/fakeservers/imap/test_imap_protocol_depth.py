"""Protocol depth of the fake IMAP server, seen by real clients (imaplib and raw sockets).

LITERAL- (RFC 7888 section 5), NUL in literals (RFC 3501 section 4.3),
ENABLE of advertised extensions only (RFC 5161), QRESYNC sequence match data
(RFC 7162 section 3.2.5.2), STORE of Gmail's X-GM-LABELS and sequence sets
resolved without a scan per number. Each behaviour is paired with its
negative.
"""

from __future__ import annotations

import imaplib
import re
from collections.abc import Iterator

import pytest

from fakeservers.controller import FakeMailServers
from fakeservers.imap.sequences import SequenceSet
from fakeservers.pki import TestPKI
from fakeservers.profiles.catalogue import server_config
from tests.fakeservers.imap.imap_raw_client import RawImap

ALICE = ("alice@example.test", "alice-pass")
NOTE = b"Subject: note\r\n\r\nhello\r\n"


def _servers(
    mail_pki: TestPKI, profile: str = "default", quirks: tuple[str, ...] = ()
) -> FakeMailServers:
    return FakeMailServers(config=server_config(profile, quirks=quirks), pki=mail_pki)


def _raw(servers: FakeMailServers) -> RawImap:
    client = RawImap(servers.endpoints["imaps"].port, servers.client_context())
    client.login()
    return client


def _imaplib(servers: FakeMailServers) -> imaplib.IMAP4_SSL:
    port, context = servers.endpoints["imaps"].port, servers.client_context()
    client = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=context)
    client.login(*ALICE)
    return client


@pytest.fixture
def literal_minus(mail_pki: TestPKI) -> Iterator[FakeMailServers]:
    with _servers(mail_pki, quirks=("literal-minus",)) as servers:
        yield servers


@pytest.fixture
def plain(mail_pki: TestPKI) -> Iterator[FakeMailServers]:
    with _servers(mail_pki) as servers:
        yield servers


@pytest.fixture
def gmail(mail_pki: TestPKI) -> Iterator[FakeMailServers]:
    with _servers(mail_pki, "gmail") as servers:
        yield servers


def _message(size: int) -> bytes:
    head = b"Subject: big\r\n\r\n"
    return head + b"y" * (size - len(head))


# -- LITERAL- (RFC 7888 section 5) ---------------------------------------------------


def test_literal_minus_refuses_a_large_non_synchronizing_literal(
    literal_minus: FakeMailServers,
) -> None:
    client = _raw(literal_minus)
    capabilities = client.command(b"C", b"CAPABILITY")[0]
    assert b" LITERAL-" in capabilities and b"LITERAL+" not in capabilities
    body = _message(5000)
    client.send(b"A APPEND INBOX {%d+}\r\n" % len(body) + body + b"\r\n")
    answer = client.until_tagged(b"A")
    assert answer[-1].startswith(b"A BAD [TOOBIG] ")
    # The octets were read and thrown away: the session goes on, nothing was stored.
    assert client.command(b"N", b"NOOP")[-1].startswith(b"N OK")
    assert literal_minus.store.mailbox(ALICE[0], "INBOX").messages == []
    # Up to 4096 octets a non-synchronizing literal is fine, and so is a large
    # synchronizing one (the client waits for the continuation).
    small = _message(4096)
    client.send(b"S APPEND INBOX {%d+}\r\n" % len(small) + small + b"\r\n")
    assert client.until_tagged(b"S")[-1].startswith(b"S OK [APPENDUID")
    client.send(b"Y APPEND INBOX {%d}\r\n" % len(body))
    assert client.line().startswith(b"+ ")
    client.send(body + b"\r\n")
    assert client.until_tagged(b"Y")[-1].startswith(b"Y OK [APPENDUID")
    client.close()


def test_literal_minus_discards_the_rest_of_the_refused_command(
    literal_minus: FakeMailServers,
) -> None:
    client = _raw(literal_minus)
    body = _message(5000)
    # A second non-synchronizing literal in the same command is thrown away too.
    client.send(b"A LOGIN {5000+}\r\n" + body + b" {4+}\r\nNOOP\r\n")
    assert client.until_tagged(b"A")[-1].startswith(b"A BAD [TOOBIG] ")
    assert client.command(b"N", b"NOOP")[-1].startswith(b"N OK")
    client.close()


def test_literal_plus_accepts_a_large_non_synchronizing_literal(plain: FakeMailServers) -> None:
    client = _raw(plain)
    assert b"LITERAL+" in client.command(b"C", b"CAPABILITY")[0]
    body = _message(5000)
    client.send(b"A APPEND INBOX {%d+}\r\n" % len(body) + body + b"\r\n")
    assert client.until_tagged(b"A")[-1].startswith(b"A OK [APPENDUID")
    assert plain.store.mailbox(ALICE[0], "INBOX").messages[0].data == body
    client.close()


def test_gmail_advertises_literal_minus_and_enforces_it(gmail: FakeMailServers) -> None:
    client = _raw(gmail)
    body = _message(4097)
    client.send(b"A APPEND INBOX {%d+}\r\n" % len(body) + body + b"\r\n")
    assert client.until_tagged(b"A")[-1].startswith(b"A BAD [TOOBIG] ")
    client.close()


# -- NUL in literals (RFC 3501 section 4.3, RFC 3516 section 4.2) -------------------


def test_nul_in_an_ordinary_literal_is_bad(plain: FakeMailServers) -> None:
    client = _raw(plain)
    data = b"Subject: x\r\n\r\nab\x00cd\r\n"
    client.send(b"A APPEND INBOX {%d+}\r\n" % len(data) + data + b"\r\n")
    assert client.until_tagged(b"A")[-1].startswith(b"A BAD ")
    client.send(b"B CREATE {3+}\r\na\x00b\r\n")
    assert client.until_tagged(b"B")[-1].startswith(b"B BAD ")
    assert plain.store.mailbox(ALICE[0], "INBOX").messages == []
    client.close()


def test_nul_in_a_literal8_is_accepted(plain: FakeMailServers) -> None:
    client = _raw(plain)
    data = b"Subject: x\r\n\r\nab\x00cd\r\n"
    client.send(b"A APPEND INBOX ~{%d+}\r\n" % len(data) + data + b"\r\n")
    assert client.until_tagged(b"A")[-1].startswith(b"A OK ")
    assert plain.store.mailbox(ALICE[0], "INBOX").messages[0].data == data
    client.close()


def test_imaplib_append_without_nul_is_accepted(plain: FakeMailServers) -> None:
    with _imaplib(plain) as client:
        status, _ = client.append("INBOX", None, None, NOTE)
    assert status == "OK"


# -- ENABLE only what is advertised (RFC 5161 section 3.1) ---------------------------


def test_gmail_enables_only_what_it_advertises(gmail: FakeMailServers) -> None:
    with _imaplib(gmail) as client:
        typ, data = client._simple_command("ENABLE", "QRESYNC", "IMAP4rev2", "CONDSTORE")
        enabled = client._untagged_response(typ, data, "ENABLED")[1]
        with pytest.raises(imaplib.IMAP4.error, match="QRESYNC needs ENABLE"):
            client._simple_command("SELECT", "INBOX (QRESYNC (1 1))")
    assert enabled == [b"CONDSTORE"]  # neither QRESYNC nor IMAP4rev2 is advertised


def test_default_profile_enables_qresync(plain: FakeMailServers) -> None:
    with _imaplib(plain) as client:
        typ, data = client._simple_command("ENABLE", "QRESYNC", "IMAP4rev2")
        enabled = client._untagged_response(typ, data, "ENABLED")[1]
    assert enabled == [b"QRESYNC IMAP4rev2"]


# -- QRESYNC sequence match data (RFC 7162 section 3.2.5.2) --------------------------


def _qresync_select(servers: FakeMailServers, parameters: bytes) -> list[int]:
    """VANISHED (EARLIER) UIDs of a QRESYNC SELECT with ``parameters`` after the known ones."""
    box = servers.store.mailbox(ALICE[0], "INBOX")
    client = _raw(servers)
    client.command(b"E", b"ENABLE QRESYNC")
    lines = client.command(
        b"S", b"SELECT INBOX (QRESYNC (%d 1 %s))" % (box.uidvalidity, parameters)
    )
    client.close()
    assert lines[-1].startswith(b"S OK")
    found = [line for line in lines if line.startswith(b"* VANISHED (EARLIER) ")]
    if not found:
        return []
    uids: list[int] = []
    for part in found[0].split()[-1].split(b","):
        low, _, high = part.partition(b":")
        uids += range(int(low), int(high or low) + 1)
    return uids


@pytest.fixture
def expunged(plain: FakeMailServers) -> FakeMailServers:
    """INBOX held UIDs 1..10; 2, 4, 6 and 8 were expunged (1 3 5 7 9 10 remain)."""
    store = plain.store
    for _ in range(10):
        store.deliver(ALICE[0], NOTE)
    for uid in (2, 4, 6, 8):
        store.set_flags(ALICE[0], "INBOX", uid, ["\\Deleted"], mode="add")
    store.expunge(ALICE[0], "INBOX")
    return plain


def test_without_sequence_match_data_every_expunge_is_reported(expunged: FakeMailServers) -> None:
    assert _qresync_select(expunged, b"1:10") == [2, 4, 6, 8]


def test_matching_sequence_data_narrows_vanished(expunged: FakeMailServers) -> None:
    # The client already numbers 1 3 5 as 1 2 3: it knows 2 and 4 are gone.
    assert _qresync_select(expunged, b"1:10 (1:3 1,3,5)") == [6, 8]
    # Pairs are checked from the lowest up; the first mismatch ends the check.
    assert _qresync_select(expunged, b"1:10 (1,2,4 1,3,6)") == [4, 6, 8]


def test_mismatching_sequence_data_narrows_nothing(expunged: FakeMailServers) -> None:
    assert _qresync_select(expunged, b"1:10 (2,3 2,3)") == [2, 4, 6, 8]
    # Sets of different sizes cannot be paired: the data is ignored.
    assert _qresync_select(expunged, b"1:10 (1:3 1,3)") == [2, 4, 6, 8]


# -- STORE X-GM-LABELS (Gmail) -------------------------------------------------------


def _labels(line: object) -> set[bytes]:
    """The labels of an ``X-GM-LABELS (...)`` item, quoted ones as sent (escapes kept)."""
    assert isinstance(line, bytes), line
    found = re.search(rb"X-GM-LABELS \(([^)]*)\)", line)
    assert found is not None, line
    pairs = re.findall(rb'"((?:[^"\\]|\\.)*)"|(\S+)', found.group(1))
    return {quoted or bare for quoted, bare in pairs}


def test_store_labels_adds_and_removes_mailbox_copies(gmail: FakeMailServers) -> None:
    store = gmail.store
    store.deliver(ALICE[0], NOTE)
    with _imaplib(gmail) as client:
        client.select("INBOX")
        typ, data = client.store("1", "+X-GM-LABELS", '(Work "\\\\Starred")')
        assert typ == "OK"
        assert _labels(data[0]) == {b"Work", b"\\\\Starred"}
        assert len(store.mailbox(ALICE[0], "Work").messages) == 1
        assert len(store.mailbox(ALICE[0], "[Gmail]/Starred").messages) == 1
        typ, data = client.fetch("1", "(X-GM-LABELS)")
        assert _labels(data[0]) == {b"Work", b"\\\\Starred"}
        typ, data = client.store("1", "-X-GM-LABELS.SILENT", "(Work)")
        assert typ == "OK" and data == [None]
        assert store.mailbox(ALICE[0], "Work").messages == []
        typ, data = client.uid("STORE", "1", "X-GM-LABELS", '("\\\\Important")')
        assert _labels(data[0]) == {b"\\\\Important"}
        assert store.mailbox(ALICE[0], "[Gmail]/Starred").messages == []
        assert b"UID 1" in data[0]
        # Removing the selected mailbox's own label takes the message out of it.
        client.store("1", "-X-GM-LABELS", '("\\\\Inbox")')
        client.noop()
        assert client.response("EXPUNGE") == ("EXPUNGE", [b"1"])
    assert store.mailbox(ALICE[0], "INBOX").messages == []
    assert len(store.mailbox(ALICE[0], "[Gmail]/Important").messages) == 1


def test_labels_are_sent_like_mailbox_names(gmail: FakeMailServers) -> None:
    # Modified UTF-7 (RFC 3501 section 5.1.3) as Gmail sends labels; UTF-8 after
    # ENABLE UTF8=ACCEPT (RFC 6855 section 3); a label given in either form names
    # the same mailbox.
    gmail.store.deliver(ALICE[0], NOTE)
    with _imaplib(gmail) as client:
        client.select("INBOX")
        typ, data = client.store("1", "+X-GM-LABELS", "(Entw&APw-rfe)")
        assert typ == "OK" and b"Entw&APw-rfe" in _labels(data[0])
        assert b"Entw\xc3\xbcrfe" not in data[0]
        assert len(gmail.store.mailbox(ALICE[0], "Entwürfe").messages) == 1
        client.unselect()
        assert client.xatom("ENABLE", "UTF8=ACCEPT")[0] == "OK"
        client.select("INBOX")
        typ, data = client.fetch("1", "(X-GM-LABELS)")
        assert isinstance(data[0], tuple)  # 8-bit text goes as a literal
        assert data[0][1] == "Entwürfe".encode()


def test_store_labels_is_refused_without_gmail_extensions(plain: FakeMailServers) -> None:
    plain.store.deliver(ALICE[0], NOTE)
    with _imaplib(plain) as client:
        client.select("INBOX")
        with pytest.raises(imaplib.IMAP4.error, match="X-GM-LABELS"):
            client.store("1", "+X-GM-LABELS", "(Work)")
    assert [box.name for box in plain.store.mailboxes(ALICE[0])].count("Work") == 0


# -- sequence sets -------------------------------------------------------------------


def test_sequence_set_intervals_merge_and_resolve_star() -> None:
    numbers = SequenceSet.parse(b"7,1,2,3,9:*,5:4")
    assert numbers.intervals(largest=12) == ([1, 7, 9], [5, 7, 12])
    assert numbers.contains(5, largest=12) and not numbers.contains(6, largest=12)
    assert numbers.contains(12, largest=12) and not numbers.contains(13, largest=12)
    values = list(range(2, 30, 2))
    assert [values[i] for i in numbers.positions(values, largest=12)] == [2, 4, 10, 12]


def test_hundred_uids_select_the_same_as_a_range(plain: FakeMailServers) -> None:
    for _ in range(150):
        plain.store.deliver(ALICE[0], NOTE)
    listed = ",".join(str(uid) for uid in range(20, 120))
    with _imaplib(plain) as client:
        client.select("INBOX")
        by_list = client.uid("FETCH", listed, "(UID)")[1]
        by_range = client.uid("FETCH", "20:119", "(UID)")[1]
        beyond = client.uid("FETCH", "151,152,200:300", "(UID)")[1]
    assert by_list == by_range and len(by_list) == 100
    assert beyond == [None]
