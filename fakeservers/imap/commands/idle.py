"""IDLE (RFC 2177): push mailbox updates until the client says DONE.

The store calls watchers from whichever thread changed it, so the watcher
only hops to the session's loop and sets an event; the updates themselves
are computed by the view on the loop, as after any command.
"""

from __future__ import annotations

import asyncio
import contextlib

from fakeservers.connection import LineTooLong
from fakeservers.imap.parser import Command
from fakeservers.imap.session import Reply, Session, bad, ok


async def idle(session: Session, command: Command) -> Reply:
    """RFC 2177 section 3; valid in the authenticated and selected states."""
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()
    view = session.view
    unwatch = None

    def wake(user: str, mailbox: str) -> None:
        loop.call_soon_threadsafe(changed.set)

    if view is not None:
        unwatch = session.store.watch(view.user, view.name, wake)
    session.send(b"+ idling\r\n")
    done = asyncio.ensure_future(session.connection.read_line(session.config.limits.max_line))
    try:
        while True:
            if view is not None:
                for line in view.updates(expunges=True):
                    session.untagged(line)
            await session.connection.drain()
            changed.clear()
            woken = asyncio.ensure_future(changed.wait())
            await asyncio.wait({done, woken}, return_when=asyncio.FIRST_COMPLETED)
            woken.cancel()
            if done.done():
                break
    finally:
        if unwatch is not None:
            unwatch()
        if not done.done():
            done.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await done
    try:
        line = done.result()
    except LineTooLong:
        return bad("Expected DONE")
    if line.rstrip(b"\r\n").upper() != b"DONE":
        return bad("Expected DONE")
    return ok("IDLE terminated")
