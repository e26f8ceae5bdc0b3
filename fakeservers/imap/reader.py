"""The lexical layer of IMAP commands (RFC 3501 section 9).

A :class:`Reader` walks over one complete command, in which every literal
already sits inline as ``{n}`` CRLF followed by its ``n`` octets (the framing
layer has read them), or, as the framing layer hands a command on, with each
literal's octets kept apart (``literals``: the offset just past the ``{n}``
CRLF to the octets), so that a large literal is handed on without a copy.
Command grammars call its methods one token at a time; each method either
returns the token or raises :class:`SyntaxProblem`, so a grammar never sees
a half-read token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from fakeservers.imap.sequences import SequenceSet, SequenceSetError

# RFC 3501 section 9: ATOM-CHAR is any CHAR (0x01-0x7f) except atom-specials:
# "(" ")" "{" SP CTL "%" "*" DQUOTE "\" "]".
_ATOM = re.compile(rb'[^(){ \x00-\x1f\x7f-\xff%*"\\\]]+')
# ASTRING-CHAR adds resp-specials ("]"); list-char adds the wildcards "%" and "*".
_ASTRING_ATOM = re.compile(rb'[^(){ \x00-\x1f\x7f-\xff%*"\\]+')
_LIST_ATOM = re.compile(rb'[^(){ \x00-\x1f\x7f-\xff"\\]+')
# quoted = DQUOTE *QUOTED-CHAR DQUOTE; 8-bit octets are tolerated (many clients send
# UTF-8 SEARCH strings quoted) but CR, LF and NUL never are.
_QUOTED = re.compile(rb'"((?:[^"\\\r\n\x00]|\\["\\])*)"')
_LITERAL = re.compile(rb"~?\{(\d{1,10})(\+?)\}\r\n")
_NUMBER = re.compile(rb"\d{1,10}")
_SEQUENCE = re.compile(rb"[0-9*:,]+")
_UNESCAPE = re.compile(rb'\\(["\\])')


def is_atom(octets: bytes) -> bool:
    """Whether ``octets`` can be sent as a bare atom."""
    return _ATOM.fullmatch(octets) is not None


class SyntaxProblem(ValueError):
    """The command does not follow the grammar; the text says what was expected where."""


class Reader:
    """A cursor over one command's octets (literals inline, or apart in ``literals``)."""

    def __init__(self, data: bytes, literals: Mapping[int, bytes] | None = None) -> None:
        self.data = data
        self.position = 0
        #: With literals apart: the offset just past each ``{n}`` CRLF -> its octets.
        self.literals = literals

    # -- looking ----------------------------------------------------------------

    def at_end(self) -> bool:
        """Whether the whole command has been read."""
        return self.position >= len(self.data)

    def peek(self, octets: bytes) -> bool:
        """Whether the next octets are ``octets`` (case-insensitive for letters)."""
        end = self.position + len(octets)
        return self.data[self.position : end].upper() == octets.upper()

    def fail(self, expected: str) -> SyntaxProblem:
        """A :class:`SyntaxProblem` naming what was expected at the current position."""
        found = self.data[self.position : self.position + 20]
        where = repr(found)[1:] if found else "end of command"
        return SyntaxProblem(f"expected {expected} at {where}")

    # -- punctuation ------------------------------------------------------------

    def expect(self, octets: bytes, what: str | None = None) -> None:
        """Consume ``octets`` exactly (case-insensitive)."""
        if not self.peek(octets):
            raise self.fail(what or repr(octets.decode()))
        self.position += len(octets)

    def skip(self, octets: bytes) -> bool:
        """Consume ``octets`` if they come next; returns whether they did."""
        if self.peek(octets):
            self.position += len(octets)
            return True
        return False

    def space(self) -> None:
        """Exactly one SP between tokens."""
        self.expect(b" ", "a space")

    def end(self) -> None:
        """Nothing may follow."""
        if not self.at_end():
            raise self.fail("end of command")

    # -- tokens -----------------------------------------------------------------

    def _match(self, pattern: re.Pattern[bytes], expected: str) -> re.Match[bytes]:
        match = pattern.match(self.data, self.position)
        if match is None:
            raise self.fail(expected)
        self.position = match.end()
        return match

    def token(self, pattern: re.Pattern[bytes]) -> bytes:
        """Whatever ``pattern`` matches here (possibly nothing), consumed."""
        match = pattern.match(self.data, self.position)
        if match is None:
            return b""
        self.position = match.end()
        return match.group()

    def atom(self) -> str:
        """An atom, upper-cased (commands and keywords are case-insensitive)."""
        return self._match(_ATOM, "an atom").group().decode("ascii").upper()

    def raw_atom(self) -> bytes:
        """An atom exactly as sent (keywords, tags)."""
        return self._match(_ATOM, "an atom").group()

    def tag(self) -> str:
        """``tag = 1*<any ASTRING-CHAR except "+">``."""
        token = self._match(_ASTRING_ATOM, "a tag").group()
        if b"+" in token:
            raise SyntaxProblem("a tag may not contain '+'")
        return token.decode("ascii")

    def number(self) -> int:
        """``number`` (32-bit unsigned, RFC 3501 section 9)."""
        value = int(self._match(_NUMBER, "a number").group())
        if value > 0xFFFFFFFF:
            raise SyntaxProblem("number out of range")
        return value

    def string(self) -> bytes:
        """``string = quoted / literal``."""
        if self.peek(b'"'):
            return _UNESCAPE.sub(rb"\1", self._match(_QUOTED, "a quoted string").group(1))
        if self.peek(b"{"):
            return self.literal()
        raise self.fail("a string")

    def literal(self) -> bytes:
        """``literal = "{" number ["+"] "}" CRLF *CHAR8`` (RFC 3501 section 4.3, RFC 7888).

        ``CHAR8`` excludes NUL (RFC 3501 section 9, RFC 9051 section 4.3), so an
        ordinary literal holding one is a syntax error. ``literal8`` (``~{n}``,
        RFC 3516 section 4.2) is read the same way but may hold NUL; only
        APPEND's grammar lets it through.
        """
        match = self._match(_LITERAL, "a literal")
        size = int(match.group(1))
        if self.literals is not None:
            value = self.literals.get(self.position)
            if value is None or len(value) != size:
                raise SyntaxProblem("literal is shorter than announced")
            end = self.position
        else:
            end = self.position + size
            if end > len(self.data):
                raise SyntaxProblem("literal is shorter than announced")
            value = self.data[self.position : end]
        if not match.group().startswith(b"~") and b"\x00" in value:
            raise SyntaxProblem("NUL is not allowed in a literal (RFC 3501 section 4.3)")
        self.position = end
        return value

    def astring(self) -> bytes:
        """``astring = 1*ASTRING-CHAR / string``."""
        if self.peek(b'"') or self.peek(b"{"):
            return self.string()
        return self._match(_ASTRING_ATOM, "an atom or string").group()

    def nstring(self) -> bytes | None:
        """``nstring = string / nil``."""
        if self.skip(b"NIL"):
            return None
        return self.string()

    def list_mailbox(self) -> bytes:
        """``list-mailbox = 1*list-char / string`` (may hold the wildcards % and *)."""
        if self.peek(b'"') or self.peek(b"{"):
            return self.string()
        return self._match(_LIST_ATOM, "a mailbox pattern").group()

    def sequence_set(self) -> SequenceSet:
        """``sequence-set`` (RFC 3501 section 9), or ``$`` (``seq-last-command``, RFC 5182)."""
        if self.skip(b"$"):
            return SequenceSet((), saved=True)
        token = self._match(_SEQUENCE, "a sequence set").group()
        try:
            return SequenceSet.parse(token)
        except SequenceSetError as error:
            raise SyntaxProblem(str(error)) from None

    def flag(self) -> str:
        """``flag``: a system flag (``\\Seen``) or a keyword atom; ``\\*`` is not a flag."""
        system = self.skip(b"\\")
        name = self.raw_atom().decode("ascii")
        return "\\" + name if system else name

    def flag_list(self) -> list[str]:
        """``flag-list = "(" [flag *(SP flag)] ")"``."""
        self.expect(b"(", "'(' opening a flag list")
        flags: list[str] = []
        while not self.skip(b")"):
            if flags:
                self.space()
            flags.append(self.flag())
        return flags
