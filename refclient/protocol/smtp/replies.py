"""SMTP replies (RFC 5321 section 4.2) and enhanced status codes (RFC 3463).

A reply is one or more lines ``ddd-text`` ending with ``ddd text`` (or a
bare ``ddd``); all lines carry the same code. :class:`ReplyReader` cuts the
server's byte stream into replies with bounded memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from refclient.findings import Finding, Severity
from refclient.protocol.errors import RemoteProtocolError
from refclient.protocol.lines import LineBuffer

_LINE = re.compile(rb"([2-5][0-9][0-9])([ -]|$)(.*)", re.DOTALL)
_ENHANCED = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})(?:\s|$)")


@dataclass(frozen=True)
class Reply:
    """One complete reply."""

    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        """All lines joined by newlines."""
        return "\n".join(self.lines)

    @property
    def enhanced(self) -> str | None:
        """The RFC 3463 status code at the start of the first line, e.g. ``5.1.1``."""
        match = _ENHANCED.match(self.lines[0]) if self.lines else None
        return ".".join(match.groups()) if match else None

    @property
    def positive(self) -> bool:
        return 200 <= self.code < 400

    def __str__(self) -> str:
        return f"{self.code} {self.lines[0] if self.lines else ''}".rstrip()


class ReplyReader:
    """Incremental reply parser."""

    def __init__(self, *, max_line: int) -> None:
        self._input = LineBuffer(max_line=max_line, reference="RFC 5321 section 4.5.3.1.5")
        self._code: int | None = None
        self._lines: list[str] = []
        self.findings: list[Finding] = []

    def feed(self, data: bytes) -> None:
        self._input.feed(data)

    @property
    def idle(self) -> bool:
        """Whether nothing of a reply is pending."""
        return not self._input.buffer and self._code is None

    def take_rest(self) -> bytes:
        """Everything received and not parsed (for the STARTTLS injection check)."""
        return self._input.take_rest()

    def next_reply(self) -> Reply | None:
        """The next complete reply, or None until more octets arrive."""
        while True:
            found = self._input.next_line()
            if found is None:
                return None
            raw, bare_lf = found
            if bare_lf:
                self.findings.append(
                    Finding(
                        id="smtp.bare-lf",
                        severity=Severity.WARNING,
                        reference="RFC 5321 section 2.3.8",
                        message="reply line ended with LF instead of CRLF",
                        line=raw[:200],
                    )
                )
            reply = self._line(raw)
            if reply is not None:
                return reply

    def _line(self, raw: bytes) -> Reply | None:
        match = _LINE.fullmatch(raw)
        if match is None:
            raise RemoteProtocolError(
                "malformed reply line", line=raw[:200], reference="RFC 5321 section 4.2"
            )
        code = int(match.group(1))
        if self._code is not None and code != self._code:
            raise RemoteProtocolError(
                f"reply code changed from {self._code} to {code} inside a multi-line reply",
                line=raw[:200],
                reference="RFC 5321 section 4.2.1",
            )
        self._code = code
        self._lines.append(match.group(3).decode("utf-8", "replace"))
        if match.group(2) == b"-":
            return None
        reply = Reply(code, tuple(self._lines))
        self._code, self._lines = None, []
        return reply


def parse_ehlo(reply: Reply) -> dict[str, str]:
    """The extensions of an EHLO reply: keyword (upper case) -> parameters (RFC 5321 4.1.1.1)."""
    extensions: dict[str, str] = {}
    for line in reply.lines[1:]:
        keyword, _, parameters = line.strip().partition(" ")
        if keyword:
            extensions[keyword.upper()] = parameters.strip()
    return extensions
