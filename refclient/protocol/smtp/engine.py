"""The sans-IO SMTP submission client engine (RFC 5321, RFC 6409), in the style of h11.

:meth:`SMTPEngine.send` turns a command into octets and remembers that a reply
is due; :meth:`SMTPEngine.next_event` pairs each complete reply with the
command it answers (the greeting first), in order, which is what PIPELINING
needs (RFC 2920: replies come in the order of the commands).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from refclient.findings import Finding
from refclient.protocol.errors import LocalProtocolError, RemoteProtocolError
from refclient.protocol.smtp.data import stuff, stuffed_pieces
from refclient.protocol.smtp.replies import Reply, ReplyReader


class NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = NeedData()


@dataclass(frozen=True)
class Answer:
    """A reply and the command it answers (``GREETING`` for the banner)."""

    command: str
    reply: Reply


class SMTPEngine:
    """One SMTP connection from the client's side."""

    def __init__(self, *, max_line: int = 64 * 1024) -> None:
        self._reader = ReplyReader(max_line=max_line)
        self._due: deque[str] = deque(["GREETING"])
        self._eof = False

    @property
    def findings(self) -> list[Finding]:
        return self._reader.findings

    def receive_data(self, data: bytes) -> None:
        """Octets from the server; ``b""`` means it closed the connection."""
        if data:
            self._reader.feed(data)
        else:
            self._eof = True

    def next_event(self) -> Answer | NeedData:
        """The next reply with its command, or :data:`NEED_DATA`."""
        reply = self._reader.next_reply()
        if reply is None:
            if self._eof:
                raise RemoteProtocolError("the server closed the connection")
            return NEED_DATA
        if not self._due:
            raise RemoteProtocolError(
                "reply without a command",
                line=str(reply).encode()[:200],
                reference="RFC 5321 section 4.2",
            )
        return Answer(self._due.popleft(), reply)

    @property
    def replies_due(self) -> int:
        """How many replies are still expected."""
        return len(self._due)

    def send(self, line: str) -> bytes:
        """A command line (without CRLF)."""
        if "\r" in line or "\n" in line:
            raise LocalProtocolError("an SMTP command cannot contain CR or LF")
        encoded = line.encode("utf-8")
        if len(encoded) > 510 and not line.upper().startswith("AUTH"):
            raise LocalProtocolError("command line longer than 512 octets (RFC 5321 4.5.3.1.4)")
        self._due.append(line.split(" ", 1)[0].upper())
        return encoded + b"\r\n"

    def send_auth_response(self, data: bytes) -> bytes:
        """A SASL response line after a 334 challenge; no new reply slot (the AUTH one waits)."""
        if b"\r" in data or b"\n" in data:
            raise LocalProtocolError("a SASL response cannot contain CR or LF")
        self._due.appendleft("AUTH")
        return data + b"\r\n"

    def send_data(self, message: bytes) -> bytes:
        """The message after ``354``: dot-stuffed and terminated (RFC 5321 section 4.5.2)."""
        self._due.append("DATA-END")
        return stuff(message)

    def send_data_pieces(self, message: bytes) -> Iterator[bytes]:
        """:meth:`send_data` in pieces of about :data:`~.data.PIECE_SIZE` octets, to send in turn.

        For a large message: neither the message nor its stuffed form is copied whole.
        """
        self._due.append("DATA-END")
        return stuffed_pieces(message)

    def send_bdat(self, chunk: bytes, *, last: bool) -> bytes:
        """``BDAT size [LAST]`` and the chunk's octets, unchanged (RFC 3030 section 2).

        No dot-stuffing and no terminator: the size says where the chunk ends,
        so any octet may travel (BINARYMIME). Each chunk gets its own reply.
        """
        self._due.append("BDAT")
        return f"BDAT {len(chunk)}{' LAST' if last else ''}\r\n".encode("ascii") + chunk

    def take_unread(self) -> bytes:
        """Octets received and not parsed (STARTTLS must find none: RFC 3207 section 4.2)."""
        return self._reader.take_rest()
