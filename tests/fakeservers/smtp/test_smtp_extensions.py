"""The submission server's service extensions over real sockets, with smtplib and raw lines.

CHUNKING/BDAT and BINARYMIME (RFC 3030), DSN (RFC 3461), REQUIRETLS (RFC
8689), SMTPUTF8 (RFC 6531), SIZE (RFC 1870) and the pipelining checks (RFC
2920, RFC 3207). smtplib has no BDAT, so chunks go out as raw lines.
"""

from __future__ import annotations

import poplib
import smtplib
from collections.abc import Iterator

import pytest

from fakeservers.config import Limits, ServerConfig
from fakeservers.controller import ENDPOINTS, AccountSpec, FakeMailServers
from fakeservers.pki import TestPKI
from fakeservers.smtp import strip_trace_headers
from fakeservers.smtp.parameters import (
    ParameterError,
    decode_xtext,
    parse_mail_parameters,
    parse_rcpt_parameters,
)
from fakeservers.smtp.record import submission_record
from tests.fakeservers.smtp.test_smtp_raw import SmtpWire

ALICE = "alice@example.test"
BOB = "bob@example.test"
JOSE = "josé@example.test"
OFFERED = frozenset({"SIZE", "8BITMIME", "SMTPUTF8", "CHUNKING", "BINARYMIME", "DSN", "AUTH"})


@pytest.fixture
def wire(smtp_server: FakeMailServers) -> Iterator[SmtpWire]:
    connection = SmtpWire(smtp_server, "submissions")
    connection.login()
    yield connection
    connection.close()


def bob_inbox(servers: FakeMailServers) -> list[bytes]:
    return [strip_trace_headers(m.data) for m in servers.store.mailbox(BOB, "INBOX").messages]


# -- EHLO ------------------------------------------------------------------------------


def test_extensions_offered_under_tls_and_requiretls_only_there(
    smtp_server: FakeMailServers,
) -> None:
    client = smtplib.SMTP(smtp_server.host, smtp_server.endpoints["submission"].port, timeout=5)
    client.ehlo()
    for keyword in ("chunking", "binarymime", "dsn", "size", "smtputf8"):
        assert client.has_extn(keyword)
    assert not client.has_extn("requiretls")  # RFC 8689 section 4: only under TLS
    client.starttls(context=smtp_server.client_context())
    client.ehlo()
    assert client.has_extn("requiretls")
    client.quit()


# -- BDAT (RFC 3030) -------------------------------------------------------------------


def test_bdat_chunks_deliver_binary_bytes_exactly(
    smtp_server: FakeMailServers, wire: SmtpWire
) -> None:
    message = b"Subject: binary\r\nContent-Type: application/octet-stream\r\n\r\n\x00\r\x01\n.\r\n"
    first, second = message[:20], message[20:]
    assert wire.command(f"MAIL FROM:<{ALICE}> BODY=BINARYMIME").startswith(b"250 ")
    assert wire.command(f"RCPT TO:<{BOB}>").startswith(b"250 ")
    wire.send(f"BDAT {len(first)}\r\n".encode() + first)
    assert wire.reply() == b"250 2.0.0 20 octets received\r\n"
    wire.send(f"BDAT {len(second)} LAST\r\n".encode() + second)
    assert wire.reply().startswith(b"250 2.6.0 ")
    assert bob_inbox(smtp_server) == [message]
    (transaction,) = submission_record(smtp_server.store).transactions
    assert transaction.chunked and transaction.parameters.body == "BINARYMIME"
    assert transaction.size == len(message) and transaction.tls


def test_pipelined_bdat_and_empty_last_chunk(smtp_server: FakeMailServers, wire: SmtpWire) -> None:
    message = b"Subject: pipelined\r\n\r\nbody\r\n"
    wire.send(
        f"MAIL FROM:<{ALICE}>\r\nRCPT TO:<{BOB}>\r\nBDAT {len(message)}\r\n".encode()
        + message
        + b"BDAT 0 LAST\r\n"
    )
    replies = [wire.reply() for _ in range(4)]
    assert [r[:3] for r in replies] == [b"250"] * 4
    assert bob_inbox(smtp_server) == [message]
    assert submission_record(smtp_server.store).findings == []  # BDAT may be pipelined


@pytest.mark.parametrize("piece", [1, 7, 70_000])
def test_a_bdat_chunk_in_any_writes_ends_at_its_size(
    smtp_server: FakeMailServers, wire: SmtpWire, piece: int
) -> None:
    message = b"Subject: chunk\r\n\r\n" + bytes(range(256)) * 600  # 150 KiB, any octets
    assert wire.command(f"MAIL FROM:<{ALICE}> BODY=BINARYMIME").startswith(b"250 ")
    assert wire.command(f"RCPT TO:<{BOB}>").startswith(b"250 ")
    wire.send(f"BDAT {len(message)} LAST\r\n".encode())
    rest = message + b"NOOP\r\n"  # the next command right behind the chunk
    for at in range(0, len(rest), piece):
        wire.send(rest[at : at + piece])
    assert wire.reply().startswith(b"250 2.6.0 ")
    assert wire.reply() == b"250 2.0.0 OK\r\n"
    assert bob_inbox(smtp_server) == [message]


def test_a_client_leaving_inside_a_chunk_delivers_nothing(smtp_server: FakeMailServers) -> None:
    for _ in range(2):
        leaving = SmtpWire(smtp_server, "submissions")
        leaving.login()
        assert leaving.command(f"MAIL FROM:<{ALICE}>").startswith(b"250 ")
        assert leaving.command(f"RCPT TO:<{BOB}>").startswith(b"250 ")
        leaving.send(b"BDAT 100000 LAST\r\n" + b"x" * 50_000)
        leaving.close()
    steady = SmtpWire(smtp_server, "submissions")
    steady.login()
    assert steady.command("NOOP") == b"250 2.0.0 OK\r\n"
    steady.close()
    assert bob_inbox(smtp_server) == []
    assert submission_record(smtp_server.store).transactions == []


def test_bdat_without_transaction_is_refused_and_its_chunk_consumed(
    smtp_server: FakeMailServers, wire: SmtpWire
) -> None:
    wire.send(b"BDAT 6 LAST\r\nNOOP\r\n")  # the chunk happens to look like a command
    assert wire.reply().startswith(b"503 5.5.1 ")
    assert wire.command("NOOP") == b"250 2.0.0 OK\r\n"  # the chunk was not read as NOOP
    assert wire.command("BDAT x").startswith(b"501 5.5.4 ")
    assert bob_inbox(smtp_server) == []


def test_data_refused_after_bdat_and_for_binarymime(wire: SmtpWire) -> None:
    assert wire.command(f"MAIL FROM:<{ALICE}>").startswith(b"250 ")
    assert wire.command(f"RCPT TO:<{BOB}>").startswith(b"250 ")
    wire.send(b"BDAT 3\r\nabc")
    assert wire.reply().startswith(b"250 ")
    assert wire.command("DATA").startswith(b"503 5.5.1 ")
    assert wire.command("RSET").startswith(b"250 ")
    assert wire.command(f"MAIL FROM:<{ALICE}> BODY=BINARYMIME").startswith(b"250 ")
    assert wire.command(f"RCPT TO:<{BOB}>").startswith(b"250 ")
    assert wire.command("DATA").startswith(b"503 5.5.1 ")


def test_bdat_over_the_size_limit_fails_the_transaction(mail_pki: TestPKI) -> None:
    ports = {spec.name: (0 if spec.protocol == "smtp" else None) for spec in ENDPOINTS}
    config = ServerConfig(limits=Limits(max_message_size=100))
    with FakeMailServers(ports=ports, pki=mail_pki, config=config) as servers:
        wire = SmtpWire(servers, "submissions")
        wire.login()
        assert wire.command(f"MAIL FROM:<{ALICE}> SIZE=101").startswith(b"552 5.3.4 ")
        assert wire.command(f"MAIL FROM:<{ALICE}> SIZE=ten").startswith(b"501 5.5.4 ")
        assert wire.command(f"MAIL FROM:<{ALICE}> SIZE=100").startswith(b"250 ")
        assert wire.command(f"RCPT TO:<{BOB}>").startswith(b"250 ")
        wire.send(b"BDAT 60\r\n" + b"a" * 60)
        assert wire.reply().startswith(b"250 ")
        wire.send(b"BDAT 60\r\n" + b"b" * 60)
        assert wire.reply().startswith(b"552 5.3.4 ")
        wire.send(b"BDAT 1 LAST\r\nc")
        assert wire.reply().startswith(b"503 5.5.1 ")
        assert wire.command("NOOP").startswith(b"250 ")
        assert bob_inbox(servers) == []
        wire.close()


# -- DSN (RFC 3461) --------------------------------------------------------------------


def test_dsn_parameters_are_stored_with_the_delivery(smtp_server: FakeMailServers) -> None:
    client = smtplib.SMTP_SSL(
        smtp_server.host,
        smtp_server.endpoints["submissions"].port,
        context=smtp_server.client_context(),
        timeout=5,
    )
    client.login(ALICE, "alice-pass")
    client.sendmail(
        ALICE,
        [BOB],
        b"Subject: dsn\r\n\r\nhello\r\n",
        mail_options=["RET=HDRS", "ENVID=QQ+2B1"],
        rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;bob+40example.test"],
    )
    client.quit()
    (transaction,) = submission_record(smtp_server.store).transactions
    assert transaction.parameters.ret == "HDRS" and transaction.parameters.envid == "QQ+1"
    (recipient,) = transaction.recipients
    assert recipient.notify == ("SUCCESS", "FAILURE")
    assert recipient.orcpt == ("rfc822", BOB)
    ((user, uid),) = transaction.delivered
    assert smtp_server.store.mailbox(user, "INBOX").by_uid(uid) is not None


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        (f"MAIL FROM:<{ALICE}> RET=BOGUS", b"501 5.5.4 "),
        (f"MAIL FROM:<{ALICE}> ENVID={'x' * 101}", b"501 5.5.4 "),
        (f"MAIL FROM:<{ALICE}> ENVID=a+zz", b"501 5.5.4 "),
        (f"MAIL FROM:<{ALICE}> RET=FULL RET=HDRS", b"501 5.5.4 "),
        (f"MAIL FROM:<{ALICE}> REQUIRETLS=yes", b"501 5.5.4 "),
        (f"MAIL FROM:<{ALICE}> XFOO=1", b"555 5.5.4 "),
        (f"MAIL FROM:<{ALICE}> BODY=QUANTUM", b"501 5.5.4 "),
    ],
)
def test_malformed_mail_parameters_are_refused(wire: SmtpWire, command: str, reply: bytes) -> None:
    assert wire.command(command).startswith(reply)
    assert wire.command(f"MAIL FROM:<{ALICE}>").startswith(b"250 ")  # no transaction began


@pytest.mark.parametrize(
    "parameters",
    ["NOTIFY=NEVER,SUCCESS", "NOTIFY=SOMETIMES", "ORCPT=bob@example.test", "ORCPT=;x", "XFOO"],
)
def test_malformed_rcpt_parameters_are_refused(
    smtp_server: FakeMailServers, wire: SmtpWire, parameters: str
) -> None:
    assert wire.command(f"MAIL FROM:<{ALICE}>").startswith(b"250 ")
    assert wire.command(f"RCPT TO:<{BOB}> {parameters}")[:1] == b"5"
    assert wire.command("DATA").startswith(b"503 ")  # the recipient was not taken


# -- REQUIRETLS (RFC 8689) -------------------------------------------------------------


def test_requiretls_is_accepted_under_tls_and_recorded(
    smtp_server: FakeMailServers, wire: SmtpWire
) -> None:
    assert wire.command(f"MAIL FROM:<{ALICE}> REQUIRETLS").startswith(b"250 ")
    assert wire.command(f"RCPT TO:<{BOB}>").startswith(b"250 ")
    assert wire.command("RCPT TO:<someone@elsewhere.test>").startswith(b"250 ")
    assert wire.command("DATA").startswith(b"354 ")
    assert wire.command("Subject: tls\r\n\r\nsecret\r\n.").startswith(b"250 ")
    (transaction,) = submission_record(smtp_server.store).transactions
    assert transaction.parameters.requiretls and transaction.tls
    assert transaction.outgoing == ("someone@elsewhere.test",)


def test_requiretls_not_offered_is_an_unknown_parameter() -> None:
    assert parse_mail_parameters(
        ["REQUIRETLS"], offered=OFFERED | {"REQUIRETLS"}, size_limit=None
    ).requiretls
    with pytest.raises(ParameterError, match=r"^555 "):
        parse_mail_parameters(["REQUIRETLS"], offered=OFFERED, size_limit=None)


# -- parameters, as functions ----------------------------------------------------------


def test_xtext_and_orcpt_decoding() -> None:
    assert decode_xtext("a+2Bb+3Dc") == "a+b=c"
    with pytest.raises(ValueError):
        decode_xtext("a=b")
    recipient = parse_rcpt_parameters(
        BOB, ["ORCPT=utf-8;jos\\x{E9}@example.test"], offered=OFFERED, smtputf8=False
    )
    assert recipient.orcpt == ("utf-8", JOSE)
    with pytest.raises(ParameterError):  # raw UTF-8 only in an SMTPUTF8 transaction
        parse_rcpt_parameters(BOB, [f"ORCPT=utf-8;{JOSE}"], offered=OFFERED, smtputf8=False)
    assert parse_rcpt_parameters(
        BOB, [f"ORCPT=utf-8;{JOSE}"], offered=OFFERED, smtputf8=True
    ).orcpt == ("utf-8", JOSE)


def test_binarymime_needs_chunking() -> None:
    assert parse_mail_parameters(["BODY=binarymime"], offered=OFFERED, size_limit=None).body == (
        "BINARYMIME"
    )
    with pytest.raises(ParameterError):
        parse_mail_parameters(["BODY=BINARYMIME"], offered=OFFERED - {"CHUNKING"}, size_limit=None)


# -- SMTPUTF8 (RFC 6531) ---------------------------------------------------------------


@pytest.fixture
def utf8_servers(mail_pki: TestPKI) -> Iterator[FakeMailServers]:
    ports = {spec.name: (0 if spec.protocol in ("smtp", "pop3") else None) for spec in ENDPOINTS}
    accounts = (AccountSpec.parse("alice@example.test:alice-pass"), AccountSpec(JOSE, "clé", JOSE))
    with FakeMailServers(ports=ports, pki=mail_pki, accounts=accounts) as servers:
        yield servers


def test_utf8_addresses_and_headers_end_to_end(utf8_servers: FakeMailServers) -> None:
    message = f"From: {ALICE}\r\nTo: {JOSE}\r\nSubject: Grüße\r\n\r\nHallo\r\n".encode()
    client = smtplib.SMTP_SSL(
        utf8_servers.host,
        utf8_servers.endpoints["submissions"].port,
        context=utf8_servers.client_context(),
        timeout=5,
    )
    client.login(ALICE, "alice-pass")
    client.command_encoding = "utf-8"  # smtplib would refuse to send it at all
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:  # no SMTPUTF8 parameter
        client.sendmail(JOSE, [ALICE], message)
    assert refused.value.smtp_code == 553
    client.rset()
    client.sendmail(ALICE, [JOSE], message, mail_options=["SMTPUTF8"])
    client.quit()
    pop = poplib.POP3_SSL(
        utf8_servers.host,
        utf8_servers.endpoints["pop3s"].port,
        context=utf8_servers.client_context(),
        timeout=5,
    )
    assert pop.utf8().startswith(b"+OK")
    pop.user(JOSE)
    pop.pass_("clé")
    _, lines, _ = pop.retr(1)
    pop.quit()
    assert strip_trace_headers(b"\r\n".join(lines) + b"\r\n") == message
    (transaction,) = submission_record(utf8_servers.store).transactions
    assert transaction.parameters.smtputf8


# -- pipelining where it is not allowed (RFC 2920, RFC 3207) ---------------------------


def test_commands_before_the_ehlo_reply_are_a_finding(smtp_server: FakeMailServers) -> None:
    wire = SmtpWire(smtp_server, "submissions")
    wire.send(b"EHLO client.test\r\nNOOP\r\n")
    assert wire.reply().startswith(b"250-")
    assert wire.reply().startswith(b"250 ")  # served anyway
    wire.close()
    (finding,) = submission_record(smtp_server.store).findings
    assert finding.id == "smtp.client.pipelined-before-ehlo-reply"
    assert finding.line == b"NOOP\r\n"


def test_waiting_for_each_reply_is_no_finding(smtp_server: FakeMailServers) -> None:
    wire = SmtpWire(smtp_server, "submission")
    wire.command("EHLO client.test")
    assert wire.command("STARTTLS").startswith(b"220 ")
    wire.starttls()
    wire.command("EHLO client.test")
    wire.command("QUIT")
    wire.close()
    assert submission_record(smtp_server.store).findings == []


def test_commands_after_starttls_are_a_finding(smtp_server: FakeMailServers) -> None:
    wire = SmtpWire(smtp_server, "submission")
    wire.command("EHLO client.test")
    wire.send(b"STARTTLS\r\nMAIL FROM:<x@y.test>\r\n")
    assert wire.reply().startswith(b"220 ")
    wire.starttls()
    assert wire.command("EHLO client.test").startswith(b"250-")  # the injection was dropped
    wire.close()
    (finding,) = submission_record(smtp_server.store).findings
    assert finding.id == "smtp.client.pipelined-after-starttls"
    assert finding.reference.startswith("RFC 3207")


def test_message_before_the_354_reply_is_a_finding(
    smtp_server: FakeMailServers, wire: SmtpWire
) -> None:
    wire.send(
        f"MAIL FROM:<{ALICE}>\r\nRCPT TO:<{BOB}>\r\nDATA\r\nSubject: x\r\n\r\nx\r\n.\r\n".encode()
    )
    assert [wire.reply()[:3] for _ in range(4)] == [b"250", b"250", b"354", b"250"]
    (finding,) = submission_record(smtp_server.store).findings
    assert finding.id == "smtp.client.pipelined-after-data"
