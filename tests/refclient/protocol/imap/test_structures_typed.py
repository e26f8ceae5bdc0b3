"""Typed FETCH values (RFC 3501 section 7.4.2): the fast constructors and common-item paths.

ENVELOPE, BODYSTRUCTURE and the common FETCH items are typed by written-out
constructors and without per-item helpers; these tests pin that the values,
their dataclass behaviour (frozen, equal, hashable, ``replace``) and the
errors and findings on malformed input are those of the general path.
"""

from __future__ import annotations

import dataclasses

import pytest

from refclient.findings import Finding
from refclient.protocol.errors import RemoteProtocolError
from refclient.protocol.imap.framing import Frame
from refclient.protocol.imap.parser import Untagged, Value, parse_frame
from refclient.protocol.imap.structures import (
    Address,
    BodyStructure,
    Envelope,
    FetchData,
    parse_bodystructure,
    parse_envelope,
    parse_fetch,
)

ENVELOPE_LINE = (
    b'* 3 FETCH (UID 9 FLAGS (\\Seen $Label) ENVELOPE ("Mon, 7 Feb 1994 21:52:25 -0800" '
    b'"afternoon meeting" (("Fred Foobar" NIL "foobar" "example.test")) '
    b'(("Fred Foobar" NIL "foobar" "example.test")) (("Fred Foobar" NIL "foobar" "example.test")) '
    b'((NIL NIL "mooch" "owatagu.example.test")) NIL NIL NIL "<B27397-0100000@example.test>") '
    b'BODYSTRUCTURE ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92) '
    b"RFC822.SIZE 4286)"
)


def fetch(line: bytes) -> tuple[FetchData, list[Finding]]:
    event = parse_frame(Frame((line,), ()), max_nesting=50)
    assert isinstance(event, Untagged)
    assert event.number is not None
    findings: list[Finding] = []
    return parse_fetch(event.number, event.values, findings), findings


def _from(addresses: Value) -> list[Value]:
    """An ENVELOPE (RFC 3501 section 7.4.2) whose From is ``addresses``, every other field NIL."""
    return [None, None, addresses, None, None, None, None, None, None, None]


def test_common_items_are_fully_typed() -> None:
    data, findings = fetch(ENVELOPE_LINE)
    assert findings == []
    assert (data.number, data.uid, data.size) == (3, 9, 4286)
    assert data.flags == ("\\Seen", "$Label")
    fred = Address("Fred Foobar", None, "foobar", "example.test")
    assert data.envelope == Envelope(
        "Mon, 7 Feb 1994 21:52:25 -0800",
        "afternoon meeting",
        (fred,),
        (fred,),
        (fred,),
        (Address(None, None, "mooch", "owatagu.example.test"),),
        (),
        (),
        None,
        "<B27397-0100000@example.test>",
    )
    assert data.bodystructure == BodyStructure(
        "text", "plain", {"charset": "US-ASCII"}, None, None, "7BIT", 3028, 92
    )


def test_lower_case_item_names_take_the_same_path() -> None:
    lower = ENVELOPE_LINE.replace(b"UID", b"uid").replace(b"ENVELOPE", b"envelope")
    assert fetch(lower)[0] == fetch(ENVELOPE_LINE)[0]


def test_sender_and_reply_to_differing_from_from_are_their_own() -> None:
    line = ENVELOPE_LINE.replace(
        b'(("Fred Foobar" NIL "foobar" "example.test")) ((NIL NIL "mooch"',
        b'(("Reply" NIL "reply" "example.test")) ((NIL NIL "mooch"',
    )
    envelope = fetch(line)[0].envelope
    assert envelope is not None
    assert envelope.sender == envelope.from_
    assert envelope.reply_to == (Address("Reply", None, "reply", "example.test"),)


def test_typed_values_stay_frozen_equal_and_hashable() -> None:
    address = Address("A", None, "a", "example.test")
    assert address == Address(name="A", route=None, mailbox="a", host="example.test")
    assert hash(address) == hash(Address("A", None, "a", "example.test"))
    assert dataclasses.replace(address, name="B").name == "B"
    assert BodyStructure("text", "plain").parameters == {}
    assert BodyStructure("text", "plain").parameters is not BodyStructure("a", "b").parameters
    assert [field.name for field in dataclasses.fields(Address)] == [
        "name",
        "route",
        "mailbox",
        "host",
    ]
    assert repr(address) == "Address(name='A', route=None, mailbox='a', host='example.test')"


def test_typed_values_refuse_assignment() -> None:
    address = Address("A", None, "a", "example.test")
    with pytest.raises(dataclasses.FrozenInstanceError):
        address.name = "B"  # type: ignore[misc]
    body = BodyStructure("text", "plain")
    with pytest.raises(dataclasses.FrozenInstanceError):
        body.size = 3  # type: ignore[misc]


def test_flags_given_as_strings_are_decoded() -> None:
    data, _ = fetch(b'* 1 FETCH (UID 1 FLAGS ("\\\\Seen" NIL))')
    assert data.flags == ("\\Seen", "")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"* 1 FETCH (UID ((x)))", "expected a string, got a list"),
        (b"* 1 FETCH (UID 1 FLAGS \\Seen)", "expected a list"),
        (b"* 1 FETCH (UID 1 FLAGS ((\\Seen)))", "expected a string, got a list"),
        (b"* 1 FETCH (UID \xc2\xb2)", "expected a UID"),
        (b"* 1 FETCH (RFC822.SIZE x)", "expected a RFC822.SIZE"),
        (b"* 1 FETCH (UID 1 ENVELOPE (NIL NIL))", "ENVELOPE with 2 fields"),
        (b"* 1 FETCH (UID 1 ENVELOPE NIL)", "ENVELOPE with 0 fields"),
        (b"* 1 FETCH (UID 1 BODYSTRUCTURE NIL)", "empty BODYSTRUCTURE"),
        (b'* 1 FETCH (UID 1 BODYSTRUCTURE "x")', "expected a list"),
        (b"* 1 FETCH (UID)", "without a value"),
    ],
)
def test_malformed_common_items_raise(line: bytes, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        fetch(line)


@pytest.mark.parametrize(
    "addresses",
    [
        [[None, None, b"a"]],
        [[None, None, b"a", b"b", b"c"]],
        [None],
        [b"a@b"],
        b"a@b",
    ],
)
def test_malformed_addresses_raise(addresses: Value) -> None:
    envelope = _from(addresses)
    with pytest.raises(RemoteProtocolError):
        parse_envelope(envelope)


def test_odd_numbers_are_findings_not_errors() -> None:
    findings: list[Finding] = []
    body = parse_bodystructure(
        [b"TEXT", b"PLAIN", [b"CHARSET"], None, None, b"7BIT", "-1", "9.3e+01"], findings
    )
    assert (body.size, body.lines, body.parameters) == (-1, 93, {})
    assert sorted(finding.id for finding in findings) == [
        "imap.bodystructure-params",
        "imap.negative-number",
        "imap.number-syntax",
    ]


def test_plain_numbers_are_no_findings() -> None:
    findings: list[Finding] = []
    body = parse_bodystructure([b"TEXT", b"PLAIN", None, None, None, b"7BIT", "12", "1"], findings)
    assert (body.size, body.lines, body.parameters, findings) == (12, 1, {}, [])


def test_equal_address_lists_give_equal_addresses_across_envelopes() -> None:
    def envelope(host: bytes) -> list[Value]:
        sender: list[Value] = [[b"Fred", None, b"fred", host]]
        return [
            None,
            b"s",
            sender,
            sender,
            sender,
            [[None, None, b"to", host]],
            None,
            None,
            None,
            None,
        ]

    first = parse_envelope(envelope(b"example.test"))
    again = parse_envelope(envelope(b"example.test"))
    other = parse_envelope(envelope(b"other.test"))
    assert again == first
    assert again.from_ == (Address("Fred", None, "fred", "example.test"),)
    assert other.from_ == (Address("Fred", None, "fred", "other.test"),)
    assert other.to == (Address(None, None, "to", "other.test"),)


@pytest.mark.parametrize("host", [b"example.test", "example.test", None])
def test_an_address_list_seen_before_is_still_refused_when_malformed(host: Value) -> None:
    good = _from([[None, None, b"a", host]])
    parse_envelope(good)
    bad = _from([[None, None, b"a", host], [b"x"]])
    with pytest.raises(RemoteProtocolError, match="4 fields"):
        parse_envelope(bad)


def test_an_address_list_holding_a_list_is_refused() -> None:
    nested = _from([[None, None, [b"a"], b"h"]])
    with pytest.raises(RemoteProtocolError, match="expected a string, got a list"):
        parse_envelope(nested)


def test_body_parameters_common_and_other_shapes_agree() -> None:
    findings: list[Finding] = []
    single = parse_bodystructure(
        [b"TEXT", b"PLAIN", [b"CharSet", b"UTF-8"], None, None, b"7BIT", "1", "1"], findings
    )
    atoms = parse_bodystructure(
        [b"TEXT", b"PLAIN", ["CharSet", "UTF-8"], None, None, b"7BIT", "1", "1"], findings
    )
    assert single.parameters == atoms.parameters == {"charset": "UTF-8"}
    odd = parse_bodystructure(
        [b"TEXT", b"PLAIN", [b"CHARSET", b"A", b"B"], None, None, b"7BIT", "1", "1"], findings
    )
    assert odd.parameters == {"charset": "A"}
    assert [finding.id for finding in findings] == ["imap.bodystructure-params"]


@pytest.mark.parametrize("count", [1, 2])
def test_an_atom_in_place_of_an_address_is_refused_after_the_address(count: int) -> None:
    fields: list[Value] = ["a", "b", "c", "d"]
    listed = _from([fields] * count)
    assert parse_envelope(listed).from_ == (Address("a", "b", "c", "d"),) * count
    atoms = _from(["abcd"] * count)
    with pytest.raises(RemoteProtocolError, match="expected a list"):
        parse_envelope(atoms)
