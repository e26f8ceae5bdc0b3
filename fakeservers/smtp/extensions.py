"""The SMTP commands aiosmtpd lacks or restricts, as ``smtp_VERB`` bodies for SubmissionSMTP.

aiosmtpd finds a command's implementation by its ``smtp_VERB`` method name,
its documented extension point; :class:`fakeservers.smtp.server.SubmissionSMTP`
defines those methods and delegates here:

- ``MAIL`` and ``RCPT`` parse the address as aiosmtpd does but hand every
  parameter, case kept, to the handler hooks, which validate them
  (:mod:`fakeservers.smtp.parameters`): aiosmtpd would refuse DSN,
  REQUIRETLS and BINARYMIME parameters and upper-case ENVID.
- ``BDAT`` (RFC 3030 section 2): a chunk of exactly the announced size,
  read even when the command is refused so the session stays in step;
  ``LAST`` delivers through the handler's ``handle_DATA`` hook.
- ``DATA`` is refused after BDAT in one transaction and for BINARYMIME
  (RFC 3030 sections 2 and 3) before aiosmtpd's own DATA runs.
- Commands that must end a pipelined group (RFC 2920 section 3.1: EHLO,
  DATA; RFC 3207 section 4.2: STARTTLS) are checked for octets the client
  sent after them without waiting for the reply; such a client is recorded
  as a finding (:mod:`fakeservers.smtp.record`) and served on.
"""

from __future__ import annotations

import io
import re
from typing import Any

from fakeservers.smtp.dot_data import CountedChunk, receive
from fakeservers.smtp.handler import SubmissionHandler
from fakeservers.smtp.record import ClientFinding

_BDAT = re.compile(r"(\d{1,18})(?: +(LAST))?", re.IGNORECASE)

#: Finding id and reference for octets pipelined after each group-ending command.
_GROUP_ENDS: dict[str, tuple[str, str, str]] = {
    "EHLO": (
        "smtp.client.pipelined-before-ehlo-reply",
        "RFC 2920 section 3.1",
        "the client sent commands before the EHLO reply told it whether PIPELINING is offered",
    ),
    "STARTTLS": (
        "smtp.client.pipelined-after-starttls",
        "RFC 3207 section 4.2, RFC 2920 section 3.1",
        "the client sent octets after STARTTLS before the TLS handshake (they are discarded)",
    ),
    "DATA": (
        "smtp.client.pipelined-after-data",
        "RFC 2920 section 3.1",
        "the client sent the message before the 354 reply to DATA",
    ),
}


def _handler(server: Any) -> SubmissionHandler:
    handler = server.event_handler
    assert isinstance(handler, SubmissionHandler)
    return handler


def _peer(server: Any) -> str:
    peer = server.session.peer if server.session is not None else None
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)


def note_group_end(server: Any, verb: str) -> None:
    """Record a finding if the client pipelined octets after ``verb`` (before its reply)."""
    if verb == "STARTTLS" and (not server.tls_context or server._tls_protocol is not None):
        return  # STARTTLS is refused here: nothing is lost, and the reply says so
    # Octets read from the socket and not yet parsed. aiosmtpd reads commands from
    # this StreamReader and itself clears its buffer after STARTTLS (RFC 3207 4.2).
    pending = bytes(getattr(server._reader, "_buffer", b""))
    if not pending:
        return
    ident, reference, message = _GROUP_ENDS[verb]
    _handler(server).record.add_finding(
        ClientFinding(ident, reference, message, _peer(server), pending[:200])
    )


async def mail(server: Any, arg: str | None) -> None:
    """MAIL FROM (RFC 5321 section 4.1.1.2); parameters are the ``handle_MAIL`` hook's."""
    if await server.check_helo_needed() or await server.check_auth_needed("MAIL"):
        return
    await _envelope_command(server, "MAIL", "FROM:", arg)


async def rcpt(server: Any, arg: str | None) -> None:
    """RCPT TO (RFC 5321 section 4.1.1.3); parameters are the ``handle_RCPT`` hook's."""
    if await server.check_helo_needed() or await server.check_auth_needed("RCPT"):
        return
    if not server.envelope.mail_from:
        await server.push("503 5.5.1 Error: need MAIL command")
        return
    await _envelope_command(server, "RCPT", "TO:", arg)


async def _envelope_command(server: Any, verb: str, keyword: str, arg: str | None) -> None:
    syntax = f"501 5.5.4 Syntax: {verb} {keyword}<address> [SP <parameters>]"
    rest = server._strip_command_keyword(keyword, arg) if arg else None
    if rest is None:
        await server.push(syntax)
        return
    address, parameters = server._getaddr(rest)
    if address is None:
        await server.push("553 5.1.3 Error: malformed address")
        return
    if not address or (parameters and not server.session.extended_smtp):
        await server.push(syntax)
        return
    if verb == "MAIL" and server.envelope.mail_from:
        await server.push("503 5.5.1 Error: nested MAIL command")
        return
    status = await server._call_handler_hook(verb, address, (parameters or "").split())
    await server.push(status)


async def data_allowed(server: Any) -> bool:
    """Whether DATA may run; refuses it after BDAT or with BINARYMIME (RFC 3030 2 and 3)."""
    note_group_end(server, "DATA")
    envelope = server.envelope
    if envelope is None or not envelope.rcpt_tos:
        return True  # aiosmtpd answers the bad sequence itself
    state = _handler(server).transaction(envelope)
    if state.chunks is not None:
        await server.push("503 5.5.1 DATA cannot follow BDAT in one transaction (RFC 3030)")
        return False
    if state.parameters.body == "BINARYMIME":
        await server.push("503 5.5.1 BODY=BINARYMIME needs BDAT, not DATA (RFC 3030 section 3)")
        return False
    return True


async def bdat(server: Any, arg: str | None) -> None:
    """BDAT size [LAST] (RFC 3030 section 2): one chunk, answered after it is read."""
    match = _BDAT.fullmatch((arg or "").strip())
    if match is None:
        # The chunk size is unknown, so its octets cannot be skipped: they will be
        # read as commands and refused one by one.
        await server.push("501 5.5.4 Syntax: BDAT <size> [LAST]")
        return
    size, last = int(match.group(1)), match.group(2) is not None
    handler = _handler(server)
    envelope = server.envelope
    state = handler.transaction(envelope)
    limit = server.data_size_limit
    error: str | None = None
    if "CHUNKING" not in handler.offered(server.session):
        error = "503 5.5.1 BDAT needs CHUNKING, which was not offered (say EHLO)"
    elif not envelope.mail_from or not envelope.rcpt_tos:
        error = "503 5.5.1 Error: need MAIL and RCPT before BDAT"
    elif state.failed is not None:
        error = state.failed
    elif limit and state.chunk_octets + size > limit:
        # RFC 3030 section 2 / RFC 1870: too much data; the rest of the transaction fails.
        error = "552 5.3.4 Error: Too much mail data"
        state.failed = "503 5.5.1 Transaction failed earlier; send RSET"
        state.chunks = io.BytesIO()
        state.chunk_octets = 0
    if error is None and state.chunks is None:
        # The stored copy starts with the trace fields (RFC 5321 section 4.4); the chunks
        # are written behind them as they arrive and handed over at LAST without a copy.
        state.chunks = io.BytesIO()
        state.chunks.write(handler.trace_fields(server.session, envelope))
    # Read even when refused, so that the session stays in step (RFC 3030 section 2).
    if not await receive(server, CountedChunk(size, state.chunks if error is None else None)):
        if server.transport is not None:
            server.transport.close()
        return  # the connection ended inside the chunk
    if error is not None:
        if last and envelope.mail_from:
            server._set_post_data_state()
        await server.push(error)
        return
    state.chunk_octets += size
    if not last:
        await server.push(f"250 2.0.0 {size} octets received")
        return
    assert state.chunks is not None  # written above
    stored = state.chunks.getvalue()
    content = memoryview(stored)[len(stored) - state.chunk_octets :]
    envelope.original_content = envelope.content = content
    status = await server._call_handler_hook("DATA")
    server._set_post_data_state()
    await server.push(status)
