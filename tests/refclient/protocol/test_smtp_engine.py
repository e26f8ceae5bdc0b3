"""The sans-IO SMTP engine: replies whole and byte by byte, EHLO, dot-stuffing, hostile input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refclient.protocol.errors import LocalProtocolError, RemoteProtocolError
from refclient.protocol.smtp import NEED_DATA, Answer, SMTPEngine, parse_ehlo, stuff, unstuff
from refclient.protocol.smtp.data import stuffed_pieces

GMAIL_EHLO = (
    b"250-smtp.gmail.com at your service, [192.0.2.1]\r\n250-SIZE 35882577\r\n"
    b"250-8BITMIME\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n"
    b"250-CHUNKING\r\n250 SMTPUTF8\r\n"
)


def answers(engine: SMTPEngine, data: bytes, *, chunk: int) -> list[Answer]:
    found = []
    for start in range(0, len(data), chunk):
        engine.receive_data(data[start : start + chunk])
        while isinstance(event := engine.next_event(), Answer):
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


_OCTETS = st.lists(
    st.sampled_from([b"\r\n", b".", b"..", b"a", b"\r", b"\n", b".\r\n", b"\r\n."]), max_size=40
).map(b"".join)


@given(_OCTETS, st.integers(min_value=1, max_value=12))
def test_stuffed_pieces_are_the_stuffed_message_however_it_is_cut(
    message: bytes, piece_size: int
) -> None:
    assert b"".join(stuffed_pieces(message, piece_size)) == stuff(message)


def test_pieces_are_cut_after_line_ends_and_only_dotted_ones_change() -> None:
    lines = [b"line %d\r\n" % n for n in range(40)]
    lines[10] = b".dot\r\n"
    message = b"".join(lines)
    pieces = list(stuffed_pieces(message, 30))
    assert len(pieces) > 1 and all(piece.endswith(b"\n") for piece in pieces)
    body = b"".join(pieces).removesuffix(b".\r\n")  # the terminator ends the last piece
    assert body != message  # the dot line was doubled...
    assert body.replace(b"\r\n..", b"\r\n.") == message  # ...and nothing else
    plain = message.replace(b".dot", b"xdot")
    assert b"".join(stuffed_pieces(plain, 30)) == plain + b".\r\n"


def test_a_small_message_is_one_piece_and_an_empty_one_an_empty_line() -> None:
    assert list(stuffed_pieces(b"Subject: x\r\n\r\n.\r\n")) == [b"Subject: x\r\n\r\n..\r\n.\r\n"]
    assert list(stuffed_pieces(b"")) == [b"\r\n.\r\n"]


def test_data_pieces_expect_one_reply() -> None:
    engine = SMTPEngine()
    engine.receive_data(b"220 ready\r\n")
    assert isinstance(engine.next_event(), Answer)
    assert b"".join(engine.send_data_pieces(b".x\r\n")) == b"..x\r\n.\r\n"
    assert engine.replies_due == 1
    engine.receive_data(b"250 ok\r\n")
    event = engine.next_event()
    assert isinstance(event, Answer) and event.command == "DATA-END"
    assert engine.next_event() is NEED_DATA


@given(st.binary(max_size=300))
def test_arbitrary_replies_raise_only_remote_protocol_errors(data: bytes) -> None:
    for chunk in (len(data) or 1, 1):
        engine = SMTPEngine(max_line=200)
        for _ in range(5):
            engine.send("NOOP")
        with contextlib.suppress(RemoteProtocolError):
            answers(engine, data, chunk=chunk)
