"""The SMTP extensions aiosmtpd lacks, added through its documented extension points.

- DSN (RFC 3461): ``RET`` and ``ENVID`` on MAIL, ``NOTIFY`` and ``ORCPT`` on RCPT.
- REQUIRETLS (RFC 8689): a MAIL parameter, accepted only under TLS.
- BINARYMIME (RFC 3030): ``BODY=BINARYMIME``, which needs BDAT.
- CHUNKING (RFC 3030): the BDAT command, whose octets follow the command line
  unframed; :class:`ChunkReader` sets them aside as they arrive so that
  aiosmtpd's line reader never sees them.

aiosmtpd answers ``555`` to any MAIL or RCPT parameter it does not know, so
the ``smtp_MAIL`` and ``smtp_RCPT`` overrides take ours out of the argument,
check them, keep them for the transaction, and pass the rest on.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from dataclasses import dataclass, field

#: RFC 3461 section 4.2: NOTIFY values; NEVER stands alone.
NOTIFY_VALUES = frozenset({"NEVER", "SUCCESS", "FAILURE", "DELAY"})
#: RFC 3461 section 4: xtext, printable US-ASCII with ``+XX`` escapes.
_XTEXT = re.compile(r"^(?:[!-*,-<>-~]|\+[0-9A-F]{2})+$")
_BDAT = re.compile(rb"^BDAT +([0-9]{1,18})( +LAST)? *\r?\n", re.IGNORECASE)


class ParameterError(ValueError):
    """A parameter is malformed; the message is the reply to send."""


@dataclass
class Transaction:
    """What one mail transaction declared beyond what aiosmtpd keeps."""

    body: str = "7BIT"
    ret: str | None = None
    envid: str | None = None
    requiretls: bool = False
    #: Recipient (as given) -> its NOTIFY and ORCPT.
    recipients: dict[str, dict[str, str]] = field(default_factory=dict)
    #: BDAT chunks received so far.
    chunks: bytearray = field(default_factory=bytearray)
    #: Set after a BDAT was refused: the rest of the transaction's chunks are discarded.
    failed: bool = False

    def envelope(self) -> dict[str, str]:
        """What to store with the delivered message."""
        found = {"body": self.body}
        if self.ret:
            found["ret"] = self.ret
        if self.envid:
            found["envid"] = self.envid
        if self.requiretls:
            found["requiretls"] = "yes"
        return found


def take_mail_parameters(arg: str, transaction: Transaction, *, tls: bool) -> str:
    """``arg`` of MAIL without our parameters, which go into ``transaction``."""
    kept = []
    for word in arg.split(" "):
        name, _, value = word.partition("=")
        upper = name.upper()
        if upper == "BODY" and value.upper() == "BINARYMIME":
            transaction.body = "BINARYMIME"
        elif upper == "BODY" and value.upper() in ("7BIT", "8BITMIME"):
            transaction.body = value.upper()
            kept.append(word)
        elif upper == "RET":
            if value.upper() not in ("FULL", "HDRS") or transaction.ret:
                raise ParameterError("501 5.5.4 RET must be FULL or HDRS, once (RFC 3461 4.3)")
            transaction.ret = value.upper()
        elif upper == "ENVID":
            if not _XTEXT.match(value) or len(value) > 100 or transaction.envid:
                raise ParameterError("501 5.5.4 ENVID must be xtext of 100 octets at most")
            transaction.envid = value
        elif upper == "REQUIRETLS" and not value:
            if not tls:
                raise ParameterError("530 5.7.10 REQUIRETLS needs a TLS session (RFC 8689 4.1)")
            transaction.requiretls = True
        else:
            kept.append(word)
    return " ".join(kept)


def take_rcpt_parameters(arg: str, transaction: Transaction) -> str:
    """``arg`` of RCPT without NOTIFY and ORCPT, which go into ``transaction``."""
    kept, found = [], {}
    for word in arg.split(" "):
        name, _, value = word.partition("=")
        upper = name.upper()
        if upper == "NOTIFY":
            values = {v.upper() for v in value.split(",")}
            if not values <= NOTIFY_VALUES or ("NEVER" in values and len(values) > 1):
                raise ParameterError(
                    "501 5.5.4 NOTIFY is NEVER or a list of SUCCESS, FAILURE, DELAY"
                )
            found["notify"] = ",".join(sorted(values))
        elif upper == "ORCPT":
            kind, semicolon, address = value.partition(";")
            if not semicolon or not kind or not _XTEXT.match(address):
                raise ParameterError("501 5.5.4 ORCPT is addr-type;xtext (RFC 3461 4.2)")
            found["orcpt"] = value
        else:
            kept.append(word)
    rest = " ".join(kept)
    address = rest.split(" ", 1)[0]
    transaction.recipients[address.strip("<>").removeprefix("TO:").strip("<>")] = found
    return rest


@dataclass
class Chunk:
    """One BDAT chunk: its declared size, whether it is the last, and its octets."""

    size: int
    last: bool
    #: Too big to keep: its octets are counted and dropped (the command is refused).
    discard: bool = False
    data: bytearray = field(default_factory=bytearray)
    received: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)


class ChunkReader:
    """Splits the client's octets into command lines for aiosmtpd and BDAT chunks for us.

    Fed every octet the client sends (``data_received``); returns what
    aiosmtpd may read. A ``BDAT n`` line passes on; the ``n`` octets after it
    are kept here for :meth:`take`. While a DATA body is being sent (after a
    354 reply, until the ``.`` line) everything passes on untouched. Memory is
    bounded: a chunk over ``max_chunk`` is counted, not kept.
    """

    def __init__(self, *, max_chunk: int) -> None:
        self.max_chunk = max_chunk
        self._line = bytearray()
        self._chunks: deque[Chunk] = deque()
        self._filling: Chunk | None = None
        self._in_data = False
        self._tail = b""

    def start_data(self) -> None:
        """A 354 reply went out: the next octets are a DATA body."""
        self._in_data = True
        self._tail = b"\r\n"  # the body starts right after the DATA line's CRLF

    def feed(self, data: bytes) -> bytes:
        """Everything aiosmtpd should see of ``data``."""
        passed = bytearray()
        rest = bytes(data)
        while rest:
            if self._in_data:
                window = self._tail + rest
                end = window.find(b"\r\n.\r\n")
                if end < 0:
                    passed += rest
                    self._tail = window[-4:]
                    break
                cut = end + 5 - len(self._tail)
                passed += rest[:cut]
                rest = rest[cut:]
                self._in_data, self._tail = False, b""
            elif self._filling is not None:
                chunk = self._filling
                taken = min(chunk.size - chunk.received, len(rest))
                if not chunk.discard:
                    chunk.data += rest[:taken]
                chunk.received += taken
                rest = rest[taken:]
                if chunk.received == chunk.size:
                    chunk.done.set()
                    self._filling = None
            else:
                newline = rest.find(b"\n")
                if newline < 0:
                    self._line += rest
                    passed += rest
                    break
                line = bytes(self._line) + rest[: newline + 1]
                passed += rest[: newline + 1]
                rest = rest[newline + 1 :]
                self._line.clear()
                match = _BDAT.match(line)
                if match:
                    size = int(match.group(1))
                    chunk = Chunk(size=size, last=bool(match.group(2)))
                    chunk.discard = size > self.max_chunk
                    self._chunks.append(chunk)
                    if size == 0:
                        chunk.done.set()
                    else:
                        self._filling = chunk
        return bytes(passed)

    async def take(self) -> Chunk:
        """The next BDAT chunk, once all its octets have arrived.

        Its command line reached aiosmtpd only after :meth:`feed` had queued
        it, so there is always one waiting when ``smtp_BDAT`` asks.
        """
        if not self._chunks:
            raise RuntimeError("BDAT without a chunk: the reader and aiosmtpd disagree")
        chunk = self._chunks[0]
        await chunk.done.wait()
        self._chunks.popleft()
        return chunk
