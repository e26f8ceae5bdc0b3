"""Commands of the not-authenticated state: STARTTLS, LOGIN, AUTHENTICATE (RFC 3501 6.2).

Credentials never travel in clear text: on the STARTTLS port, LOGIN and
AUTHENTICATE are refused with ``NO [PRIVACYREQUIRED]`` (RFC 5530) until TLS is
up, which CAPABILITY announces as LOGINDISABLED (RFC 3501 section 6.2.3)
and by listing no AUTH= mechanism (RFC 3501 section 6.2.1).
"""

from __future__ import annotations

import base64

from fakeservers import sasl
from fakeservers.connection import LineTooLong
from fakeservers.imap.parser import Authenticate, Command, Login
from fakeservers.imap.session import Reply, Session, State, bad, no, ok
from fakeservers.store import Account

_PRIVACY = "PRIVACYREQUIRED"


async def starttls(session: Session, command: Command) -> Reply | None:
    """RFC 3501 section 6.2.1: answer OK in clear text, then handshake."""
    if session.connection.is_tls:
        return bad("TLS is already active")
    session.send(ok("Begin TLS negotiation now").render(command.tag))
    await session.connection.drain()
    # Connection.start_tls throws away anything pipelined after the command (RFC 2595 3.1).
    await session.connection.start_tls(
        session.tls_context, timeout=session.config.limits.tls_handshake_timeout
    )
    return None


async def login(session: Session, command: Command) -> Reply:
    """RFC 3501 section 6.2.3."""
    if not session.connection.is_tls:
        return no("LOGIN is disabled until STARTTLS (LOGINDISABLED)", _PRIVACY)
    args = command.arguments(Login)
    account = session.store.check_password(args.user, args.password)
    if account is None:
        return no("Invalid credentials", "AUTHENTICATIONFAILED")
    return _logged_in(session, account, "LOGIN completed")


async def authenticate(session: Session, command: Command) -> Reply:
    """RFC 3501 section 6.2.2 with SASL-IR (RFC 4959)."""
    if not session.connection.is_tls:
        return no("AUTHENTICATE is disabled until STARTTLS", _PRIVACY)
    args = command.arguments(Authenticate)
    try:
        exchange = sasl.start_exchange(
            args.mechanism, session.store, hostname=session.config.hostname
        )
    except sasl.UnknownMechanism:
        return no(f"Unsupported authentication mechanism {args.mechanism}")
    if args.initial is None:
        first: bytes | None = None
    elif args.initial == b"=":  # an empty initial response (RFC 4959 section 3)
        first = b""
    else:
        decoded = sasl.decode_response(args.initial)
        if decoded is None:
            return bad("Initial response is not valid base64")
        first = decoded
    return await _converse(session, exchange, first)


async def _converse(session: Session, exchange: sasl.ServerExchange, data: bytes | None) -> Reply:
    step = exchange.step(data)
    while isinstance(step, sasl.Challenge):
        answer = await _challenge(session, step.data)
        if isinstance(answer, Reply):
            return answer
        step = exchange.step(answer)
    if step.data is not None:
        # Additional data with the outcome goes out as one more challenge, and the
        # client answers it (empty) before the final response (RFC 4422 section 5).
        answer = await _challenge(session, step.data)
        if isinstance(answer, Reply):
            return answer
    if isinstance(step, sasl.Rejected):
        return no(f"Authentication failed: {step.reason}", "AUTHENTICATIONFAILED")
    return _logged_in(session, step.account, "AUTHENTICATE completed")


async def _challenge(session: Session, data: bytes) -> bytes | Reply:
    """Send ``+ base64`` and read the client's answer; a Reply if it cancelled or erred."""
    session.send(b"+ " + base64.b64encode(data) + b"\r\n")
    await session.connection.drain()
    try:
        line = await session.connection.read_line(session.config.limits.max_line)
    except LineTooLong:
        return bad("SASL response line too long")
    line = line.rstrip(b"\r\n")
    if line == b"*":  # RFC 3501 section 6.2.2, RFC 4422 section 3.5
        return bad("AUTHENTICATE cancelled")
    decoded = sasl.decode_response(line)
    return bad("SASL response is not valid base64") if decoded is None else decoded


def _logged_in(session: Session, account: Account, text: str) -> Reply:
    session.user = account.user
    session.state = State.AUTHENTICATED
    return ok(text, "CAPABILITY " + " ".join(session.capabilities()))
