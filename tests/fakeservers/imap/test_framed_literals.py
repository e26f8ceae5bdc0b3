"""Commands whose literals are kept apart from their text, as the framing layer reads them.

:class:`~fakeservers.imap.framing.Framed` holds a command's lines (each
literal's ``{n}`` CRLF included) and, apart, each literal's octets, keyed by
the offset just past its announcement; the parser reads both without
joining them, and gets the same command as from the inline form.
"""

from __future__ import annotations

import pytest

from fakeservers.imap.framing import Framed
from fakeservers.imap.parser import Append, Login, ParseError, parse_command

INLINE = b"a APPEND INBOX (\\Seen) {5}\r\nhello"


def _framed() -> Framed:
    text = b"a APPEND INBOX (\\Seen) {5}\r\n"
    return Framed(text, {len(text): b"hello"})


def test_the_inline_form_is_the_command_as_sent() -> None:
    assert _framed().inline() == INLINE
    assert Framed(b"a NOOP").inline() == b"a NOOP"


def test_a_literal_apart_parses_as_the_inline_one_without_a_copy() -> None:
    framed = _framed()
    octets = framed.literals[len(framed.text)]
    command = parse_command(framed.text, literals=framed.literals)
    assert command == parse_command(INLINE)
    assert command.arguments(Append).message is octets  # handed on, not copied


def test_two_literals_apart_in_one_command() -> None:
    first = b"a LOGIN {5}\r\n"
    text = first + b" {6}\r\n"
    framed = Framed(text, {len(first): b"alice", len(text): b"secret"})
    login = parse_command(framed.text, literals=framed.literals).arguments(Login)
    assert (login.user, login.password) == ("alice", "secret")
    assert framed.inline() == b"a LOGIN {5}\r\nalice {6}\r\nsecret"


def test_a_literal_apart_of_another_length_than_announced_is_refused() -> None:
    text = b"a APPEND INBOX {6}\r\n"
    with pytest.raises(ParseError, match="shorter than announced"):
        parse_command(text, literals={len(text): b"hello"})


def test_a_literal_announced_but_missing_is_refused() -> None:
    with pytest.raises(ParseError, match="shorter than announced"):
        parse_command(b"a APPEND INBOX {5}\r\n", literals={})


def test_a_nul_in_a_literal_apart_is_refused_but_not_in_a_literal8() -> None:
    text = b"a APPEND INBOX {3}\r\n"
    with pytest.raises(ParseError, match="NUL"):
        parse_command(text, literals={len(text): b"a\x00b"})
    text8 = b"a APPEND INBOX ~{3}\r\n"
    append = parse_command(text8, literals={len(text8): b"a\x00b"}).arguments(Append)
    assert append.message == b"a\x00b"
