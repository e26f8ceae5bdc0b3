"""Large messages by DATA over TLS: sent in pieces, each stuffed only where it needs it.

The pieces are cut after line ends (:func:`~refclient.protocol.smtp.data.stuffed_pieces`);
lines that start with a dot sit around every piece boundary, and the fake
server's store judges that the message arrived exactly. A binary message
(NUL, bare CR or LF, RFC 3030 section 3) is refused before MAIL, wherever
the flaw is, and the session goes on; so is a line over 998 octets (RFC 5321
section 4.5.3.1.6), which DATA cannot carry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from fakeservers.controller import FakeMailServers
from fakeservers.pki import TestPKI
from fakeservers.smtp import strip_trace_headers
from fakeservers.smtp.record import submission_record
from refclient import errors
from refclient.credentials import Credentials
from refclient.protocol.errors import LocalProtocolError
from refclient.protocol.smtp.data import PIECE_SIZE
from refclient.session.options import ClientOptions
from refclient.session.smtp import SMTPSession
from refclient.urls import ServerURL

ALICE = Credentials(user="alice@example.test", password="alice-pass")
BOB = "bob@example.test"


@pytest.fixture
def servers(mail_pki: TestPKI) -> Iterator[FakeMailServers]:
    ports = {"submissions": 0}
    with FakeMailServers(ports=ports, pki=mail_pki) as running:
        yield running


def large_message() -> bytes:
    """Several pieces, with lines that start with a dot around every piece boundary."""
    lines = [b"Subject: large\r\n", b"\r\n"]
    size = sum(map(len, lines))
    number = 0
    while size < 5 * PIECE_SIZE:
        line = (b".%d dotted\r\n" if number % 7 == 0 else b"line %d of the body.\r\n") % number
        lines.append(line)
        size += len(line)
        number += 1
    return b"".join(lines)


async def send(servers: FakeMailServers, *messages: bytes) -> list[bool | Exception]:
    """Each message by DATA in one session: whether it went chunked, or the error."""
    options = ClientOptions(ca_file=servers.ca_file, read_timeout=30)
    outcomes: list[bool | Exception] = []
    async with SMTPSession(ServerURL.parse(servers.url("submissions")), options=options) as smtp:
        await smtp.login(ALICE)
        for message in messages:
            try:
                sent = await smtp.send(message, sender=ALICE.user, recipients=[BOB], chunking=False)
                outcomes.append(sent.chunked)
            except (errors.CommandFailed, LocalProtocolError) as error:
                outcomes.append(error)
    return outcomes


def inbox(servers: FakeMailServers) -> list[bytes]:
    return [strip_trace_headers(m.data) for m in servers.store.mailbox(BOB, "INBOX").messages]


def test_a_large_message_by_data_arrives_exactly(servers: FakeMailServers) -> None:
    message = large_message()
    outcomes = asyncio.run(send(servers, message, b"Subject: s\r\n\r\n.\r\n"))
    assert outcomes == [False, False]
    assert inbox(servers) == [message, b"Subject: s\r\n\r\n.\r\n"]


@pytest.mark.parametrize("flaw", [b"\x00", b"bare LF\n", b"bare CR\r", b"\rCR\nLF\r\n"])
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_a_binary_message_is_refused_before_mail_and_the_session_goes_on(
    servers: FakeMailServers, flaw: bytes, where: str
) -> None:
    message = large_message()
    at = {"first": 40, "middle": len(message) // 2, "last": len(message) - 2}[where]
    at = message.index(b"\r\n", at) + 2  # at a line start
    damaged = message[:at] + flaw + message[at:]
    small = b"Subject: ok\r\n\r\nok\r\n"
    refused, sent = asyncio.run(send(servers, damaged, small))
    assert isinstance(refused, errors.CommandFailed) and "BINARYMIME" in str(refused)
    assert sent is False
    assert inbox(servers) == [small]
    assert len(submission_record(servers.store).transactions) == 1


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_lines_of_998_octets_go_by_data_and_a_longer_one_is_refused_before_mail(
    servers: FakeMailServers, where: str
) -> None:
    message = large_message()
    at = {"first": 40, "middle": len(message) // 2, "last": len(message) - 2}[where]
    at = message.index(b"\r\n", at) + 2  # at a line start
    longest = message[:at] + b"y" * 998 + b"\r\n" + message[at:]
    too_long = message[:at] + b"z" * 999 + b"\r\n" + message[at:]
    refused, sent = asyncio.run(send(servers, too_long, longest))
    assert isinstance(refused, errors.CommandFailed) and "4.5.3.1.6" in str(refused)
    assert sent is False
    assert inbox(servers) == [longest]
    assert len(submission_record(servers.store).transactions) == 1
