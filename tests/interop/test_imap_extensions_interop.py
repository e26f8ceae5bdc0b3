"""The same raw IMAP exchanges against the private Dovecot and the fake server.

For the extensions Dovecot 2.3 has (MOVE, UIDPLUS, ENABLE, CONDSTORE,
QRESYNC, ESEARCH, SEARCHRES, LIST-EXTENDED, LIST-STATUS, SPECIAL-USE), a
script of commands runs on each server in a mailbox of its own, and the
responses are compared after :func:`normalize` (human-readable text dropped,
numbers that differ between any two servers, such as UIDVALIDITY and
mod-sequences, replaced by placeholders, FETCH items put in one order).
Where the fake server answers differently on purpose, docs/imap-server.md
says so and the script leaves that response out.
"""

from __future__ import annotations

import re
import secrets
import socket
import ssl
from collections.abc import Iterator

import pytest

from fakeservers.controller import FakeMailServers

from .environment import InteropServers

pytestmark = pytest.mark.interop

MESSAGE = b"From: bob@example.test\r\nSubject: %d\r\n\r\nbody %d\r\n"


class Raw:
    """A raw implicit-TLS IMAP connection, logged in."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext, user: str, password: str):
        sock = socket.create_connection((host, port), timeout=10)
        self.sock = context.wrap_socket(sock, server_hostname=host)
        self.reader = self.sock.makefile("rb")
        self.reader.readline()
        self.count = 0
        lines = self.command(b"LOGIN " + _quoted(user) + b" " + _quoted(password))
        assert b" OK " in lines[-1], lines

    def command(self, text: bytes) -> list[bytes]:
        self.count += 1
        tag = b"T%d" % self.count
        self.sock.sendall(tag + b" " + text + b"\r\n")
        lines: list[bytes] = []
        while True:
            line = self.reader.readline()
            if not line:
                raise ConnectionError(lines)
            match = re.search(rb"\{(\d+)\}\r\n$", line)
            if match:  # a literal: keep it in the line
                line += self.reader.read(int(match.group(1))) + self.reader.readline()
            lines.append(line)
            if line.startswith(tag + b" "):
                return [
                    b"TAG" + line[len(tag) :] if line.startswith(tag) else line for line in lines
                ]

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


def _quoted(text: str) -> bytes:
    return b'"' + text.encode() + b'"'


_VOLATILE = [
    (re.compile(rb"MODSEQ \(\d+\)"), b"MODSEQ (n)"),
    (re.compile(rb"HIGHESTMODSEQ \d+"), b"HIGHESTMODSEQ n"),
    (re.compile(rb" MODSEQ \d+"), b" MODSEQ n"),
    (re.compile(rb"(COPYUID|APPENDUID|UIDVALIDITY) \d+"), rb"\1 v"),
    (re.compile(rb'"?mx-[0-9a-f]+(-to)?"?'), rb"MAILBOX\1"),
]
_FETCH = re.compile(rb"^\* (\d+) FETCH \((.*)\)\r\n$")
_FETCH_ITEM = re.compile(rb"(UID \d+|FLAGS \([^)]*\)|MODSEQ \([^)]*\))")
_LIST = re.compile(rb'^\* (LIST|STATUS) (?:\(([^)]*)\) (?:"."|"/") )?"?([^" ]+)"?(.*)$')
_CHILDREN = {b"\\HasChildren", b"\\HasNoChildren"}
_CODE = re.compile(rb"^(TAG|\*) (OK|NO|BAD)( \[[^\]]*\])?")


def normalize(lines: list[bytes]) -> list[bytes]:
    """Responses with volatile numbers and free text removed, FETCH items in one order."""
    shown: list[bytes] = []
    for raw in lines:
        line = raw
        for pattern, replacement in _VOLATILE:
            line = pattern.sub(replacement, line)
        fetch = _FETCH.match(line)
        if fetch:
            items = []
            for found in _FETCH_ITEM.findall(fetch.group(2)):
                item = found
                if item.startswith(b"FLAGS"):
                    flags = sorted(item[7:-1].split())
                    item = b"FLAGS (" + b" ".join(flags) + b")"
                items.append(item)
            line = b"* " + fetch.group(1) + b" FETCH " + b" ".join(sorted(items))
        listed = _LIST.match(line)
        if listed:  # delimiter and \Has[No]Children differ on purpose (docs/imap-server.md)
            kind, attributes, name, rest = listed.groups()
            if kind == b"LIST":
                kept = sorted(set((attributes or b"").split()) - _CHILDREN)
                line = b"* LIST (" + b" ".join(kept) + b") " + name + rest
            else:
                line = b"* STATUS " + name + rest
        coded = _CODE.match(line)
        if coded:
            line = coded.group(0)
        shown.append(line.rstrip(b"\r\n"))
    return shown


def _run(client: Raw, mailbox: bytes, script: list[bytes]) -> list[list[bytes]]:
    """Create ``mailbox`` with three messages, select it, run ``script``; normalized."""
    client.command(b"CREATE " + mailbox)
    client.command(b"CREATE " + mailbox[:-1] + b'-to"')
    for number in range(3):
        data = MESSAGE % (number, number)
        client.command(b"APPEND " + mailbox + b" (\\Seen) {%d+}\r\n" % len(data) + data)
    target = mailbox[:-1] + b'-to"'
    return [
        normalize(client.command(text.replace(b"$BOX", mailbox).replace(b"$TO", target)))
        for text in script
    ]


@pytest.fixture
def both(
    interop_servers: InteropServers, mail_servers: FakeMailServers
) -> Iterator[tuple[Raw, Raw]]:
    dovecot_account = interop_servers.accounts[0]
    dovecot = Raw(
        interop_servers.host,
        interop_servers.port("imaps"),
        interop_servers.client_context(),
        dovecot_account.user,
        dovecot_account.password,
    )
    fake_account = mail_servers.accounts[0]
    fake = Raw(
        "127.0.0.1",
        mail_servers.endpoints["imaps"].port,
        mail_servers.client_context(),
        fake_account.user,
        fake_account.password,
    )
    yield dovecot, fake
    dovecot.close()
    fake.close()


def _compare(both: tuple[Raw, Raw], script: list[bytes], *, qresync: bool = False) -> None:
    dovecot, fake = both
    mailbox = b'"mx-' + secrets.token_hex(4).encode() + b'"'
    enable = [b"ENABLE QRESYNC"] if qresync else []
    for client in both:
        for text in enable:
            client.command(text)
    theirs = _run(dovecot, mailbox, [b"SELECT $BOX", *script])[1:]
    ours = _run(fake, mailbox, [b"SELECT $BOX", *script])[1:]
    for command, their, our in zip(script, theirs, ours, strict=True):
        assert our == their, (command, their, our)


def test_move_and_uidplus_match_dovecot(both: tuple[Raw, Raw]) -> None:
    _compare(
        both,
        [
            b"UID STORE 1 +FLAGS.SILENT (\\Deleted)",
            b"UID EXPUNGE 2:3",  # UID 1 is the only \Deleted one, and not in the set
            b"UID MOVE 2 $TO",
            b"MOVE 9 $TO",  # a sequence number beyond the mailbox
            b"UID MOVE 1 Nowhere",
        ],
    )


def test_condstore_matches_dovecot(both: tuple[Raw, Raw]) -> None:
    _compare(
        both,
        [
            b"UID FETCH 1:* (FLAGS MODSEQ)",
            b"UID STORE 2 +FLAGS (\\Flagged)",
            b"UID STORE 2 (UNCHANGEDSINCE 1) -FLAGS (\\Flagged)",
            b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE 99999999)",
            b"SEARCH MODSEQ 1",
        ],
    )


def test_qresync_matches_dovecot(both: tuple[Raw, Raw]) -> None:
    _compare(
        both,
        [
            b"UID STORE 1:2 +FLAGS.SILENT (\\Deleted)",
            b"UID EXPUNGE 1:2",
            b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)",
            b"FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)",
        ],
        qresync=True,
    )


def test_esearch_and_searchres_match_dovecot(both: tuple[Raw, Raw]) -> None:
    _compare(
        both,
        [
            b"SEARCH RETURN (MIN MAX COUNT ALL) ALL",
            b"UID SEARCH RETURN (COUNT) SUBJECT 1",
            b"SEARCH RETURN () SUBJECT nothing-like-this",
            b"SEARCH RETURN (SAVE) SUBJECT 2",
            b"FETCH $ (UID)",
            b"SEARCH RETURN (BIGGEST) ALL",
        ],
    )


def test_list_extended_and_status_match_dovecot(both: tuple[Raw, Raw]) -> None:
    _compare(
        both,
        [
            b'LIST "" $BOX RETURN (STATUS (MESSAGES UNSEEN))',
            b'LIST (RECURSIVEMATCH) "" "*"',
        ],
    )
