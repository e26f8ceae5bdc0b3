"""CHUNKING/BDAT, BINARYMIME, DSN, REQUIRETLS and the pipelining check, with smtplib and raw TLS.

smtplib has no BDAT, so chunks go over a raw TLS socket after smtplib-free
login lines; DSN and REQUIRETLS parameters go through smtplib's public
``mail_options`` and ``rcpt_options``.
"""

from __future__ import annotations

import base64
import smtplib
import socket

import pytest

from fakeservers.controller import FakeMailServers

ALICE = ("alice@example.test", "alice-pass")
NOTE = b"From: alice@example.test\r\nSubject: chunks\r\n\r\nline one\r\n.line two\r\n"


class RawSMTP:
    """SMTP over implicit TLS, line by line."""

    def __init__(self, servers: FakeMailServers) -> None:
        port, context = servers.endpoints["submissions"].port, servers.client_context()
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
        self.reader = self.sock.makefile("rb")
        assert self.reply().startswith(b"220")

    def reply(self) -> bytes:
        lines = [self.reader.readline()]
        while lines[-1][3:4] == b"-":
            lines.append(self.reader.readline())
        return b"".join(lines)

    def send(self, data: bytes) -> bytes:
        self.sock.sendall(data)
        return self.reply()

    def login(self) -> None:
        assert b"CHUNKING" in self.send(b"EHLO client\r\n")
        token = base64.b64encode(b"\0" + ALICE[0].encode() + b"\0" + ALICE[1].encode())
        assert self.send(b"AUTH PLAIN " + token + b"\r\n").startswith(b"235")

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


def _inbox(servers: FakeMailServers) -> list[bytes]:
    return [m.data for m in servers.store.mailbox(ALICE[0], "INBOX").messages]


def test_bdat_chunks_deliver_the_exact_octets(smtp_server: FakeMailServers) -> None:
    client = RawSMTP(smtp_server)
    client.login()
    assert client.send(b"MAIL FROM:<alice@example.test> BODY=BINARYMIME\r\n").startswith(b"250")
    assert client.send(b"RCPT TO:<alice@example.test>\r\n").startswith(b"250")
    first, second = NOTE[:20], NOTE[20:] + b"\x00binary\r\n"
    assert client.send(b"BDAT %d\r\n" % len(first) + first).startswith(b"250")
    # The last chunk and QUIT pipelined in one write, as RFC 3030 allows.
    client.sock.sendall(b"BDAT %d LAST\r\n" % len(second) + second + b"QUIT\r\n")
    assert client.reply().startswith(b"250")
    assert client.reply().startswith(b"221")
    client.close()
    (message,) = smtp_server.store.mailbox(ALICE[0], "INBOX").messages
    assert message.data.endswith(first + second)  # after the trace fields
    assert message.envelope["body"] == "BINARYMIME"


def test_bdat_is_refused_without_a_transaction_and_binarymime_without_bdat(
    smtp_server: FakeMailServers,
) -> None:
    client = RawSMTP(smtp_server)
    client.login()
    assert client.send(b"BDAT 5 LAST\r\nhello").startswith(b"503")
    assert client.send(b"NOOP\r\n").startswith(b"250")  # the 5 octets were not read as a command
    client.send(b"MAIL FROM:<alice@example.test> BODY=BINARYMIME\r\n")
    client.send(b"RCPT TO:<alice@example.test>\r\n")
    assert client.send(b"DATA\r\n").startswith(b"503")
    client.close()
    assert _inbox(smtp_server) == []


def test_a_chunk_over_the_size_limit_is_refused_and_skipped(smtp_server: FakeMailServers) -> None:
    limit = smtp_server.config.limits.max_message_size
    client = RawSMTP(smtp_server)
    client.login()
    client.send(b"MAIL FROM:<alice@example.test>\r\n")
    client.send(b"RCPT TO:<alice@example.test>\r\n")
    size = limit + 1
    client.sock.sendall(b"BDAT %d LAST\r\n" % size)
    block = b"x" * 65536
    for start in range(0, size, len(block)):
        client.sock.sendall(block[: min(len(block), size - start)])
    assert client.reply().startswith(b"552")
    assert client.send(b"NOOP\r\n").startswith(b"250")
    client.close()
    assert _inbox(smtp_server) == []


def test_dsn_and_requiretls_parameters_are_kept_with_the_message(
    smtp_server: FakeMailServers,
) -> None:
    port, context = smtp_server.endpoints["submissions"].port, smtp_server.client_context()
    with smtplib.SMTP_SSL("127.0.0.1", port, context=context) as smtp:
        smtp.login(*ALICE)
        assert smtp.has_extn("dsn") and smtp.has_extn("requiretls")
        smtp.sendmail(
            ALICE[0],
            [ALICE[0], "carol@elsewhere.test"],
            NOTE,
            mail_options=["RET=HDRS", "ENVID=QQ314159", "REQUIRETLS"],
            rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;carol@elsewhere.test"],
        )
    (message,) = smtp_server.store.mailbox(ALICE[0], "INBOX").messages
    assert message.envelope == {
        "body": "7BIT", "ret": "HDRS", "envid": "QQ314159", "requiretls": "yes"
    }  # fmt: skip
    (outgoing,) = smtp_server.store.outbox()
    assert outgoing.per_recipient["carol@elsewhere.test"] == {
        "notify": "FAILURE,SUCCESS",
        "orcpt": "rfc822;carol@elsewhere.test",
    }


@pytest.mark.parametrize(
    ("options", "code"),
    [
        (["RET=ALL"], 501),
        (["ENVID="], 501),
    ],
)
def test_malformed_dsn_parameters_are_refused(
    smtp_server: FakeMailServers, options: list[str], code: int
) -> None:
    port, context = smtp_server.endpoints["submissions"].port, smtp_server.client_context()
    with smtplib.SMTP_SSL("127.0.0.1", port, context=context) as smtp:
        smtp.login(*ALICE)
        assert smtp.mail(ALICE[0], options)[0] == code
        assert smtp.rcpt(ALICE[0], ["NOTIFY=NEVER,SUCCESS"])[0] in (501, 503)


def test_requiretls_is_neither_offered_nor_accepted_in_clear_text(
    smtp_server: FakeMailServers,
) -> None:
    with smtplib.SMTP("127.0.0.1", smtp_server.endpoints["submission"].port) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("requiretls")
        assert smtp.has_extn("chunking") and smtp.has_extn("dsn")


def test_pipelining_after_starttls_is_recorded_as_a_finding(smtp_server: FakeMailServers) -> None:
    port = smtp_server.endpoints["submission"].port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        reader = raw.makefile("rb")
        reader.readline()
        raw.sendall(b"EHLO client\r\n")
        while reader.readline()[3:4] == b"-":
            pass
        raw.sendall(b"STARTTLS\r\nMAIL FROM:<alice@example.test>\r\n")  # must not be pipelined
        assert reader.readline().startswith(b"220")
        reader.close()
    (finding,) = smtp_server.store.client_findings()
    assert "pipelined after STARTTLS" in finding


def test_a_well_behaved_starttls_is_no_finding(smtp_server: FakeMailServers) -> None:
    with smtplib.SMTP("127.0.0.1", smtp_server.endpoints["submission"].port) as smtp:
        smtp.starttls(context=smtp_server.client_context())
        smtp.login(*ALICE)
    assert smtp_server.store.client_findings() == []
