"""MAIL FROM and RCPT TO parameters the reference client sends (RFC 3461, 3030, 8689).

Pure functions and values: the session decides, from the server's EHLO
keywords, which of them it may send.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from refclient.protocol.errors import LocalProtocolError

#: RFC 3461 section 4.1: the NOTIFY keywords besides NEVER.
NOTIFY_KEYWORDS = frozenset({"SUCCESS", "FAILURE", "DELAY"})
#: RFC 3461 section 4.4: an ENVID is at most 100 characters of xtext.
MAX_ENVID = 100

#: The ASCII octets but NUL, CR and LF: what does not decide the body type (RFC 3030, 6152).
_SEVEN_BIT_TEXT = bytes(octet for octet in range(128) if octet not in b"\0\r\n")
_EIGHT_BIT = bytes(range(128, 256))
_CRLF = b"\r\n"
#: A CR followed by something other than LF (at the very end, the first pass finds it).
_CR_NOT_LF = re.compile(rb"\r[^\n]")


def encode_xtext(text: str) -> str:
    """RFC 3461 section 4: ``+`` and ``=`` and octets outside 33..126 become ``+XX``.

    A non-ASCII character becomes ``\\x{HEX}``, RFC 6533 section 3's
    utf-8-addr-xtext (only meaningful with the ``utf-8`` address type).
    """
    return "".join(
        char
        if 33 <= ord(char) <= 126 and char not in "+="
        else (f"+{ord(char):02X}" if char.isascii() else f"\\x{{{ord(char):X}}}")
        for char in text
    )


def body_type(message: bytes) -> str:
    """What ``message`` needs to travel: ``7BIT``, ``8BITMIME`` or ``BINARYMIME``.

    ``BINARYMIME`` for a NUL, bare CR or bare LF (RFC 3030 section 3: BDAT
    only); ``8BITMIME`` for octets over 127 in CRLF lines without NUL (RFC
    6152); ``7BIT`` otherwise. Two or three C-speed passes over a large
    message, where a look-around regex took seconds on 50 MB and three counts
    160 ms. The first keeps only the NUL, CR, LF and 8-bit octets, in order:
    8-bit data shows in it at once, and without NUL and bare endings its
    line-ending octets are CR LF pairs. Given that, a CR that some octet
    other than LF follows is the one flaw left (a bare CR with a bare LF
    later), and a search that looks only at each CR finds it.
    """
    kept = message.translate(None, _SEVEN_BIT_TEXT)
    eight_bit = not kept.isascii()
    endings = kept.translate(None, _EIGHT_BIT) if eight_bit else kept
    if endings != _CRLF * (len(endings) // 2) or _CR_NOT_LF.search(message) is not None:
        return "BINARYMIME"
    return "8BITMIME" if eight_bit else "7BIT"


def needs_binarymime(message: bytes) -> bool:
    """Whether ``message`` cannot travel by DATA: NUL, bare CR or bare LF (RFC 3030 section 3).

    Such content needs BODY=BINARYMIME and BDAT; 8BITMIME (RFC 6152) only
    allows 8-bit octets in CRLF-ended lines without NUL.
    """
    return body_type(message) == "BINARYMIME"


@dataclass(frozen=True)
class DeliveryStatusRequest:
    """What to ask for in delivery status notifications (RFC 3461 section 4)."""

    #: ``FULL`` or ``HDRS``: how much of the message a DSN returns.
    ret: str | None = None
    #: The envelope identifier echoed in every DSN.
    envid: str | None = None
    #: ``("NEVER",)`` or some of SUCCESS, FAILURE, DELAY; the same for every recipient.
    notify: tuple[str, ...] | None = None
    #: Send each recipient's own address as ORCPT (``rfc822``, or ``utf-8`` if non-ASCII).
    orcpt: bool = False

    def __post_init__(self) -> None:
        if self.ret is not None and self.ret.upper() not in ("FULL", "HDRS"):
            raise LocalProtocolError("RET must be FULL or HDRS (RFC 3461 section 4.3)")
        if self.envid is not None and not 0 < len(encode_xtext(self.envid)) <= MAX_ENVID:
            raise LocalProtocolError("ENVID must be 1 to 100 characters of xtext (RFC 3461 4.4)")
        if self.notify is not None:
            words = tuple(word.upper() for word in self.notify)
            never_alone = words == ("NEVER",)
            if not never_alone and (
                not words or not set(words) <= NOTIFY_KEYWORDS or len(set(words)) != len(words)
            ):
                raise LocalProtocolError(
                    "NOTIFY is NEVER alone or some of SUCCESS, FAILURE, DELAY (RFC 3461 4.1)"
                )

    def mail_parameters(self) -> list[str]:
        """RET and ENVID for MAIL FROM."""
        found = []
        if self.ret is not None:
            found.append(f"RET={self.ret.upper()}")
        if self.envid is not None:
            found.append(f"ENVID={encode_xtext(self.envid)}")
        return found

    def rcpt_parameters(self, recipient: str) -> list[str]:
        """NOTIFY and ORCPT for one RCPT TO."""
        found = []
        if self.notify is not None:
            found.append("NOTIFY=" + ",".join(word.upper() for word in self.notify))
        if self.orcpt:
            kind = "rfc822" if recipient.isascii() else "utf-8"
            found.append(f"ORCPT={kind};{encode_xtext(recipient)}")
        return found
