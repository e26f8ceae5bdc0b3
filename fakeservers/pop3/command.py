"""Parsing one POP3 command line (RFC 1939 section 3, RFC 2449 section 3).

A command is a case-insensitive keyword of three or four ASCII letters or
digits, optionally followed by a single space and its arguments, ended by
CRLF. A bare LF is tolerated as line end, as most servers do. The arguments
are kept as one string because PASS takes the rest of the line, spaces
included (RFC 1939 section 7).
"""

from __future__ import annotations

from typing import NamedTuple


class CommandError(ValueError):
    """The line is not a POP3 command; the text is the ``-ERR`` reply's text."""


class Command(NamedTuple):
    """A parsed command: upper-case keyword and the raw argument text (may be empty)."""

    keyword: str
    argument: str


def parse_command(line: bytes) -> Command:
    """Parse a command line (with or without its line ending)."""
    if line.endswith(b"\r\n"):
        line = line[:-2]
    elif line.endswith(b"\n"):
        line = line[:-1]
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError("command line is not UTF-8") from None
    keyword, _, argument = text.partition(" ")
    # RFC 2449 section 3: a keyword is 3 or 4 printable characters; all defined
    # ones are letters, except UTF8 (RFC 6856 section 2).
    if not (
        3 <= len(keyword) <= 4 and keyword.isascii() and keyword.isalnum() and keyword[0].isalpha()
    ):
        raise CommandError("no command keyword (3 or 4 letters or digits, a letter first)")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in argument):
        raise CommandError("control character in arguments")
    return Command(keyword.upper(), argument)


def split_arguments(argument: str, *, minimum: int, maximum: int) -> list[str]:
    """Split on single spaces and check the count (RFC 1939: one space between arguments)."""
    parts = argument.split(" ") if argument else []
    if not minimum <= len(parts) <= maximum or any(not part for part in parts):
        expected = str(minimum) if minimum == maximum else f"{minimum} to {maximum}"
        raise CommandError(f"expected {expected} argument(s) separated by single spaces")
    return parts


def message_number(text: str) -> int:
    """A message number argument: decimal digits, at least 1 (RFC 1939 section 5)."""
    if not (text.isascii() and text.isdigit()) or len(text) > 10 or int(text) == 0:
        raise CommandError(f"invalid message number {text[:20]!r}")
    return int(text)


def line_count(text: str) -> int:
    """The non-negative line count of TOP (RFC 1939 section 7)."""
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        raise CommandError(f"invalid line count {text[:20]!r}")
    return int(text)
