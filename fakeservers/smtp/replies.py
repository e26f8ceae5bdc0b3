"""Enhanced status codes (RFC 2034, RFC 3463) on every reply the submission server sends.

The server advertises ENHANCEDSTATUSCODES, so every reply except the
greeting and the HELO/EHLO replies must carry a ``class.subject.detail``
code (RFC 2034 section 3). Our own handler hooks write replies with codes;
aiosmtpd writes many of its own without them ("250 OK", "503 Error: need
RCPT command", "552 Error: Too much mail data"). :func:`with_enhanced_code`
adds the RFC 3463 code that fits, and leaves everything else untouched.
"""

from __future__ import annotations

import re

_ALREADY_CODED = re.compile(r"^\d{3}[ -][245]\.\d{1,3}\.\d{1,3}(?: |$)")
_REPLY = re.compile(r"^(\d{3}) (.*)$", re.DOTALL)

#: Codes for aiosmtpd's failure replies, by reply code (RFC 3463 section 3, RFC 5248).
_FAILURE_CODES: dict[str, str] = {
    "421": "4.7.0",  # service closing
    "451": "4.3.0",  # local error in processing
    "454": "4.7.0",  # TLS not available
    "500": "5.5.2",  # syntax error, command unrecognized, line too long
    "501": "5.5.4",  # invalid command arguments
    "502": "5.5.1",  # command not implemented
    "503": "5.5.1",  # bad sequence of commands
    "504": "5.5.4",  # unrecognized authentication type / parameter
    "530": "5.7.0",  # must issue STARTTLS / authentication required
    "535": "5.7.8",  # authentication credentials invalid
    "538": "5.7.11",  # encryption required for the mechanism
    "552": "5.3.4",  # message too big for system
    "553": "5.1.3",  # bad address syntax
    "554": "5.7.0",  # refused for lack of security
    "555": "5.5.4",  # MAIL/RCPT parameters not recognized
}

#: aiosmtpd's success replies that are not HELO/EHLO replies.
_SUCCESS_PREFIXES: tuple[str, ...] = (
    "250 OK",
    "221 ",
    "220 Ready to start TLS",
    "250 Supported commands",
    "250 Syntax:",
    "252 ",
)


def with_enhanced_code(status: str) -> str:
    """``status`` with an enhanced status code inserted after the reply code, if it lacks one.

    Failure replies (4xx, 5xx) always get one; success replies only when they
    are one of aiosmtpd's known non-greeting, non-EHLO texts.
    """
    if _ALREADY_CODED.match(status):
        return status
    reply = _REPLY.match(status)
    if reply is None:  # a continuation line ("250-...") or not a reply at all
        return status
    code, text = reply.groups()
    if code[0] in "45":
        return f"{code} {_FAILURE_CODES.get(code, code[0] + '.0.0')} {text}"
    if status.startswith(_SUCCESS_PREFIXES):
        return f"{code} {code[0]}.0.0 {text}"
    return status
