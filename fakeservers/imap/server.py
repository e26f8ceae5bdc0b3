"""The IMAP listener and the session loop: read a command, parse it, dispatch it.

Each accepted connection runs :func:`serve_session` as its own task. The loop
is three steps kept apart: framing (:mod:`.framing`: one command with its
literals), parsing (:mod:`.parser`) and dispatch (:mod:`.dispatch`: handler
and allowed states). After each command in the selected state the client
gets the mailbox changes other sessions made (:mod:`.view`).

A client that misbehaves gets BAD and the session goes on, until
``max_bad_commands`` in a row (then BYE); a client that goes away ends only
its own session, quietly.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

from fakeservers.config import ServerConfig
from fakeservers.connection import Connection, ConnectionClosed, IdleTimeout, LineTooLong
from fakeservers.imap.dispatch import COMMANDS, HOLDS_EXPUNGES
from fakeservers.imap.framing import (
    CONTINUATION,
    LITERAL_MINUS_MAX,
    LiteralRefused,
    read_command,
)
from fakeservers.imap.parser import Command, ParseError, parse_command
from fakeservers.imap.session import Reply, Session, State, bad
from fakeservers.imap.view import NoSuchMessage
from fakeservers.listener import Listener, listen_for_sessions
from fakeservers.store import MailStore

logger = logging.getLogger(__name__)


async def start_imap_server(
    store: MailStore,
    config: ServerConfig,
    *,
    host: str,
    port: int,
    tls_context: ssl.SSLContext,
    implicit_tls: bool,
) -> Listener:
    """Bind one IMAP endpoint: implicit TLS (imaps) or clear text with STARTTLS (imap)."""

    async def serve(connection: Connection) -> None:
        await serve_session(Session(connection, store, config, tls_context=tls_context))

    return await listen_for_sessions(
        serve,
        name="imaps" if implicit_tls else "imap",
        host=host,
        port=port,
        tls_context=tls_context,
        implicit_tls=implicit_tls,
        limits=config.limits,
        rules=config.rules,
        protocol="imap",
    )


async def serve_session(session: Session) -> None:
    """Greet, then serve commands until LOGOUT, a fatal error or the client leaving."""
    connection = session.connection
    try:
        session.untagged(_greeting(session))
        while session.state is not State.LOGOUT:
            await _serve_one(session)
            await connection.drain()
            if session.bad_in_a_row >= session.config.limits.max_bad_commands:
                session.untagged(b"BYE Too many invalid commands")
                break
    except IdleTimeout:
        session.untagged(b"BYE Autologout; idle for too long")
    except (ConnectionClosed, ConnectionError, ssl.SSLError) as error:
        logger.debug("IMAP session %s ended: %s", connection.peer, error)
    except LiteralRefused as refused:
        session.untagged(f"BYE {refused.text}".encode())
    except Exception:
        logger.exception("IMAP session %s failed", connection.peer)
    finally:
        await connection.close()


def _greeting(session: Session) -> bytes:
    """``OK [CAPABILITY ...] text`` (RFC 3501 section 7.1.1), as the profile words it."""
    profile = session.config.profile.imap
    text = profile.greeting or "{hostname} mailcompat IMAP4rev1 ready"
    text = text.replace("{hostname}", session.config.hostname)
    text = text.replace("{peer}", session.connection.peer.rsplit(":", 1)[0])
    if profile.greeting_capabilities:
        text = f"[CAPABILITY {' '.join(session.capabilities())}] {text}"
    return f"OK {text}".encode()


async def _serve_one(session: Session) -> None:
    """Read, parse, dispatch and answer one command."""
    connection = session.connection

    async def go_ahead() -> None:
        connection.write(CONTINUATION)
        await connection.drain()

    try:
        framed = await read_command(
            connection,
            session.config.limits,
            go_ahead=go_ahead,
            max_non_synchronizing=_non_synchronizing_limit(session),
        )
    except LineTooLong as error:
        _answer(session, "*", bad(f"Command line too long (limit {error.limit} octets)"))
        return
    except LiteralRefused as refused:
        if refused.fatal:
            raise
        _answer(session, refused.tag or "*", Reply(refused.status, refused.text, "TOOBIG"))
        return
    try:
        command = parse_command(
            framed.text, utf8=_string_charset(session), literals=framed.literals
        )
    except ParseError as error:
        _answer(session, error.tag or "*", Reply(error.status, error.text, error.code))
        return
    wire = connection.wire
    if wire is None:
        reply = await _dispatch(session, command)
    else:
        wire.rules.state = session.state.value
        wire.rules.user = session.user
        wire.rules.mailbox = session.view.name if session.view is not None else None
        fired = await wire.command(command.name, framed.inline())
        if fired.replacement is not None:
            wire.replace_command(fired, tag=command.tag)
            await wire.conclude(fired)
            return
        reply = await _dispatch(session, command)
    if session.view is not None and session.state is State.SELECTED:
        holds = command.name in HOLDS_EXPUNGES and not command.uid
        for line in session.view.updates(expunges=not holds):
            session.untagged(line)
    if reply is not None:
        _answer(session, command.tag, reply)
    if wire is not None:
        await wire.conclude(fired)


def _non_synchronizing_limit(session: Session) -> int | None:
    """The LITERAL- limit when the session advertises LITERAL- and not LITERAL+ (RFC 7888 5).

    A session that advertises neither is served as before: its non-synchronizing
    literals are accepted up to ``max_literal``, as LITERAL+ would.
    """
    names = {name.upper() for name in session.capabilities()}
    if "LITERAL-" in names and "LITERAL+" not in names:
        return LITERAL_MINUS_MAX
    return None


def _string_charset(session: Session) -> str | None:
    """What the session enabled that makes command strings UTF-8, if anything."""
    enabled = session.enabled
    if enabled.utf8_accept:
        return "UTF8=ACCEPT"
    return "IMAP4rev2" if enabled.imap4rev2 else None


async def _dispatch(session: Session, command: Command) -> Reply | None:
    handler, states = COMMANDS[command.name]
    if session.state not in states:
        return bad(f"{command.name} is not allowed in the {session.state.value} state")
    try:
        return await handler(session, command)
    except NoSuchMessage as error:
        return bad(f"Invalid message sequence number: {error}")
    except (ConnectionClosed, IdleTimeout, ConnectionError, ssl.SSLError, asyncio.CancelledError):
        raise
    except Exception:
        # The tag and name only: the arguments may hold a password.
        logger.exception("IMAP %s %s failed", command.tag, command.name)
        return Reply("NO", f"{command.name} failed: internal server error", "SERVERBUG")


def _answer(session: Session, tag: str, reply: Reply) -> None:
    """Send the tagged reply and keep count of consecutive BAD ones."""
    session.bad_in_a_row = session.bad_in_a_row + 1 if reply.status == "BAD" else 0
    session.send(reply.render(tag))
