"""The sans-IO POP3 client engine (RFC 1939, 2449, 5034), in the style of h11.

Each command says whether a positive reply carries a multi-line body (LIST,
UIDL, TOP, RETR, CAPA without an argument...); the engine reads that body to
its terminating ``.`` line and undoes the dot-stuffing exactly (RFC 1939
section 3), keeping the CRLF line ends, so RETR returns the message's octets.
Replies pair with commands in order, which is what PIPELINING (RFC 2449) needs.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

from refclient.findings import Finding, Severity
from refclient.protocol.errors import LocalProtocolError, RemoteProtocolError
from refclient.protocol.lines import LineBuffer

_STATUS = re.compile(rb"(\+OK|-ERR)(?: (.*))?", re.DOTALL)
_CODE = re.compile(r"\[([A-Z0-9/-]+)\]\s*(.*)", re.DOTALL)


class NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = NeedData()


@dataclass(frozen=True)
class Status:
    """A reply's status line: ``+OK text`` or ``-ERR [CODE] text`` (RFC 2449 section 8)."""

    command: str
    ok: bool
    text: str
    code: str | None = None
    #: The body of a multi-line reply, dot-unstuffed, CRLF line ends; None for one-line replies.
    body: bytes | None = None

    def __str__(self) -> str:
        code = f"[{self.code}] " if self.code else ""
        return f"{'+OK' if self.ok else '-ERR'} {code}{self.text}".rstrip()


@dataclass(frozen=True)
class Challenge:
    """``+ base64``: a SASL challenge during AUTH (RFC 5034 section 4)."""

    data: bytes


class POP3Engine:
    """One POP3 connection from the client's side."""

    def __init__(self, *, max_line: int = 64 * 1024, max_body: int = 256 * 1024 * 1024) -> None:
        self._max_body = max_body
        self._lines = LineBuffer(max_line=max_line, reference="RFC 2449 section 4")
        self._due: deque[tuple[str, bool]] = deque([("GREETING", False)])
        self._status: Status | None = None  # a +OK whose body is still arriving
        self._eof = False
        self.findings: list[Finding] = []

    def receive_data(self, data: bytes) -> None:
        """Octets from the server; ``b""`` means it closed the connection."""
        if data:
            self._lines.feed(data)
        else:
            self._eof = True

    def next_event(self) -> Status | Challenge | NeedData:
        """The next reply (with its body when multi-line), a SASL challenge, or NEED_DATA."""
        event = self._body() if self._status is not None else self._status_line()
        if event is NEED_DATA and self._eof:
            raise RemoteProtocolError(
                "the server closed the connection in the middle of a reply",
                line=bytes(self._lines.buffer[:200]),
            )
        return event

    def _status_line(self) -> Status | Challenge | NeedData:
        next_line = self._lines.next_line()
        if next_line is None:
            return NEED_DATA
        line, bare_lf = next_line
        if bare_lf:
            self._note("pop3.bare-lf", "reply line ended with LF instead of CRLF", line)
        if not self._due:
            raise RemoteProtocolError("reply without a command", line=line[:200])
        command, multiline = self._due[0]
        if line.startswith(b"+ ") or line == b"+":
            if command != "AUTH":
                raise RemoteProtocolError("continuation outside AUTH", line=line[:200])
            return Challenge(line[2:])
        match = _STATUS.fullmatch(line)
        if match is None:
            raise RemoteProtocolError(
                "reply is neither +OK nor -ERR", line=line[:200], reference="RFC 1939 section 3"
            )
        self._due.popleft()
        ok = match.group(1) == b"+OK"
        text = (match.group(2) or b"").decode("utf-8", "replace")
        code = None
        if not ok and (found := _CODE.match(text)):
            code, text = found.group(1), found.group(2)
        status = Status(command, ok, text, code)
        if ok and multiline:
            self._status = status
            return self._body()
        return status

    def _body(self) -> Status | NeedData:
        assert self._status is not None
        buffer = self._lines.buffer
        if buffer.startswith(b".\r\n"):
            end, skip = 0, 3
        else:
            found = buffer.find(b"\r\n.\r\n", max(0, self._lines.scanned - 4))
            if found < 0:
                if len(buffer) > self._max_body:
                    raise RemoteProtocolError(
                        f"multi-line reply larger than {self._max_body} octets",
                        line=bytes(buffer[:200]),
                    )
                self._lines.remember_scanned(len(buffer))
                return NEED_DATA
            end, skip = found + 2, 3  # keep the body's last CRLF, drop ".\r\n"
        body = bytes(buffer[:end])
        self._lines.consume(end + skip)
        if body.startswith(b".."):
            body = body[1:]
        body = body.replace(b"\r\n..", b"\r\n.")
        status = Status(self._status.command, True, self._status.text, None, body)
        self._status = None
        return status

    def _note(self, ident: str, message: str, line: bytes) -> None:
        self.findings.append(
            Finding(
                id=ident,
                severity=Severity.WARNING,
                reference="RFC 1939 section 3",
                message=message,
                line=line[:200],
            )
        )

    def send(self, line: str, *, multiline: bool = False) -> bytes:
        """A command line (without CRLF); ``multiline`` when +OK brings a body."""
        if "\r" in line or "\n" in line:
            raise LocalProtocolError("a POP3 command cannot contain CR or LF")
        self._due.append((line.split(" ", 1)[0].upper(), multiline))
        return line.encode("utf-8") + b"\r\n"

    def send_auth_response(self, data: bytes) -> bytes:
        """A SASL response line after a ``+`` challenge."""
        if b"\r" in data or b"\n" in data:
            raise LocalProtocolError("a SASL response cannot contain CR or LF")
        return data + b"\r\n"

    def take_unread(self) -> bytes:
        """Octets received and not parsed (STLS must find none: RFC 2595 section 4)."""
        return self._lines.take_rest()
