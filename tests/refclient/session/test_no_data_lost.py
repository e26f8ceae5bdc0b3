"""No data lost, reference client on both ends: submitted or appended, read back byte-exact.

The property tests in ``tests/fakeservers/test_no_data_lost.py`` use the
standard library's clients; these use the reference client's sessions to
write and to read, so each protocol is checked by two implementations of its
client side against the fake servers. What is read back equals what was
written, with only the normalisations the protocols require:

- SMTP (RFC 5321): the message is CRLF lines (section 2.3.8); DATA
  dot-stuffing (section 4.5.2) is undone exactly; a message with NUL goes by
  BDAT with BODY=BINARYMIME (RFC 3030); the trace fields the submission
  server prepends (section 4.4) are removed before comparing.
- IMAP APPEND (RFC 3501 section 6.3.11) keeps a literal's octets verbatim,
  bare CR and LF included; NUL needs a literal8 (RFC 3516 section 4.4) and is
  read back with ``BINARY.PEEK[]`` (section 4.2).
- POP3 RETR (RFC 1939 section 3) is CRLF lines: a message not ending in CRLF
  gets one before the terminating line (so it reads back with CRLF added),
  and octets after a bare LF are not a line start for the reference client
  (the fake server's dot-stuffing disagrees: see the expected failure below).
"""

from __future__ import annotations

import asyncio
import poplib
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakeservers.controller import FakeMailServers
from fakeservers.pki import TestPKI
from fakeservers.smtp import strip_trace_headers
from refclient.credentials import Credentials
from refclient.session.imap import IMAPSession
from refclient.session.options import ClientOptions
from refclient.session.pop3 import POP3Session
from refclient.session.smtp import SMTPSession
from refclient.urls import ServerURL

ALICE = Credentials(user="alice@example.test", password="alice-pass")
TEXT_OCTETS = [b for b in range(1, 256) if b not in (10, 13)]
#: One line of at most 120 octets (RFC 5322 section 2.1.1 allows 998), no CR, LF or NUL.
LINE = st.binary(max_size=120).map(lambda raw: bytes(TEXT_OCTETS[b % 253] for b in raw))
#: Lines that DATA must dot-stuff (RFC 5321 section 4.5.2) among ordinary ones.
DOTTED = st.one_of(LINE, LINE.map(lambda line: b"." + line), st.just(b"."), st.just(b".."))
BODY = st.lists(DOTTED, max_size=30).map(lambda lines: b"".join(line + b"\r\n" for line in lines))
#: Binary lines: NUL included (BINARYMIME, literal8).
BINARY_LINE = st.binary(max_size=120).map(lambda raw: raw.replace(b"\r", b"").replace(b"\n", b""))
BINARY_BODY = st.lists(BINARY_LINE, min_size=1, max_size=20).map(
    lambda lines: b"\x00" + b"".join(line + b"\r\n" for line in lines)
)
HEADER = b"From: alice@example.test\r\nTo: alice@example.test\r\nSubject: property\r\n\r\n"
#: What an IMAP literal may hold: any octet but NUL, bare CR and LF included.
LITERAL = st.binary(min_size=1, max_size=3000).map(lambda raw: raw.replace(b"\x00", b"\x01"))
OCTET8 = st.binary(min_size=1, max_size=3000)
SETTINGS = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def servers() -> Iterator[FakeMailServers]:
    with FakeMailServers(pki=TestPKI.create()) as running:
        yield running


def _options(servers: FakeMailServers) -> ClientOptions:
    return ClientOptions(ca_file=servers.ca_file, read_timeout=30, connect_timeout=30)


async def _submit(servers: FakeMailServers, data: bytes, chunking: bool | None) -> bool:
    """Submit over submissions; whether it went by BDAT."""
    url = ServerURL.parse(servers.url("submissions"))
    async with SMTPSession(url, options=_options(servers)) as smtp:
        await smtp.login(ALICE)
        sent = await smtp.send(data, sender=ALICE.user, recipients=[ALICE.user], chunking=chunking)
    assert sent.accepted == [ALICE.user]
    return sent.chunked


async def _append(servers: FakeMailServers, data: bytes, *, binary: bool) -> int:
    url = ServerURL.parse(servers.url("imaps"))
    async with IMAPSession(url, options=_options(servers)) as imap:
        await imap.login(ALICE)
        uid = await imap.append("INBOX", data, binary=binary)
    assert uid is not None
    return uid


async def _imap_read(servers: FakeMailServers, uid: int | None, *, binary: bool) -> bytes:
    """The message with ``uid`` (None: the newest), by BODY.PEEK[] or BINARY.PEEK[]."""
    url = ServerURL.parse(servers.url("imaps"))
    async with IMAPSession(url, options=_options(servers)) as imap:
        await imap.login(ALICE)
        await imap.select("INBOX", readonly=True)
        if uid is None:
            uid = (await imap.search("ALL"))[-1]
        return await (imap.fetch_binary(uid) if binary else imap.fetch_message(uid))


async def _pop3_newest(servers: FakeMailServers) -> bytes:
    url = ServerURL.parse(servers.url("pop3s"))
    async with POP3Session(url, options=_options(servers)) as pop:
        await pop.login(ALICE)
        count, _ = await pop.stat()
        return await pop.retr(count)


def _poplib_newest(servers: FakeMailServers) -> bytes:
    port, context = servers.endpoints["pop3s"].port, servers.client_context()
    pop = poplib.POP3_SSL("127.0.0.1", port, context=context)
    try:
        pop.user(ALICE.user)
        pop.pass_("alice-pass")
        count, _ = pop.stat()
        _, lines, _ = pop.retr(count)
    finally:
        pop.quit()
    return b"".join(line + b"\r\n" for line in lines)


@SETTINGS
@given(body=BODY, chunking=st.sampled_from([None, True, False]))
def test_submitted_text_reads_back_exactly(
    servers: FakeMailServers, body: bytes, chunking: bool | None
) -> None:
    sent = HEADER + body
    asyncio.run(_submit(servers, sent, chunking))
    assert strip_trace_headers(asyncio.run(_imap_read(servers, None, binary=False))) == sent
    assert strip_trace_headers(asyncio.run(_pop3_newest(servers))) == sent


@SETTINGS
@given(body=BINARY_BODY)
def test_submitted_binary_goes_by_bdat_and_reads_back_exactly(
    servers: FakeMailServers, body: bytes
) -> None:
    sent = HEADER + body
    assert asyncio.run(_submit(servers, sent, None)) is True  # NUL: BDAT, BODY=BINARYMIME
    assert strip_trace_headers(asyncio.run(_imap_read(servers, None, binary=True))) == sent
    assert strip_trace_headers(asyncio.run(_pop3_newest(servers))) == sent


@SETTINGS
@given(data=LITERAL)
def test_appended_octets_read_back_exactly_over_imap(servers: FakeMailServers, data: bytes) -> None:
    uid = asyncio.run(_append(servers, data, binary=False))
    assert asyncio.run(_imap_read(servers, uid, binary=False)) == data


@SETTINGS
@given(data=OCTET8)
def test_appended_literal8_reads_back_exactly_over_imap(
    servers: FakeMailServers, data: bytes
) -> None:
    uid = asyncio.run(_append(servers, data, binary=True))
    assert asyncio.run(_imap_read(servers, uid, binary=True)) == data


@SETTINGS
@given(body=BODY)
def test_appended_messages_read_back_exactly_over_pop3(
    servers: FakeMailServers, body: bytes
) -> None:
    data = HEADER + body
    asyncio.run(_append(servers, data, binary=False))
    assert asyncio.run(_pop3_newest(servers)) == data
    assert _poplib_newest(servers) == data


def test_pop3_adds_the_line_end_a_message_lacks(servers: FakeMailServers) -> None:
    # The negative half: a message not ending in CRLF is not read back as it was over
    # POP3 (RFC 1939 section 3 needs the terminating "." on a line of its own)...
    data = HEADER + b"no final line end"
    uid = asyncio.run(_append(servers, data, binary=False))
    assert asyncio.run(_pop3_newest(servers)) == data + b"\r\n"
    # ... while IMAP keeps it exactly.
    assert asyncio.run(_imap_read(servers, uid, binary=False)) == data


def test_a_bare_lf_crosses_pop3_as_crlf_and_a_dot_after_it_reads_back(
    servers: FakeMailServers,
) -> None:
    # RFC 1939 section 3: POP3 lines end in CRLF, so a bare LF goes as CRLF (as Dovecot
    # sends it); the "." after it is then stuffed and unstuffed like any other.
    data = HEADER + b"bare\n.dot after a bare LF\r\n"
    uid = asyncio.run(_append(servers, data, binary=False))
    expected = HEADER + b"bare\r\n.dot after a bare LF\r\n"
    assert asyncio.run(_pop3_newest(servers)) == expected
    assert _poplib_newest(servers) == expected
    assert asyncio.run(_imap_read(servers, uid, binary=False)) == data  # IMAP keeps it
