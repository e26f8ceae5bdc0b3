"""The sans-IO IMAP4rev1 client engine (RFC 3501), in the style of h11.

Feed the server's octets with :meth:`IMAPEngine.receive_data`, take events
with :meth:`IMAPEngine.next_event` until it returns :data:`NEED_DATA`; turn
commands into octets with :meth:`IMAPEngine.send`. No I/O, no clock.

A command with synchronizing literals is sent in chunks: :meth:`send`
returns the first; after the server's ``+`` (a :class:`Continuation` event
while :attr:`IMAPEngine.awaiting_continuation` is true) :meth:`continue_command`
returns the next. With LITERAL+ offered, literals need no continuation.

The engine tracks the connection state (a small table of enum states and the
commands that move between them), the tags in flight, and the capabilities
the server announced (CAPABILITY responses and ``[CAPABILITY ...]`` codes).
Deviations become :class:`~refclient.findings.Finding` objects in
:attr:`IMAPEngine.findings`; what cannot be gone on from raises
:class:`RemoteProtocolError`; misuse by the caller raises
:class:`LocalProtocolError`.
"""

from __future__ import annotations

import enum
import itertools
import re
from collections.abc import Iterable

from refclient.findings import Finding, Severity
from refclient.protocol.errors import LocalProtocolError, RemoteProtocolError
from refclient.protocol.imap.commands import Argument, encode_command_parts
from refclient.protocol.imap.framing import Frame, LiteralSink, ResponseFramer
from refclient.protocol.imap.parser import (
    Continuation,
    Response,
    Tagged,
    Untagged,
    parse_frame,
)


class NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


#: Returned by :meth:`IMAPEngine.next_event` when more octets are needed.
NEED_DATA = NeedData()


class State(enum.Enum):
    """Connection states of RFC 3501 section 3 (plus waiting for the greeting)."""

    GREETING = "greeting"
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


#: Commands allowed in each state (RFC 3501 section 6); anything else is local misuse.
ALLOWED: dict[State, frozenset[str] | None] = {
    State.GREETING: frozenset(),
    State.NOT_AUTHENTICATED: frozenset(
        {"CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "AUTHENTICATE", "LOGIN", "ID", "ENABLE"}
    ),
    State.AUTHENTICATED: None,  # every command but the selected-state ones
    State.SELECTED: None,  # every command
    State.LOGOUT: frozenset(),
}
SELECTED_ONLY = frozenset(
    {"CHECK", "CLOSE", "EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY", "MOVE", "UID", "UNSELECT"}
)
#: Where a successful command leads.
TRANSITIONS: dict[str, State] = {
    "LOGIN": State.AUTHENTICATED,
    "AUTHENTICATE": State.AUTHENTICATED,
    "SELECT": State.SELECTED,
    "EXAMINE": State.SELECTED,
    "CLOSE": State.AUTHENTICATED,
    "UNSELECT": State.AUTHENTICATED,
}


#: The first line of another protocol: an SMTP/FTP reply (RFC 5321 section 4.2, RFC 959
#: section 4.2) or an HTTP status line (RFC 9112 section 4).
_OTHER_PROTOCOL = re.compile(rb"(?:\d{3}(?:[ -]|\r?$)|HTTP/\d)")

#: Stands for "no bound" on non-synchronizing literals under LITERAL+.
MAX_LITERAL_PLUS = 2**63

#: What one parsed untagged response is counted as holding, against ``max_untagged_octets``:
#: a fixed cost for the event object, each line octet times :data:`LINE_WEIGHT` (every
#: token becomes a Python object of 50 octets or more), each literal octet once. Measured
#: with tracemalloc on CPython 3.11: ``* OK text`` holds about 290 octets, a 70-octet
#: ``* 1 FETCH (UID FLAGS MODSEQ)`` about 940.
UNTAGGED_OVERHEAD = 256
LINE_WEIGHT = 8


def _finding(ident: str, severity: Severity, reference: str, message: str, line: bytes) -> Finding:
    return Finding(id=ident, severity=severity, reference=reference, message=message, line=line)


class IMAPEngine:
    """One IMAP connection's protocol state, from the client's side."""

    def __init__(
        self,
        *,
        max_line: int = 1024 * 1024,
        max_literal: int = 256 * 1024 * 1024,
        max_nesting: int = 100,
        max_untagged: int = 1_000_000,
        max_untagged_octets: int = 48 * 1024 * 1024,
        max_skipped_lines: int = 100,
        tag_prefix: str = "A",
    ) -> None:
        self._framer = ResponseFramer(max_line=max_line, max_literal=max_literal)
        self._max_nesting = max_nesting
        self._max_untagged = max_untagged
        self._tags = (f"{tag_prefix}{n:04d}" for n in itertools.count(1))
        self._in_flight: dict[str, str] = {}  # tag -> command name
        self._chunks: list[list[bytes]] = []  # rest of a command waiting for "+"
        self._untagged_since_tagged = 0
        self._max_untagged_octets = max_untagged_octets
        self._untagged_octets = 0
        self._max_skipped_lines = max_skipped_lines
        self._skipped_lines = 0
        self.state = State.GREETING
        self.capabilities: frozenset[str] = frozenset()
        #: Extensions the server said it enabled (``* ENABLED``, RFC 5161 section 3.2).
        self.enabled: frozenset[str] = frozenset()
        self.findings: list[Finding] = []
        self._eof = False

    # -- receiving ----------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Octets from the server; ``b""`` means it closed the connection."""
        if data:
            self._framer.feed(data)
        else:
            self._eof = True

    def next_event(self) -> Response | NeedData:
        """The next response, or :data:`NEED_DATA`.

        A line that is no IMAP response at all (it starts with neither ``*``,
        ``+`` nor a tag this client sent, and does not parse, e.g. Exchange's
        ``Server Unavailable.``) is skipped and reported as the finding
        ``imap.non-protocol-line``; more than ``max_skipped_lines`` of them on
        one connection is a :class:`RemoteProtocolError`, so a server sending
        only garbage still ends.
        """
        while True:
            frame = self._framer.next_frame()
            if frame is None:
                if self._eof and not self._framer.idle:
                    raise RemoteProtocolError(
                        "connection closed in the middle of a response",
                        line=self._framer.take_rest()[:200],
                    )
                return NEED_DATA
            if frame.bare_lf:
                self.findings.append(
                    _finding(
                        "imap.bare-lf",
                        Severity.WARNING,
                        "RFC 3501 section 2.2",
                        "line ended with LF instead of CRLF",
                        frame.raw_preview(),
                    )
                )
            try:
                event = parse_frame(frame, max_nesting=self._max_nesting)
            except RemoteProtocolError:
                if not self._is_foreign(frame):
                    raise
                self._skip(frame)
                continue
            self._track(event, frame)
            return event

    def _is_foreign(self, frame: Frame) -> bool:
        """Whether a response that does not parse is no response at all (RFC 3501 section 2.2.2).

        Every server response starts with ``*``, ``+`` or a command's tag; a
        malformed line that starts like one is the server's broken response
        and stays an error, anything else is a line to skip.

        A line of another protocol (an SMTP or FTP reply code, an HTTP status
        line) is not skipped either: a server speaking another protocol is
        the cross-protocol attack of ALPACA, to end at once, not a quirk.
        """
        first = frame.first_line
        tag = first.split(b" ", 1)[0].decode("ascii", "replace")
        if _OTHER_PROTOCOL.match(first):
            return False
        return not (first[:1] in (b"*", b"+") or tag in self._in_flight)

    def _skip(self, frame: Frame) -> None:
        self._skipped_lines += 1
        line = frame.raw_preview()
        if self._skipped_lines > self._max_skipped_lines:
            raise RemoteProtocolError(
                f"more than {self._max_skipped_lines} lines that are no IMAP response",
                line=line,
                reference="RFC 3501 section 2.2.2",
            )
        self.findings.append(
            _finding(
                "imap.non-protocol-line",
                Severity.WARNING,
                "RFC 3501 section 2.2.2",
                "a line that is no IMAP response (neither *, + nor a tag sent): skipped",
                line,
            )
        )

    def _track(self, event: Response, frame: Frame) -> None:
        if isinstance(event, Tagged):
            self._untagged_since_tagged = self._untagged_octets = 0
            command = self._in_flight.pop(event.tag, None)
            if command is None:
                self.findings.append(
                    _finding(
                        "imap.unknown-tag",
                        Severity.ERROR,
                        "RFC 3501 section 2.2.1",
                        f"tagged response for {event.tag!r}, which no command used",
                        frame.raw_preview(),
                    )
                )
                return
            if not event.text:
                self.findings.append(
                    _finding(
                        "imap.missing-text",
                        Severity.WARNING,
                        "RFC 3501 section 9 (resp-text)",
                        "tagged response without text",
                        frame.raw_preview(),
                    )
                )
            if event.code is not None and event.code.name == "CAPABILITY":
                self._set_capabilities(event.code.values, frame.raw_preview())
            if event.status == "OK":
                self._advance(command)
            if command in ("SELECT", "EXAMINE") and event.status != "OK":
                self.state = State.AUTHENTICATED if self.state is State.SELECTED else self.state
            return
        if isinstance(event, Continuation):
            return
        self._untagged_since_tagged += 1
        if self._untagged_since_tagged > self._max_untagged:
            raise RemoteProtocolError(
                f"more than {self._max_untagged} untagged responses to one command "
                "(ClientLimits.max_untagged)",
                line=frame.raw_preview(),
            )
        # The caller keeps every untagged response until the command completes: bound what
        # they hold, their Python objects included. The first response is always taken; the
        # framer already bounds it (max_line + max_literal), so one large message is read.
        self._untagged_octets += (
            UNTAGGED_OVERHEAD + LINE_WEIGHT * frame.line_size + frame.literal_size
        )
        if self._untagged_octets > self._max_untagged_octets and self._untagged_since_tagged > 1:
            raise RemoteProtocolError(
                f"untagged responses to one command hold more than {self._max_untagged_octets} "
                "octets (ClientLimits.max_untagged_octets)",
                line=frame.raw_preview(),
            )
        greeting = self.state is State.GREETING
        if greeting:
            self._greeting(event, frame.raw_preview())
            self._untagged_since_tagged = self._untagged_octets = 0  # no command's response
        elif event.number is not None:
            return  # "* n FETCH", "* n EXISTS": data, no status, code or capability to note
        if event.is_status and not event.text:
            self.findings.append(
                _finding(
                    "imap.missing-text",
                    Severity.WARNING,
                    "RFC 3501 section 9 (resp-text)",
                    f"untagged {event.name} without text",
                    frame.raw_preview(),
                )
            )
        if event.code is not None and event.code.name == "CAPABILITY":
            self._set_capabilities(event.code.values, frame.raw_preview())
        if event.name == "CAPABILITY":
            self._set_capabilities(event.values, frame.raw_preview())
        elif event.name == "ENABLED":
            self._set_enabled(event.values, frame.raw_preview())
        elif event.name == "BYE" and not greeting and "LOGOUT" not in self._in_flight.values():
            self.findings.append(
                _finding(
                    "imap.unsolicited-bye",
                    Severity.INFO,
                    "RFC 3501 section 7.1.5",
                    f"server said BYE: {event.text}",
                    frame.raw_preview(),
                )
            )
            self.state = State.LOGOUT

    def _greeting(self, event: Untagged, line: bytes) -> None:
        if event.name == "OK":
            self.state = State.NOT_AUTHENTICATED
        elif event.name == "PREAUTH":
            self.state = State.AUTHENTICATED
        elif event.name == "BYE":
            self.state = State.LOGOUT
        else:
            raise RemoteProtocolError(
                "the greeting is not OK, PREAUTH or BYE",
                line=line,
                reference="RFC 3501 section 7.1",
            )

    def _set_capabilities(self, values: Iterable[object], line: bytes) -> None:
        names = frozenset(str(v).upper() for v in values if isinstance(v, str))
        if "IMAP4REV1" not in names and "IMAP4REV2" not in names:
            self.findings.append(
                _finding(
                    "imap.capability-without-imap4rev1",
                    Severity.ERROR,
                    "RFC 3501 section 7.2.1",
                    "CAPABILITY does not list IMAP4rev1",
                    line,
                )
            )
        self.capabilities = names

    def _set_enabled(self, values: Iterable[object], line: bytes) -> None:
        names = frozenset(str(v).upper() for v in values if isinstance(v, str))
        if "ENABLE" not in self._in_flight.values():
            # RFC 5161 section 3.2: ENABLED is only a reply to ENABLE.
            self.findings.append(
                _finding(
                    "imap.unsolicited-enabled",
                    Severity.WARNING,
                    "RFC 5161 section 3.2",
                    "ENABLED response without an ENABLE command",
                    line,
                )
            )
            return
        unadvertised = sorted(names - self.capabilities)
        if unadvertised:
            self.findings.append(
                _finding(
                    "imap.enabled-not-advertised",
                    Severity.WARNING,
                    "RFC 5161 section 3.1",
                    f"ENABLED lists {' '.join(unadvertised)}, which CAPABILITY does not",
                    line,
                )
            )
        if "QRESYNC" in names:
            names |= {"CONDSTORE"}  # RFC 7162 section 3.2.3: QRESYNC implies CONDSTORE
        self.enabled |= names

    def assume_enabled(self, names: Iterable[str]) -> None:
        """Count ``names`` as enabled without an ENABLED response (a server that omits it).

        RFC 5161 section 3.2 requires ``* ENABLED`` even when empty; iCloud
        answers ENABLE with the tagged OK alone, yet acts on it.
        """
        enabled = frozenset(name.upper() for name in names) & self.capabilities
        if "QRESYNC" in enabled:
            enabled |= {"CONDSTORE"}
        self.enabled |= enabled

    @property
    def utf8_accept(self) -> bool:
        """Whether names and strings may be UTF-8 (RFC 6855 section 3, RFC 9051 section 6.3.1)."""
        return bool({"UTF8=ACCEPT", "IMAP4REV2"} & self.enabled)

    @property
    def rev2(self) -> bool:
        """Whether IMAP4rev2 was enabled (RFC 9051 appendix E: ESEARCH, no RECENT)."""
        return "IMAP4REV2" in self.enabled

    def _advance(self, command: str) -> None:
        target = TRANSITIONS.get(command)
        if target is not None:
            self.state = target
        elif command == "LOGOUT":
            self.state = State.LOGOUT

    # -- sending ------------------------------------------------------------------------

    def send(self, name: str, *arguments: Argument) -> tuple[str, bytes]:
        """Start a command; returns its tag and the octets to send now."""
        tag, pieces = self.send_parts(name, *arguments)
        return tag, pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def send_parts(self, name: str, *arguments: Argument) -> tuple[str, list[bytes]]:
        """:meth:`send`, the octets as pieces: a large literal is the caller's object, uncopied."""
        name = name.upper()
        self._check_allowed(name)
        if self._chunks:
            raise LocalProtocolError("the previous command is still waiting for a continuation")
        tag = next(self._tags)
        chunks = encode_command_parts(tag, name, arguments, non_sync_limit=self._non_sync_limit())
        self._in_flight[tag] = name
        self._chunks = chunks[1:]
        return tag, chunks[0]

    def send_raw(self, line: bytes) -> tuple[str, bytes]:
        """A raw command line for conformance probing: a tag is prepended, no state check."""
        if b"\r" in line or b"\n" in line:
            raise LocalProtocolError("a raw command line cannot contain CR or LF")
        tag = next(self._tags)
        self._in_flight[tag] = line.split(b" ", 1)[0].decode("ascii", "replace").upper()
        return tag, tag.encode() + b" " + line + b"\r\n"

    def _non_sync_limit(self) -> int:
        """The largest literal that needs no ``+`` (RFC 7888: LITERAL+ any, LITERAL- 4096)."""
        if "LITERAL+" in self.capabilities:
            return MAX_LITERAL_PLUS
        if "LITERAL-" in self.capabilities:
            return 4096
        return -1

    @property
    def awaiting_continuation(self) -> bool:
        """Whether a command still has literal data to send after a ``+``."""
        return bool(self._chunks)

    def continue_command(self) -> bytes:
        """The next chunk of the current command, after the server's ``+``."""
        return b"".join(self.continue_parts())

    def continue_parts(self) -> list[bytes]:
        """:meth:`continue_command` as pieces (a large literal is not copied)."""
        if not self._chunks:
            raise LocalProtocolError("no command is waiting for a continuation")
        return self._chunks.pop(0)

    def abandon_command(self) -> None:
        """Forget the literal data of a command the server refused before its ``+``."""
        self._chunks.clear()

    def send_line(self, data: bytes) -> bytes:
        """A bare line inside a command (a SASL response, IDLE's ``DONE``), CRLF added."""
        if b"\r" in data or b"\n" in data:
            raise LocalProtocolError("a continuation line cannot contain CR or LF")
        return data + b"\r\n"

    def _check_allowed(self, name: str) -> None:
        allowed = ALLOWED[self.state]
        if allowed is not None and name not in allowed:
            raise LocalProtocolError(f"{name} is not allowed in the {self.state.value} state")
        if self.state is State.AUTHENTICATED and name in SELECTED_ONLY:
            raise LocalProtocolError(f"{name} needs a selected mailbox")

    def divert_large_literals(self, sink: LiteralSink | None) -> None:
        """Large literals' octets go to ``sink`` as they arrive, not to memory (see framing)."""
        self._framer.divert_large_literals(sink)

    def take_unread(self) -> bytes:
        """Octets received but not yet parsed (STARTTLS: must be none, RFC 2595 section 3.1)."""
        return self._framer.take_rest()

    def reset_after_tls(self) -> None:
        """Forget what was learned before TLS (RFC 3501 section 6.2.1)."""
        self.capabilities = frozenset()
