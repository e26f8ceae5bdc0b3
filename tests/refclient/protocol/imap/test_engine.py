"""The sans-IO IMAP engine fed real servers' responses, whole and one byte at a time."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refclient.protocol.errors import LocalProtocolError, RemoteProtocolError
from refclient.protocol.imap import (
    NEED_DATA,
    Atom,
    Continuation,
    IMAPEngine,
    Literal,
    State,
    Tagged,
    Untagged,
    parse_fetch,
)
from refclient.protocol.imap.parser import Response

GMAIL_GREETING = b"* OK Gimap ready for requests from 192.0.2.1 a1b2c3\r\n"
GMAIL_CAPABILITY = (
    b"* CAPABILITY IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 XYZZY "
    b"SASL-IR AUTH=XOAUTH2 AUTH=PLAIN AUTH=PLAIN-CLIENTTOKEN AUTH=OAUTHBEARER AUTH=XOAUTH\r\n"
)
ICLOUD_GREETING = (
    b"* OK [CAPABILITY XAPPLEPUSHSERVICE IMAP4 IMAP4rev1 SASL-IR AUTH=ATOKEN AUTH=PLAIN "
    b"AUTH=ATOKEN2 AUTH=XOAUTH2] iCloud IMAP4 service 123\r\n"
)
EXCHANGE_STATUS = b"* STATUS INBOX (MESSAGES 3 UIDNEXT 12) \r\n"
FETCH_WITH_LITERAL = (
    b'* 12 FETCH (UID 7 FLAGS (\\Seen $Forwarded) INTERNALDATE "17-Jul-1996 02:44:25 -0700" '
    b"RFC822.SIZE 19 BODY[] {19}\r\nSubject: hi\r\n\r\nyo\r\n "
    b'ENVELOPE ("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev1 WG mtg summary" '
    b'(("Terry Gray" NIL "gray" "cac.washington.edu")) NIL NIL '
    b'((NIL NIL "imap" "cac.washington.edu")) NIL NIL NIL "<B27397-0100000@cac>"))\r\n'
)
MULTIPART_BODYSTRUCTURE = (
    b'* 1 FETCH (BODYSTRUCTURE (("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" '
    b'1152 23)("TEXT" "PLAIN" ("CHARSET" "US-ASCII" "NAME" "cc.diff") '
    b'"<960723163407.20117h@cac.washington.edu>" "Compiler diff" "BASE64" 4554 73) '
    b'"MIXED"))\r\n'
)


def events(engine: IMAPEngine, data: bytes, *, chunk: int) -> list[Response]:
    found: list[Response] = []
    for start in range(0, len(data), chunk):
        engine.receive_data(data[start : start + chunk])
        while (event := engine.next_event()) is not NEED_DATA:
            assert not isinstance(event, type(NEED_DATA))
            found.append(event)
    return found


def both_ways(data: bytes, **limits: int) -> list[Response]:
    """The events after a greeting, which must be equal fed whole and one byte at a time."""
    data = b"* OK ready\r\n" + data
    whole = events(IMAPEngine(**limits), data, chunk=len(data))
    trickled = events(IMAPEngine(**limits), data, chunk=1)
    assert whole == trickled
    return whole[1:]


def test_greeting_and_capabilities_of_gmail() -> None:
    engine = IMAPEngine()
    found = events(engine, GMAIL_GREETING + GMAIL_CAPABILITY, chunk=1)
    assert [type(e) for e in found] == [Untagged, Untagged]
    assert engine.state is State.NOT_AUTHENTICATED
    assert {"X-GM-EXT-1", "AUTH=XOAUTH2", "SASL-IR"} <= engine.capabilities


def test_capabilities_in_the_greeting_code_icloud() -> None:
    engine = IMAPEngine()
    (greeting,) = events(engine, ICLOUD_GREETING, chunk=1)
    assert isinstance(greeting, Untagged) and greeting.code is not None
    assert greeting.code.name == "CAPABILITY"
    assert "AUTH=ATOKEN2" in engine.capabilities
    assert greeting.text == "iCloud IMAP4 service 123"


def test_preauth_and_bye_greetings_set_the_state() -> None:
    preauth = IMAPEngine()
    events(preauth, b"* PREAUTH [CAPABILITY IMAP4rev1] welcome\r\n", chunk=4)
    assert preauth.state is State.AUTHENTICATED
    bye = IMAPEngine()
    events(bye, b"* BYE go away\r\n", chunk=4)
    assert bye.state is State.LOGOUT


def test_a_tagged_greeting_is_a_protocol_error() -> None:
    with pytest.raises(RemoteProtocolError, match="greeting"):
        events(IMAPEngine(), b"* FLAGS (\\Seen)\r\n", chunk=1)


def test_fetch_with_a_literal_is_the_same_whole_and_trickled() -> None:
    (fetch,) = both_ways(FETCH_WITH_LITERAL)
    assert isinstance(fetch, Untagged) and fetch.name == "FETCH" and fetch.number == 12
    findings: list = []
    data = parse_fetch(12, fetch.values, findings)
    assert data.uid == 7 and data.flags == ("\\Seen", "$Forwarded") and data.size == 19
    assert data.body() == b"Subject: hi\r\n\r\nyo\r\n"
    assert data.envelope is not None
    assert data.envelope.from_[0].email == "gray@cac.washington.edu"
    assert data.envelope.subject == "IMAP4rev1 WG mtg summary"
    assert data.internal_date is not None and data.internal_date.year == 1996
    assert findings == []


def test_multipart_bodystructure_from_rfc_3501() -> None:
    (fetch,) = both_ways(MULTIPART_BODYSTRUCTURE)
    assert isinstance(fetch, Untagged)
    structure = parse_fetch(1, fetch.values, []).bodystructure
    assert structure is not None and structure.is_multipart and structure.subtype == "mixed"
    text, diff = structure.parts
    assert (text.type, text.subtype, text.size, text.lines) == ("text", "plain", 1152, 23)
    assert diff.parameters == {"charset": "US-ASCII", "name": "cc.diff"}
    assert diff.encoding == "BASE64" and diff.description == "Compiler diff"


def test_exchange_deviations_are_findings_not_failures() -> None:
    (status,) = both_ways(EXCHANGE_STATUS)  # trailing space after ')'
    assert isinstance(status, Untagged) and status.values[0] == "INBOX"
    odd = (
        b'* 1 FETCH (BODYSTRUCTURE ("application" "pdf" NIL NIL NIL "base64" -1 NIL '
        b'"attachment" NIL NIL))\r\n'
    )
    (fetch,) = both_ways(odd)
    assert isinstance(fetch, Untagged)
    findings: list = []
    structure = parse_fetch(1, fetch.values, findings).bodystructure
    assert structure is not None and structure.size == -1
    assert structure.disposition == ("attachment", {})
    assert {f.id for f in findings} == {
        "imap.negative-number",
        "imap.bodystructure-disposition",
    }


def test_tagged_replies_track_state_and_tags() -> None:
    engine = IMAPEngine()
    events(engine, b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n", chunk=64)
    tag, data = engine.send("LOGIN", "user@example.test", "secret")
    assert data == tag.encode() + b" LOGIN user@example.test secret\r\n"
    (reply,) = events(engine, tag.encode() + b" OK [CAPABILITY IMAP4rev1 MOVE] done\r\n", chunk=3)
    assert isinstance(reply, Tagged) and reply.status == "OK"
    assert engine.state is State.AUTHENTICATED
    assert "MOVE" in engine.capabilities
    with pytest.raises(LocalProtocolError, match="selected"):
        engine.send("FETCH", Atom("1"), Atom("FLAGS"))


def test_a_reply_to_an_unknown_tag_is_a_finding() -> None:
    engine = IMAPEngine()
    events(engine, b"* OK ready\r\nZZZ OK what\r\n", chunk=5)
    assert [f.id for f in engine.findings] == ["imap.unknown-tag"]


def test_synchronizing_literals_are_sent_after_the_continuation() -> None:
    engine = IMAPEngine()
    events(engine, b"* OK [CAPABILITY IMAP4rev1] ready\r\nA0000 OK\r\n", chunk=64)
    engine.findings.clear()
    tag, first = engine.send("LOGIN", "user", "p\xe4ss")
    assert first == tag.encode() + b" LOGIN user {5}\r\n"
    assert engine.awaiting_continuation
    (plus,) = events(engine, b"+ go ahead\r\n", chunk=1)
    assert isinstance(plus, Continuation)
    assert engine.continue_command() == "p\xe4ss".encode() + b"\r\n"
    assert not engine.awaiting_continuation


def test_literal_plus_needs_no_continuation() -> None:
    engine = IMAPEngine()
    events(engine, b"* PREAUTH [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n", chunk=64)
    tag, data = engine.send("APPEND", "INBOX", Literal(b"x\r\n"))
    assert data == tag.encode() + b" APPEND INBOX {3+}\r\nx\r\n\r\n"
    assert not engine.awaiting_continuation


def test_bare_lf_is_a_finding() -> None:
    engine = IMAPEngine()
    events(engine, b"* OK ready\n", chunk=1)
    assert [f.id for f in engine.findings] == ["imap.bare-lf"]


# -- hostile servers ---------------------------------------------------------------------


def test_an_endless_line_fails_within_the_limit() -> None:
    engine = IMAPEngine(max_line=1000)
    engine.receive_data(b"* OK ")
    with pytest.raises(RemoteProtocolError, match="longer than 1000"):
        for _ in range(100):
            engine.receive_data(b"x" * 100)
            assert engine.next_event() is NEED_DATA


def test_a_4_gb_literal_fails_at_once() -> None:
    engine = IMAPEngine()
    engine.receive_data(b"* OK ready\r\n* 1 FETCH (BODY[] {4294967296}\r\n")
    assert isinstance(engine.next_event(), Untagged)
    with pytest.raises(RemoteProtocolError, match="4294967296"):
        engine.next_event()


def test_deep_nesting_fails_cleanly() -> None:
    engine = IMAPEngine(max_nesting=100)
    engine.receive_data(b"* OK ready\r\n* 1 FETCH (BODYSTRUCTURE " + b"(" * 10000 + b")" * 10000)
    engine.receive_data(b")\r\n")
    engine.next_event()
    with pytest.raises(RemoteProtocolError, match="nested deeper"):
        engine.next_event()


def test_closing_mid_literal_is_an_error() -> None:
    engine = IMAPEngine()
    engine.receive_data(b"* OK ready\r\n* 1 FETCH (BODY[] {10}\r\nabc")
    engine.next_event()
    assert engine.next_event() is NEED_DATA
    engine.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="closed"):
        engine.next_event()


def test_a_million_untagged_responses_hit_the_limit() -> None:
    engine = IMAPEngine(max_untagged=1000)
    engine.receive_data(b"* OK ready\r\n" + b"* 1 EXISTS\r\n" * 1001)
    with pytest.raises(RemoteProtocolError, match="more than 1000"):
        while engine.next_event() is not NEED_DATA:
            pass


def _drain(engine: IMAPEngine, chunks: Iterable[bytes]) -> None:
    for chunk in chunks:
        engine.receive_data(chunk)
        while engine.next_event() is not NEED_DATA:
            pass


@given(st.binary(max_size=400))
def test_arbitrary_bytes_raise_only_remote_protocol_errors(data: bytes) -> None:
    for chunk in (len(data) or 1, 1):
        engine = IMAPEngine(max_line=200, max_literal=100, max_nesting=10)
        with contextlib.suppress(RemoteProtocolError):
            _drain(engine, [data[i : i + chunk] for i in range(0, len(data), chunk)])


_atoms = st.from_regex(r"[A-Za-z][A-Za-z0-9.\-]{0,8}", fullmatch=True).filter(
    lambda a: a.upper() != "NIL"
)
_strings = st.binary(max_size=30)
_values = st.recursive(
    st.one_of(_atoms, _strings, st.none()),
    lambda children: st.lists(children, max_size=4),
    max_leaves=15,
)


def _encode(value: object) -> bytes:
    if value is None:
        return b"NIL"
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes):
        safe = all(0x20 <= b < 0x7F for b in value)
        if safe:
            return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
        return b"{%d}\r\n" % len(value) + value
    assert isinstance(value, list)
    return b"(" + b" ".join(_encode(item) for item in value) + b")"


@given(st.lists(_values, min_size=1, max_size=5))
def test_generated_responses_round_trip(values: list[object]) -> None:
    line = b"* XDATA " + b" ".join(_encode(v) for v in values) + b"\r\n"
    (event,) = both_ways(line)
    assert isinstance(event, Untagged) and event.name == "XDATA"
    assert event.values == values
