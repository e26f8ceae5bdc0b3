"""RFC 6856: UTF-8 header fields reach only a POP3 client that issued UTF8; others get a downgrade.

A client in UTF8 mode reads the stored octets unchanged. A client that did
not send UTF8 (plain poplib) reads the message downgraded as RFC 6858
section 3 describes: ASCII only in the header section, RFC 2047
encoded-words that decode back to the original text, UTF-8 addresses as
empty groups, and sizes (LIST, STAT) that match what RETR sends.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import poplib

import pytest

from fakeservers.controller import FakeMailServers
from fakeservers.pop3.downgrade import downgrade, has_utf8_header

ALICE = "alice@example.test"
UTF8_MESSAGE = (
    "From: Jörg <alice@example.test>\r\n"
    "To: jörg@example.test, Bob <bob@example.test>\r\n"
    "Subject: Grüße aus München\r\n"
    "X-Plain: ascii stays\r\n"
    "\r\n"
    "Hällo, the body is not a header field\r\n"
).encode()
ASCII_MESSAGE = b"From: alice@example.test\r\nSubject: plain\r\n\r\n8-bit body \xe9\xff\r\n"
LATIN1_HEADER = b"Subject: caf\xe9\r\n\r\nnot UTF-8 in the header\r\n"


@pytest.fixture
def servers(pop3_server: FakeMailServers) -> FakeMailServers:
    for data in (UTF8_MESSAGE, ASCII_MESSAGE, LATIN1_HEADER):
        pop3_server.store.deliver(ALICE, data)
    return pop3_server


def connect(servers: FakeMailServers, *, utf8: bool) -> poplib.POP3_SSL:
    client = poplib.POP3_SSL(
        servers.host, servers.endpoints["pop3s"].port, context=servers.client_context(), timeout=5
    )
    if utf8:
        assert client.utf8().startswith(b"+OK")  # RFC 6856 section 2: before login
    client.user(ALICE)
    client.pass_("alice-pass")
    return client


def retr(client: poplib.POP3_SSL, number: int) -> bytes:
    _, lines, _ = client.retr(number)
    return b"".join(line + b"\r\n" for line in lines)


def sizes(client: poplib.POP3_SSL) -> dict[int, int]:
    """LIST: the size of each message by number (RFC 1939 section 5)."""
    _, lines, _ = client.list()
    return {int(n): int(size) for n, size in (line.split() for line in lines)}


def test_utf8_client_reads_the_stored_octets(servers: FakeMailServers) -> None:
    client = connect(servers, utf8=True)
    try:
        assert [retr(client, n) for n in (1, 2, 3)] == [UTF8_MESSAGE, ASCII_MESSAGE, LATIN1_HEADER]
        assert sizes(client)[1] == len(UTF8_MESSAGE)
    finally:
        client.quit()


def test_client_without_utf8_gets_no_utf8_header_fields(servers: FakeMailServers) -> None:
    client = connect(servers, utf8=False)
    try:
        data = retr(client, 1)
        header, _, body = data.partition(b"\r\n\r\n")
        assert header.isascii()  # RFC 6856 section 2
        assert body == "Hällo, the body is not a header field\r\n".encode()
        assert b"\r\nX-Plain: ascii stays" in header
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        assert parsed["Subject"] == "Grüße aus München"  # RFC 2047 decodes back
        assert parsed["From"].addresses[0].display_name == "Jörg"
        assert parsed["From"].addresses[0].addr_spec == ALICE
        to = parsed["To"]
        assert [g.display_name for g in to.groups] == ["jörg@example.test", None]
        assert to.groups[0].addresses == ()  # RFC 6858 section 3: an empty group
        assert to.groups[1].addresses[0].addr_spec == "bob@example.test"
        # RFC 6856 section 2: the size LIST reports is what RETR sends
        assert sizes(client)[1] == len(data)
        count, octets = client.stat()
        assert (count, octets) == (3, len(data) + len(ASCII_MESSAGE) + len(LATIN1_HEADER))
        _, top_lines, _ = client.top(1, 0)
        assert b"".join(line + b"\r\n" for line in top_lines) == header + b"\r\n\r\n"
    finally:
        client.quit()


def test_client_without_utf8_reads_other_messages_unchanged(servers: FakeMailServers) -> None:
    client = connect(servers, utf8=False)
    try:
        assert retr(client, 2) == ASCII_MESSAGE  # 8-bit bodies are not header fields
        assert retr(client, 3) == LATIN1_HEADER  # 8-bit that is not UTF-8 is no UTF-8 field
        first = retr(client, 1)
    finally:
        client.quit()
    again = connect(servers, utf8=False)
    try:
        assert retr(again, 1) == first  # the same octets in every session
    finally:
        again.quit()


def test_utf8_after_login_does_not_switch_modes(servers: FakeMailServers) -> None:
    client = connect(servers, utf8=False)
    try:
        with pytest.raises(poplib.error_proto):
            client.utf8()  # RFC 6856 section 2: only in the AUTHORIZATION state
        assert retr(client, 1).partition(b"\r\n\r\n")[0].isascii()
    finally:
        client.quit()


# -- the downgrade itself ----------------------------------------------------------------


def test_downgrade_keeps_ascii_messages_byte_for_byte() -> None:
    for data in (ASCII_MESSAGE, LATIN1_HEADER, b"no header at all", b""):
        assert downgrade(data) == data
        assert not has_utf8_header(data)


def test_downgrade_encodes_folded_and_unknown_fields() -> None:
    data = "X-Note: eins\r\n zwei drei ä\r\nReceived: from höst\r\n\r\nbody\r\n".encode()
    assert has_utf8_header(data)
    result = downgrade(data)
    assert result.isascii() and result.endswith(b"\r\n\r\nbody\r\n")
    parsed = email.message_from_bytes(result, policy=email.policy.default)
    assert parsed["X-Note"] == "eins zwei drei ä"
    assert parsed["Received"] == "from höst"


def test_downgrade_of_lf_only_message() -> None:
    data = "Subject: ä\n\nbody\n".encode()
    result = downgrade(data)
    assert result.startswith(b"Subject: =?utf-8?") and result.endswith(b"\n\nbody\n")
    decoded = email.header.decode_header(result.split(b"\n")[0][9:].decode().strip())
    assert decoded[0][0] == "ä".encode()
