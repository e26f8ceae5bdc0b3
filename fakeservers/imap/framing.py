"""Reading one complete IMAP command from the wire, literals included.

A command is a line that may end in a literal announcement ``{n}`` (then
the server says ``+`` and the client sends ``n`` octets and the rest of the
command) or ``{n+}`` (LITERAL+, RFC 7888: the octets follow at once). This
module reads the lines and the literals' octets into a :class:`Framed`
command: the lines joined (each literal's ``{n}`` CRLF stays in them) and
each literal's octets kept apart, as the one bytes object they were read
into, so that a message of tens of megabytes is never copied into the
command and out again. :func:`fakeservers.imap.parser.parse_command` takes
both; :meth:`Framed.inline` gives the command as sent (rules match on it).

Limits (``config.limits``): a line longer than ``max_line`` is skipped and
answered BAD; literals adding up to more than ``max_literal`` are refused
before a synchronizing one is sent (tagged NO [TOOBIG], RFC 7888 section 4)
or, for LITERAL+, end the session with BYE, since their octets are already
on their way.

LITERAL- (RFC 7888 section 5): when the session advertises it instead of
LITERAL+, ``max_non_synchronizing`` is 4096 and a larger non-synchronizing
literal is refused with a tagged BAD [TOOBIG]. Its octets are already coming
(the client did not wait), so they are read and thrown away, and so is the
rest of the command, before the refusal is sent; the session then goes on.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from fakeservers.config import Limits
from fakeservers.connection import Connection

_LITERAL_ANNOUNCEMENT = re.compile(rb"\{(\d+)(\+?)\}\Z")
_TAG = re.compile(rb'([^(){ \x00-\x1f\x7f-\xff%*"\\+]+) ')
#: Most lines (literal announcements) one command may span.
MAX_PARTS = 1000
#: The largest non-synchronizing literal a LITERAL- server accepts (RFC 7888 section 5).
LITERAL_MINUS_MAX = 4096
#: Octets thrown away per read while skipping a refused literal (bounds the memory used).
_DISCARD_CHUNK = 65536

CONTINUATION = b"+ Ready for literal data\r\n"


@dataclass(frozen=True)
class Framed:
    """One command as read, without its final CRLF.

    ``text`` is its lines joined, each literal announcement ``{n}`` CRLF
    included; ``literals`` maps the offset in ``text`` just past each
    announcement to that literal's octets.
    """

    text: bytes
    literals: Mapping[int, bytes] = field(default_factory=dict)

    def inline(self) -> bytes:
        """The command as sent: each literal's octets after its announcement (a copy)."""
        if not self.literals:
            return self.text
        pieces: list[bytes] = []
        start = 0
        for offset in sorted(self.literals):
            pieces += (self.text[start:offset], self.literals[offset])
            start = offset
        pieces.append(self.text[start:])
        return b"".join(pieces)


class LiteralRefused(Exception):
    """A literal is over the limit; ``fatal`` when its octets are already coming (LITERAL+).

    ``status`` is the tagged answer when not fatal: NO before a synchronizing
    literal is sent, BAD for a non-synchronizing one over the LITERAL- limit
    (RFC 7888 section 5), both with the TOOBIG code (RFC 4469 section 4).
    """

    def __init__(self, text: str, *, tag: str | None, fatal: bool, status: str = "NO") -> None:
        super().__init__(text)
        self.text = text
        self.tag = tag
        self.fatal = fatal
        self.status = status


def tag_of(line: bytes) -> str | None:
    """The tag at the start of a command line, if it is readable."""
    match = _TAG.match(line)
    return match.group(1).decode("ascii") if match else None


def _without_line_end(line: bytes) -> bytes:
    if line.endswith(b"\r\n"):
        return line[:-2]
    return line[:-1] if line.endswith(b"\n") else line


async def read_command(
    connection: Connection,
    limits: Limits,
    *,
    go_ahead: Callable[[], Awaitable[None]],
    max_non_synchronizing: int | None = None,
) -> Framed:
    """One command: its text, and its literals' octets apart (:class:`Framed`).

    ``go_ahead`` sends the continuation request for a synchronizing literal.
    ``max_non_synchronizing`` is the LITERAL- limit (None: LITERAL+, no limit
    but ``max_literal``). Raises LineTooLong, LiteralRefused, ConnectionClosed
    or IdleTimeout.
    """
    first = line = _without_line_end(await connection.read_line(limits.max_line))
    command = bytearray()
    literals: dict[int, bytes] = {}
    literal_octets = 0
    for _ in range(MAX_PARTS):
        announced = _LITERAL_ANNOUNCEMENT.search(line)
        if announced is None:
            command += line
            return Framed(bytes(command), literals)
        size, non_synchronizing = int(announced.group(1)), bool(announced.group(2))
        literal_octets += size
        if literal_octets > limits.max_literal:
            raise LiteralRefused(
                f"literal of {size} octets is over the limit of {limits.max_literal}",
                tag=tag_of(first),
                fatal=non_synchronizing,
            )
        if non_synchronizing and max_non_synchronizing is not None and size > max_non_synchronizing:
            await _skip_command(connection, limits, size, literal_octets)
            raise LiteralRefused(
                f"non-synchronizing literal of {size} octets is over the LITERAL- limit of "
                f"{max_non_synchronizing}; send it as a synchronizing literal",
                tag=tag_of(first),
                fatal=False,
                status="BAD",
            )
        command += line + b"\r\n"
        if not non_synchronizing:
            await go_ahead()
        literals[len(command)] = await connection.read_exactly(size)
        line = _without_line_end(await connection.read_line(limits.max_line))
    raise LiteralRefused(
        f"command spans more than {MAX_PARTS} literals", tag=tag_of(first), fatal=True
    )


async def _skip_command(connection: Connection, limits: Limits, size: int, total: int) -> None:
    """Read and throw away a refused non-synchronizing literal and the rest of its command.

    The client sent the octets without waiting (RFC 7888 section 5), so they
    must be consumed before the next command can be read. Further
    non-synchronizing literals of the command are thrown away too; a
    synchronizing one ends it, since the client waits for a continuation that
    never comes and reads the tagged refusal instead (RFC 3501 section 7.5).
    Octets past ``max_literal`` in all end the session (fatal LiteralRefused).
    """
    for _ in range(MAX_PARTS):
        remaining = size
        while remaining:
            chunk = min(remaining, _DISCARD_CHUNK)
            await connection.read_exactly(chunk)
            remaining -= chunk
        line = _without_line_end(await connection.read_line(limits.max_line))
        announced = _LITERAL_ANNOUNCEMENT.search(line)
        if announced is None or not announced.group(2):
            return
        size = int(announced.group(1))
        total += size
        if total > limits.max_literal:
            raise LiteralRefused(
                f"literal of {size} octets is over the limit of {limits.max_literal}",
                tag=None,
                fatal=True,
            )
    raise LiteralRefused(f"command spans more than {MAX_PARTS} literals", tag=None, fatal=True)
