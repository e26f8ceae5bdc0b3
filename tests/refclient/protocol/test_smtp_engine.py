"""The sans-IO SMTP engine: replies whole and byte by byte, EHLO, dot-stuffing, hostile input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refclient.protocol.errors import LocalProtocolError, RemoteProtocolError
from refclient.protocol.smtp import NEED_DATA, Answer, SMTPEngine, parse_ehlo, stuff, unstuff

GMAIL_EHLO = (
    b"250-smtp.gmail.com at your service, [192.0.2.1]\r\n250-SIZE 35882577\r\n"
    b"250-8BITMIME\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n"
    b"250-CHUNKING\r\n250 SMTPUTF8\r\n"
)


def answers(engine: SMTPEngine, data: bytes, *, chunk: int) -> list[Answer]:
    found = []
    for start in range(0, len(data), chunk):
        engine.receive_data(data[start : start + chunk])
        while not isinstance(event := engine.next_event(), type(NEED_DATA)):
            found.append(event)
    return found


def test_greeting_and_ehlo_of_gmail_whole_and_trickled() -> None:
    results = []
    for chunk in (1000, 1):
        engine = SMTPEngine()
        engine.send("EHLO client.example")
        results.append(
            answers(engine, b"220 smtp.gmail.com ESMTP ready\r\n" + GMAIL_EHLO, chunk=chunk)
        )
    assert results[0] == results[1]
    greeting, ehlo = results[0]
    assert greeting.command == "GREETING" and greeting.reply.code == 220
    assert ehlo.command == "EHLO"
    assert parse_ehlo(ehlo.reply) == {
        "SIZE": "35882577",
        "8BITMIME": "",
        "STARTTLS": "",
        "ENHANCEDSTATUSCODES": "",
        "PIPELINING": "",
        "CHUNKING": "",
        "SMTPUTF8": "",
    }


def test_pipelined_replies_pair_with_their_commands_in_order() -> None:
    engine = SMTPEngine()
    for line in ("MAIL FROM:<a@x.test>", "RCPT TO:<b@x.test>", "RCPT TO:<c@x.test>", "DATA"):
        engine.send(line)
    replies = b"220 hi\r\n250 2.1.0 ok\r\n550 5.1.1 No such user\r\n250 2.1.5 ok\r\n354 go\r\n"
    found = answers(engine, replies, chunk=7)
    assert [(a.command, a.reply.code) for a in found] == [
        ("GREETING", 220),
        ("MAIL", 250),
        ("RCPT", 550),
        ("RCPT", 250),
        ("DATA", 354),
    ]
    assert found[2].reply.enhanced == "5.1.1"
    assert engine.replies_due == 0


def test_a_reply_with_changing_codes_is_a_protocol_error() -> None:
    engine = SMTPEngine()
    engine.receive_data(b"220-one\r\n250 two\r\n")
    with pytest.raises(RemoteProtocolError, match="changed"):
        engine.next_event()


def test_an_unsolicited_reply_is_a_protocol_error() -> None:
    engine = SMTPEngine()
    engine.receive_data(b"220 hi\r\n250 what\r\n")
    engine.next_event()
    with pytest.raises(RemoteProtocolError, match="without a command"):
        engine.next_event()


def test_an_endless_line_fails_within_the_limit() -> None:
    engine = SMTPEngine(max_line=1000)
    with pytest.raises(RemoteProtocolError, match="longer than 1000"):
        for _ in range(100):
            engine.receive_data(b"2" * 100)
            assert engine.next_event() is NEED_DATA


def test_bare_lf_is_a_finding() -> None:
    engine = SMTPEngine()
    answers(engine, b"220 hi\n", chunk=1)
    assert [f.id for f in engine.findings] == ["smtp.bare-lf"]


def test_commands_cannot_smuggle_lines() -> None:
    with pytest.raises(LocalProtocolError):
        SMTPEngine().send("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>")


def test_dot_stuffing_of_rfc_5321_examples() -> None:
    assert stuff(b".\r\n..\r\nx\r\n") == b"..\r\n...\r\nx\r\n.\r\n"
    assert stuff(b"no final newline") == b"no final newline\r\n.\r\n"


_lines = st.binary(max_size=20).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


@given(st.lists(_lines, min_size=1))
def test_stuffing_round_trips(lines: list[bytes]) -> None:
    message = b"".join(line + b"\r\n" for line in lines)
    payload = stuff(message)
    wire_lines = payload.split(b"\r\n")
    assert wire_lines[-2:] == [b".", b""]  # the terminator, and only there
    assert b"." not in wire_lines[:-2]
    assert unstuff(payload) == message


@given(st.binary(max_size=300))
def test_arbitrary_replies_raise_only_remote_protocol_errors(data: bytes) -> None:
    for chunk in (len(data) or 1, 1):
        engine = SMTPEngine(max_line=200)
        for _ in range(5):
            engine.send("NOOP")
        with contextlib.suppress(RemoteProtocolError):
            answers(engine, data, chunk=chunk)
