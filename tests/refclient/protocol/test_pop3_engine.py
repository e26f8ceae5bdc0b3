"""The sans-IO POP3 engine: exact dot-unstuffing, response codes, hostile input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refclient.protocol.errors import RemoteProtocolError
from refclient.protocol.pop3 import NEED_DATA, Challenge, POP3Engine, Status


def events(engine: POP3Engine, data: bytes, *, chunk: int) -> list[Status | Challenge]:
    found = []
    for start in range(0, len(data), chunk):
        engine.receive_data(data[start : start + chunk])
        while not isinstance(event := engine.next_event(), type(NEED_DATA)):
            found.append(event)
    return found


def test_retr_is_unstuffed_exactly_whole_and_trickled() -> None:
    wire = b"+OK Gpop ready\r\n+OK 40 octets\r\nSubject: x\r\n\r\n..dot\r\n...two\r\n.\r\n"
    results = []
    for chunk in (len(wire), 1):
        engine = POP3Engine()
        engine.send("RETR 1", multiline=True)
        results.append(events(engine, wire, chunk=chunk))
    assert results[0] == results[1]
    _greeting, retr = results[0]
    assert isinstance(retr, Status) and retr.ok
    assert retr.body == b"Subject: x\r\n\r\n.dot\r\n..two\r\n"


def test_an_empty_listing() -> None:
    engine = POP3Engine()
    engine.send("LIST", multiline=True)
    _greeting, listing = events(engine, b"+OK hi\r\n+OK 0 messages\r\n.\r\n", chunk=1)
    assert isinstance(listing, Status) and listing.body == b""


def test_error_codes_of_rfc_2449() -> None:
    engine = POP3Engine()
    engine.send("PASS x")
    _greeting, failure = events(engine, b"+OK hi\r\n-ERR [IN-USE] locked\r\n", chunk=3)
    assert isinstance(failure, Status) and not failure.ok
    assert (failure.code, failure.text) == ("IN-USE", "locked")


def test_sasl_challenges_only_during_auth() -> None:
    engine = POP3Engine()
    engine.send("AUTH CRAM-MD5")
    _greeting, challenge = events(engine, b"+OK hi\r\n+ PDEyMz4=\r\n", chunk=2)
    assert challenge == Challenge(b"PDEyMz4=")
    other = POP3Engine()
    other.send("STAT")
    with pytest.raises(RemoteProtocolError, match="continuation"):
        events(other, b"+OK hi\r\n+ sneaky\r\n", chunk=100)


def test_a_body_larger_than_the_limit_fails() -> None:
    engine = POP3Engine(max_body=1000)
    engine.send("RETR 1", multiline=True)
    engine.receive_data(b"+OK hi\r\n+OK\r\n")
    engine.next_event()
    with pytest.raises(RemoteProtocolError, match="larger than 1000"):
        for _ in range(20):
            engine.receive_data(b"x" * 98 + b"\r\n")
            assert engine.next_event() is NEED_DATA


def test_closing_mid_body_is_an_error() -> None:
    engine = POP3Engine()
    engine.send("RETR 1", multiline=True)
    engine.receive_data(b"+OK hi\r\n+OK\r\npartial\r\n")
    engine.next_event()
    assert engine.next_event() is NEED_DATA
    engine.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="closed"):
        engine.next_event()


@given(st.lists(st.binary(max_size=20).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))))
def test_any_message_survives_stuffing(lines: list[bytes]) -> None:
    message = b"".join(line + b"\r\n" for line in lines)
    stuffed = b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)
    engine = POP3Engine()
    engine.send("RETR 1", multiline=True)
    found = events(engine, b"+OK\r\n+OK\r\n" + stuffed + b".\r\n", chunk=5)
    assert isinstance(found[1], Status) and found[1].body == message


@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_remote_protocol_errors(data: bytes) -> None:
    for chunk in (len(data) or 1, 1):
        engine = POP3Engine(max_line=200, max_body=300)
        engine.send("RETR 1", multiline=True)
        engine.send("AUTH PLAIN")
        with contextlib.suppress(RemoteProtocolError):
            events(engine, data, chunk=chunk)
