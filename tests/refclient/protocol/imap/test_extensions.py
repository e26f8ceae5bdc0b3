"""The engine and the typed converters on extension responses, whole and one byte at a time."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refclient.protocol.errors import RemoteProtocolError
from refclient.protocol.imap import Atom, IMAPEngine, Literal, Tagged, Untagged
from refclient.protocol.imap.commands import encode_command, sequence_set
from refclient.protocol.imap.engine import NeedData
from refclient.protocol.imap.extensions import (
    parse_copyuid,
    parse_esearch,
    parse_list,
    parse_object_id,
    parse_quota,
    parse_quotaroot,
    parse_status,
    parse_uid_set,
    parse_vanished,
)
from refclient.protocol.imap.parser import Response
from refclient.protocol.imap.structures import parse_fetch
from refclient.transport.compress import Deflate, DeflateError

GREETING = b"* OK [CAPABILITY IMAP4rev1 ENABLE CONDSTORE QRESYNC UTF8=ACCEPT] ready\r\n"


def _engine() -> IMAPEngine:
    engine = IMAPEngine()
    engine.receive_data(GREETING)
    assert isinstance(engine.next_event(), Untagged)
    return engine


def _events(engine: IMAPEngine, data: bytes, *, chunk: int) -> list[Response]:
    found: list[Response] = []
    for start in range(0, len(data), chunk):
        engine.receive_data(data[start : start + chunk])
        while not isinstance(event := engine.next_event(), NeedData):
            found.append(event)
    return found


def parse_both_ways(data: bytes) -> list[Response]:
    """The events of ``data`` fed whole and one byte at a time; they must be equal."""
    whole = _events(_engine(), data, chunk=len(data))
    trickled = _events(_engine(), data, chunk=1)
    assert whole == trickled
    return whole


def one(data: bytes) -> Untagged:
    [event] = parse_both_ways(data)
    assert isinstance(event, Untagged)
    return event


# -- literal8 (RFC 3516) -------------------------------------------------------------------


def test_binary_literal8_is_a_string_whole_and_trickled() -> None:
    payload = b"\x00\x01\r\n\xff"
    event = one(b"* 3 FETCH (UID 3 BINARY[2] ~{5}\r\n" + payload + b" BINARY.SIZE[2] 5)\r\n")
    data = parse_fetch(3, event.values, [])
    assert data.binary("2") == payload and data.binary_sizes == {"2": 5}
    with pytest.raises(KeyError):
        data.binary("1")


def test_a_tilde_not_before_a_literal_stays_an_atom() -> None:
    event = one(b'* LIST () "/" ~home\r\n')
    assert event.values == [[], b"/", "~home"]


def test_literal8_and_utf8_append_are_encoded() -> None:
    chunks = encode_command(
        "A1",
        "APPEND",
        ["INBOX", Atom("UTF8"), [Literal(b"\x00x", binary=True)]],
        non_sync_limit=2**63,
    )
    assert chunks == [b"A1 APPEND INBOX UTF8 (~{2+}\r\n\x00x)\r\n"]
    chunks = encode_command("A1", "APPEND", ["INBOX", Literal(b"ab", binary=True)])
    assert chunks == [b"A1 APPEND INBOX ~{2}\r\n", b"ab\r\n"]


# -- ENABLE (RFC 5161) -----------------------------------------------------------------------


def test_enabled_is_tracked_and_qresync_implies_condstore() -> None:
    engine = _engine()
    engine.send("ENABLE", Atom("QRESYNC"), Atom("UTF8=ACCEPT"))
    events = _events(engine, b"* ENABLED QRESYNC UTF8=ACCEPT\r\nA0001 OK done\r\n", chunk=1)
    assert isinstance(events[-1], Tagged)
    assert engine.enabled == {"QRESYNC", "CONDSTORE", "UTF8=ACCEPT"}
    assert engine.utf8_accept and not engine.rev2
    assert engine.findings == []


def test_enabled_without_enable_or_unadvertised_is_a_finding() -> None:
    engine = _engine()
    _events(engine, b"* ENABLED CONDSTORE\r\n", chunk=1)
    assert engine.enabled == frozenset()
    engine.send("ENABLE", Atom("X-OTHER"))
    _events(engine, b"* ENABLED X-OTHER\r\nA0001 OK done\r\n", chunk=1)
    assert [f.id for f in engine.findings] == [
        "imap.unsolicited-enabled",
        "imap.enabled-not-advertised",
    ]


# -- UID sets, COPYUID, VANISHED ---------------------------------------------------------------


def test_uid_sets_expand_in_order() -> None:
    assert parse_uid_set("3,5:7,10:9") == [3, 5, 6, 7, 9, 10]


@pytest.mark.parametrize("bad", ["", "1:*", "0", "1,,2", "a", "1:2:3", "-1"])
def test_malformed_uid_sets_are_errors(bad: str) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_uid_set(bad)


def test_a_huge_uid_range_is_refused_before_expanding() -> None:
    with pytest.raises(RemoteProtocolError, match="more than"):
        parse_uid_set("1:4294967295")


@given(st.sets(st.integers(min_value=1, max_value=5000), min_size=1, max_size=50))
def test_sequence_sets_round_trip(uids: set[int]) -> None:
    assert parse_uid_set(sequence_set(uids)) == sorted(uids)


def test_copyuid_of_a_move_whole_and_trickled() -> None:
    event = one(b"* OK [COPYUID 38505 304,319:320 3956:3958] Moved\r\n")
    assert event.code is not None
    copied = parse_copyuid(event.code)
    assert copied.uidvalidity == 38505
    assert copied.mapping == {304: 3956, 319: 3957, 320: 3958}


def test_copyuid_with_sets_of_different_sizes_is_an_error() -> None:
    event = one(b"* OK [COPYUID 38505 304,319 3956] Moved\r\n")
    assert event.code is not None
    with pytest.raises(RemoteProtocolError, match="different sizes"):
        parse_copyuid(event.code)


def test_vanished_and_vanished_earlier() -> None:
    assert parse_vanished(one(b"* VANISHED 405,411\r\n")).uids == (405, 411)
    earlier = parse_vanished(one(b"* VANISHED (EARLIER) 300:302,405\r\n"))
    assert earlier.earlier and earlier.uids == (300, 301, 302, 405)


@pytest.mark.parametrize(
    "bad", [b"* VANISHED\r\n", b"* VANISHED (EARLIER)\r\n", b"* VANISHED 1 2\r\n"]
)
def test_malformed_vanished_is_an_error(bad: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_vanished(one(bad))


# -- CONDSTORE FETCH and codes ------------------------------------------------------------------


def test_modseq_and_modified_code() -> None:
    data = parse_fetch(1, one(b"* 1 FETCH (UID 4 MODSEQ (12121231000) FLAGS ())\r\n").values, [])
    assert data.modseq == 12121231000 and data.uid == 4
    engine = _engine()
    engine.send_raw(b"UID STORE 7,9 (UNCHANGEDSINCE 5) +FLAGS.SILENT (\\Seen)")
    [tagged] = _events(engine, b"A0001 OK [MODIFIED 7,9] Conditional STORE failed\r\n", chunk=1)
    assert isinstance(tagged, Tagged) and tagged.code is not None
    assert parse_uid_set(str(tagged.code.values[0])) == [7, 9]


def test_a_modseq_that_is_not_a_number_is_an_error() -> None:
    with pytest.raises(RemoteProtocolError):
        parse_fetch(1, one(b"* 1 FETCH (MODSEQ (x))\r\n").values, [])


# -- ESEARCH (RFC 4731) -------------------------------------------------------------------------


def test_esearch_with_correlator_uid_and_items() -> None:
    found = parse_esearch(one(b'* ESEARCH (TAG "A282") UID MIN 2 COUNT 3 ALL 2,10:11\r\n'))
    assert (found.tag, found.uid, found.min, found.max, found.count) == ("A282", True, 2, None, 3)
    assert found.all == (2, 10, 11)
    assert parse_esearch(one(b"* ESEARCH\r\n")).all is None


@pytest.mark.parametrize(
    "bad", [b"* ESEARCH (TAG) COUNT 1\r\n", b"* ESEARCH COUNT\r\n", b"* ESEARCH COUNT x\r\n"]
)
def test_malformed_esearch_is_an_error(bad: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_esearch(one(bad))


# -- LIST-EXTENDED, STATUS, QUOTA, OBJECTID, Gmail ----------------------------------------------


def test_list_extended_data_and_status() -> None:
    listed = parse_list(
        one(b'* LIST (\\HasChildren \\Subscribed) "/" "Foo" ("CHILDINFO" ("SUBSCRIBED"))\r\n')
    )
    assert listed.childinfo == ("SUBSCRIBED",) and "\\Subscribed" in listed.attributes
    name, items = parse_status(one(b"* STATUS {5}\r\nINBOX (MESSAGES 3 MAILBOXID (F1a))\r\n"))
    assert name == b"INBOX" and items["MESSAGES"] == "3"
    assert parse_object_id(items["MAILBOXID"]) == "F1a"


@pytest.mark.parametrize("bad", [b'* LIST () "/"\r\n', b"* STATUS INBOX (MESSAGES)\r\n"])
def test_malformed_list_and_status_are_errors(bad: bytes) -> None:
    event = one(bad)
    with pytest.raises(RemoteProtocolError):
        (parse_list if event.name == "LIST" else parse_status)(event)


def test_quota_and_quotaroot() -> None:
    root, resources = parse_quota(one(b'* QUOTA "" (STORAGE 10 512 MESSAGE 1 100)\r\n'))
    assert root == "" and resources["STORAGE"].limit == 512 and resources["MESSAGE"].usage == 1
    assert parse_quotaroot(one(b'* QUOTAROOT INBOX ""\r\n')) == ("INBOX", ("",))
    with pytest.raises(RemoteProtocolError):
        parse_quota(one(b'* QUOTA "" (STORAGE 10)\r\n'))


def test_objectid_and_gmail_fetch_items() -> None:
    event = one(
        b"* 1 FETCH (UID 1 EMAILID (M6d99ac3275bb4e) THREADID NIL X-GM-MSGID 1278455344230334865 "
        b'X-GM-THRID 1278455344230334865 X-GM-LABELS (\\Inbox "&AMQ-rger" Work))\r\n'
    )
    data = parse_fetch(1, event.values, [])
    assert data.email_id == "M6d99ac3275bb4e" and data.thread_id is None
    assert data.gm_msgid == data.gm_thrid == 1278455344230334865
    assert data.gm_labels == ("\\Inbox", "Ärger", "Work")


@pytest.mark.parametrize(
    "bad",
    [
        b"* 1 FETCH (EMAILID ())\r\n",
        b"* 1 FETCH (X-GM-LABELS ((a)))\r\n",
        b"* 1 FETCH (X-GM-MSGID x)\r\n",
    ],
)
def test_malformed_objectid_and_gmail_items_are_errors(bad: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_fetch(1, one(bad).values, [])


@pytest.mark.parametrize("bad", [[], ["a", "b"], ["bad id!"], [None]])
def test_malformed_object_ids_are_errors(bad: list[str | None]) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_object_id(list(bad))


# -- properties: nothing but RemoteProtocolError from any extension response --------------------

_PREFIXES = [
    b"* VANISHED ",
    b"* VANISHED (EARLIER) ",
    b"* ESEARCH ",
    b'* ESEARCH (TAG "A1") UID ',
    b"* LIST ",
    b"* STATUS ",
    b"* QUOTA ",
    b"* QUOTAROOT ",
    b"* OK [COPYUID ",
    b"* 1 FETCH (",
]
_CONVERTERS = {
    "VANISHED": parse_vanished,
    "ESEARCH": parse_esearch,
    "LIST": parse_list,
    "STATUS": parse_status,
    "QUOTA": parse_quota,
    "QUOTAROOT": parse_quotaroot,
}


@given(
    st.sampled_from(_PREFIXES),
    st.binary(max_size=60).filter(lambda b: b"\n" not in b and b"{" not in b),
)
def test_extension_responses_raise_only_remote_protocol_errors(prefix: bytes, rest: bytes) -> None:
    data = prefix + rest + b"\r\n"
    try:
        events = parse_both_ways(data)
        for event in events:
            if not isinstance(event, Untagged):
                continue
            if event.name in _CONVERTERS:
                _CONVERTERS[event.name](event)
            elif event.name == "FETCH":
                parse_fetch(1, event.values, [])
            elif event.code is not None and event.code.name == "COPYUID":
                parse_copyuid(event.code)
    except RemoteProtocolError:
        pass


@given(
    st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=20),
    st.booleans(),
)
def test_generated_vanished_round_trips(uids: list[int], earlier: bool) -> None:
    written = sequence_set(uids)
    line = b"* VANISHED " + (b"(EARLIER) " if earlier else b"") + written.encode() + b"\r\n"
    vanished = parse_vanished(one(line))
    assert vanished.uids == tuple(sorted(set(uids))) and vanished.earlier == earlier


@given(
    st.dictionaries(
        st.sampled_from(["MIN", "MAX", "COUNT", "MODSEQ"]),
        st.integers(min_value=0, max_value=2**63 - 1),
    )
)
def test_generated_esearch_round_trips(items: dict[str, int]) -> None:
    written = b" ".join(b"%s %d" % (key.encode(), value) for key, value in items.items())
    found = parse_esearch(one(b"* ESEARCH UID " + written + b"\r\n"))
    assert {key: getattr(found, key.lower()) for key in items} == items


# -- COMPRESS=DEFLATE (RFC 4978) ----------------------------------------------------------------


@given(st.lists(st.binary(max_size=300), max_size=8))
def test_deflate_round_trips_each_burst_at_once(bursts: list[bytes]) -> None:
    sender, receiver = Deflate(), Deflate()
    for burst in bursts:
        # Sync flush: each burst decodes completely, with nothing held back.
        assert receiver.decompress(sender.compress(burst)) == burst


def test_inflating_is_bounded_per_call() -> None:
    receiver = Deflate(chunk=1000)
    bomb = Deflate().compress(b"\x00" * 50_000)
    first = receiver.decompress(bomb)
    assert len(first) == 1000 and receiver.pending
    total = len(first)
    while receiver.pending:
        total += len(receiver.decompress(b""))
    assert total == 50_000


def test_a_corrupt_or_finished_deflate_stream_is_an_error() -> None:
    with pytest.raises(DeflateError):
        Deflate().decompress(b"\xff\xff\xff\xff")
    finished = zlib.compressobj(wbits=-15)
    with pytest.raises(DeflateError, match="ended"):
        Deflate().decompress(finished.compress(b"x") + finished.flush())


def test_assumed_enabled_is_limited_to_what_was_advertised() -> None:
    engine = _engine()
    engine.assume_enabled(["qresync", "X-OTHER"])
    assert engine.enabled == {"QRESYNC", "CONDSTORE"}
    engine.assume_enabled(["IMAP4rev2"])
    assert not engine.rev2


@given(st.binary(max_size=200))
def test_generated_literal8_round_trips(payload: bytes) -> None:
    line = b"* 1 FETCH (BINARY[1] ~{%d}\r\n" % len(payload) + payload + b")\r\n"
    assert parse_fetch(1, one(line).values, []).binary("1") == payload
