"""MAIL FROM and RCPT TO parameters of the SMTP service extensions the submission server offers.

aiosmtpd knows SIZE, BODY=7BIT/8BITMIME and SMTPUTF8 and refuses every other
parameter, and it upper-cases values that are case-sensitive (an ENVID is
the client's own text). The submission server therefore parses the
parameters here, case kept, for every extension it offers:

- SIZE (RFC 1870 section 6): the declared size, refused above the limit;
- BODY (RFC 6152, RFC 3030 section 3): 7BIT, 8BITMIME or BINARYMIME;
- SMTPUTF8 (RFC 6531 section 3.4), no value;
- RET and ENVID on MAIL, NOTIFY and ORCPT on RCPT (RFC 3461 section 4);
- REQUIRETLS (RFC 8689 section 4.1), no value, only offered under TLS;
- AUTH= on MAIL (RFC 4954 section 5), accepted and ignored.

A parameter of an extension the session was not offered is refused with
``555`` (RFC 5321 section 4.1.1.11); a malformed value with ``501 5.5.4``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

#: RFC 3461 section 4.4: an ENVID is at most 100 characters (in its xtext form).
MAX_ENVID = 100
#: RFC 3461 section 4.2: the NOTIFY keywords besides NEVER.
NOTIFY_KEYWORDS = frozenset({"SUCCESS", "FAILURE", "DELAY"})

_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
_XTEXT = re.compile(r"(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})*")
_ADDR_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
_UNICODE_ESCAPE = re.compile(r"\\x\{([0-9A-Fa-f]{2,6})\}")


class ParameterError(Exception):
    """A parameter is refused; ``reply`` is the whole SMTP reply to send."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


@dataclass(frozen=True)
class MailParameters:
    """What MAIL FROM declared."""

    size: int | None = None
    body: str = "7BIT"
    smtputf8: bool = False
    #: RFC 3461 section 4.3: FULL or HDRS, None when not given.
    ret: str | None = None
    #: RFC 3461 section 4.4: the envelope identifier, xtext decoded.
    envid: str | None = None
    requiretls: bool = False


@dataclass(frozen=True)
class RecipientParameters:
    """One accepted recipient and what its RCPT TO declared."""

    address: str
    #: RFC 3461 section 4.1: ``("NEVER",)`` or some of SUCCESS, FAILURE, DELAY; None if absent.
    notify: tuple[str, ...] | None = None
    #: RFC 3461 section 4.2: (address type, decoded original recipient); None if absent.
    orcpt: tuple[str, str] | None = None


def decode_xtext(text: str) -> str:
    """RFC 3461 section 4: ``+XX`` is the octet of hex XX; other characters stand for themselves."""
    if _XTEXT.fullmatch(text) is None:
        raise ValueError(f"not xtext: {text[:40]!r}")
    return re.sub(r"\+([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), text)


def split_parameters(options: Sequence[str]) -> dict[str, str | None]:
    """``KEYWORD[=value]`` items by upper-case keyword; duplicates and empty values refused."""
    found: dict[str, str | None] = {}
    for option in options:
        keyword, equals, value = option.partition("=")
        if _KEYWORD.fullmatch(keyword) is None or (equals and not value):
            raise ParameterError(f"501 5.5.4 Malformed parameter {option[:40]}")
        name = keyword.upper()
        if name in found:
            raise ParameterError(f"501 5.5.4 Parameter {name} given twice")
        found[name] = value if equals else None
    return found


def _flag(name: str, value: str | None) -> bool:
    if value is not None:
        raise ParameterError(f"501 5.5.4 {name} takes no value")
    return True


def _unknown(verb: str, name: str) -> ParameterError:
    return ParameterError(f"555 5.5.4 {verb} parameter {name} not recognized or not implemented")


def parse_mail_parameters(
    options: Sequence[str], *, offered: Collection[str], size_limit: int | None
) -> MailParameters:
    """MAIL FROM parameters (keywords of ``offered``, the EHLO keywords of this session)."""
    found = split_parameters(options)
    size: int | None = None
    body = "7BIT"
    smtputf8 = requiretls = False
    ret: str | None = None
    envid: str | None = None
    for name, value in found.items():
        if name == "SIZE" and "SIZE" in offered:
            if value is None or not value.isascii() or not value.isdigit() or len(value) > 20:
                raise ParameterError("501 5.5.4 SIZE needs a decimal number of octets")
            size = int(value)
            if size_limit and size > size_limit:
                # RFC 1870 section 6.1: 552 for a declared size above the fixed maximum.
                raise ParameterError("552 5.3.4 Message size exceeds fixed maximum message size")
        elif name == "BODY" and "8BITMIME" in offered:
            body = (value or "").upper()
            allowed = {"7BIT", "8BITMIME"} | ({"BINARYMIME"} if "BINARYMIME" in offered else set())
            if body not in allowed:
                raise ParameterError(f"501 5.5.4 BODY must be one of {', '.join(sorted(allowed))}")
        elif name == "SMTPUTF8" and "SMTPUTF8" in offered:
            smtputf8 = _flag(name, value)
        elif name == "REQUIRETLS" and "REQUIRETLS" in offered:
            requiretls = _flag(name, value)
        elif name == "RET" and "DSN" in offered:
            ret = (value or "").upper()
            if ret not in ("FULL", "HDRS"):
                raise ParameterError("501 5.5.4 RET must be FULL or HDRS (RFC 3461 section 4.3)")
        elif name == "ENVID" and "DSN" in offered:
            if value is None or len(value) > MAX_ENVID:
                raise ParameterError("501 5.5.4 ENVID must be 1 to 100 characters of xtext")
            try:
                envid = decode_xtext(value)
            except ValueError:
                raise ParameterError("501 5.5.4 ENVID is not xtext (RFC 3461 section 4)") from None
        elif name == "AUTH" and "AUTH" in offered:
            pass  # RFC 4954 section 5: a submission server may ignore it
        else:
            raise _unknown("MAIL FROM", name)
    if body == "BINARYMIME" and "CHUNKING" not in offered:
        raise ParameterError("501 5.5.4 BINARYMIME needs CHUNKING (RFC 3030 section 3)")
    return MailParameters(size, body, smtputf8, ret, envid, requiretls)


def _notify(value: str | None) -> tuple[str, ...]:
    """RFC 3461 section 4.1: NEVER alone, or a comma list of SUCCESS, FAILURE, DELAY."""
    words = tuple((value or "").upper().split(","))
    if words == ("NEVER",):
        return words
    if not words or any(w not in NOTIFY_KEYWORDS for w in words) or len(set(words)) != len(words):
        raise ParameterError(
            "501 5.5.4 NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY "
            "(RFC 3461 section 4.1)"
        )
    return words


def _orcpt(value: str | None, *, smtputf8: bool) -> tuple[str, str]:
    """RFC 3461 section 4.2 ``addr-type ; xtext``; RFC 6533 section 3 adds ``utf-8``."""
    addr_type, semicolon, encoded = (value or "").partition(";")
    if not semicolon or _ADDR_TYPE.fullmatch(addr_type) is None or not encoded:
        raise ParameterError("501 5.5.4 ORCPT must be addr-type;xtext (RFC 3461 section 4.2)")
    kind = addr_type.lower()
    try:
        if kind == "utf-8" and not encoded.isascii():
            if not smtputf8:  # RFC 6533 section 3: raw UTF-8 only in an SMTPUTF8 transaction
                raise ValueError("UTF-8 without SMTPUTF8")
            original = encoded
        else:
            original = decode_xtext(encoded)
        if kind == "utf-8":  # utf-8-addr-xtext: \x{HEX} stands for a code point
            original = _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), original)
    except (ValueError, OverflowError):
        raise ParameterError("501 5.5.4 ORCPT value is not valid xtext") from None
    return kind, original


def parse_rcpt_parameters(
    address: str, options: Sequence[str], *, offered: Collection[str], smtputf8: bool
) -> RecipientParameters:
    """RCPT TO parameters: NOTIFY and ORCPT when DSN is offered (RFC 3461 section 4)."""
    found = split_parameters(options)
    notify: tuple[str, ...] | None = None
    orcpt: tuple[str, str] | None = None
    for name, value in found.items():
        if name == "NOTIFY" and "DSN" in offered:
            notify = _notify(value)
        elif name == "ORCPT" and "DSN" in offered:
            orcpt = _orcpt(value, smtputf8=smtputf8)
        else:
            raise _unknown("RCPT TO", name)
    return RecipientParameters(address, notify, orcpt)


def needs_smtputf8(address: str) -> bool:
    """Whether an address has non-ASCII characters (RFC 6531 section 3.3)."""
    return not address.isascii()
