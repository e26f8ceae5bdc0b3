"""A raw IMAP client over a real socket, for what imaplib cannot send or see."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable

ALICE = ("alice@example.test", "alice-pass")


class RawImap:
    """Lines in, lines out; TLS verified against the test CA when ``context`` is given."""

    def __init__(self, port: int, context: ssl.SSLContext | None) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if context is not None:
            sock = context.wrap_socket(sock, server_hostname="127.0.0.1")
        self.sock = sock
        self.reader = sock.makefile("rb")
        self.greeting = self.line()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        return self.reader.readline()

    def until_tagged(self, tag: bytes) -> list[bytes]:
        """Every line up to and including the tagged response for ``tag``."""
        lines: list[bytes] = []
        while True:
            line = self.line()
            if not line:
                raise ConnectionError(f"closed before the response to {tag!r}: {lines!r}")
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines

    def command(self, tag: bytes, text: bytes) -> list[bytes]:
        self.send(tag + b" " + text + b"\r\n")
        return self.until_tagged(tag)

    def login(self) -> None:
        assert self.command(b"L", b"LOGIN %s %s" % tuple(s.encode() for s in ALICE))[-1].startswith(
            b"L OK"
        )

    def at_eof(self) -> bool:
        """Whether the server has closed the connection (after any remaining lines)."""
        return self.reader.read() == b""

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


RawFactory = Callable[..., RawImap]
