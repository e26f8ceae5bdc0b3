"""Command encoding in pieces: a large literal is sent as the caller's object, never copied.

Also RFC 3501 section 4.3: a literal cannot hold NUL (refused locally), a
literal8 (RFC 3516 section 4.2) can.
"""

from __future__ import annotations

import pytest

from refclient.protocol.errors import LocalProtocolError
from refclient.protocol.imap.commands import Literal, encode_command, encode_command_parts
from refclient.protocol.imap.engine import IMAPEngine

LARGE = b"x" * (256 * 1024)


def _engine(*capabilities: bytes) -> IMAPEngine:
    engine = IMAPEngine()
    engine.receive_data(b"* PREAUTH [CAPABILITY IMAP4rev1 " + b" ".join(capabilities) + b"] hi\r\n")
    engine.next_event()
    return engine


def test_a_large_literal_is_its_own_piece_the_callers_object() -> None:
    engine = _engine(b"LITERAL+")
    _tag, pieces = engine.send_parts("APPEND", "INBOX", Literal(LARGE))
    assert any(piece is LARGE for piece in pieces)
    assert b"".join(pieces) == b"A0001 APPEND INBOX {%d+}\r\n" % len(LARGE) + LARGE + b"\r\n"


def test_a_small_literal_is_copied_into_the_line() -> None:
    engine = _engine(b"LITERAL+")
    small = b"Subject: s\r\n\r\nhi\r\n"
    _tag, pieces = engine.send_parts("APPEND", "INBOX", Literal(small))
    assert pieces == [b"A0001 APPEND INBOX {%d+}\r\n" % len(small) + small + b"\r\n"]


def test_a_synchronizing_large_literal_follows_the_continuation_uncopied() -> None:
    engine = _engine()
    _tag, first = engine.send_parts("APPEND", "INBOX", Literal(LARGE))
    assert first == [b"A0001 APPEND INBOX {%d}\r\n" % len(LARGE)]
    assert engine.awaiting_continuation
    rest = engine.continue_parts()
    assert rest[0] is LARGE and b"".join(rest) == LARGE + b"\r\n"


def test_the_joined_form_is_the_same_octets() -> None:
    parts = encode_command_parts("A1", "APPEND", ["INBOX", Literal(LARGE)])
    assert encode_command("A1", "APPEND", ["INBOX", Literal(LARGE)]) == [
        b"".join(chunk) for chunk in parts
    ]


@pytest.mark.parametrize("size", [10, len(LARGE)])
def test_a_literal_holding_nul_is_refused_locally(size: int) -> None:
    data = b"a" * (size - 1) + b"\x00"
    with pytest.raises(LocalProtocolError, match=r"RFC 3501 section 4\.3"):
        encode_command("A1", "APPEND", ["INBOX", Literal(data)])


def test_a_literal8_may_hold_nul() -> None:
    [first, second] = encode_command("A1", "APPEND", ["INBOX", Literal(b"a\x00b", binary=True)])
    assert first == b"A1 APPEND INBOX ~{3}\r\n"
    assert second == b"a\x00b\r\n"


def test_nul_is_refused_in_a_plain_literal_when_made_and_in_bytes_when_encoded() -> None:
    """RFC 3501 section 4.3: a Literal is checked once, when made; bare bytes when encoded."""
    with pytest.raises(LocalProtocolError, match=r"RFC 3501 section 4\.3"):
        Literal(b"a\x00b")
    with pytest.raises(LocalProtocolError, match=r"RFC 3501 section 4\.3"):
        encode_command("A1", "APPEND", ["INBOX", b"a\x00b"])
    assert Literal(b"a\x00b", binary=True).binary  # literal8 may hold NUL (RFC 3516 4.2)
