"""Commands valid in every state: CAPABILITY, NOOP, LOGOUT (RFC 3501 section 6.1), ID, NAMESPACE."""

from __future__ import annotations

from fakeservers.imap.parser import Command
from fakeservers.imap.responses import nstring, parenthesized
from fakeservers.imap.session import Reply, Session, State, ok
from fakeservers.store import DELIMITER


async def capability(session: Session, command: Command) -> Reply:
    """RFC 3501 section 6.1.1."""
    session.untagged(b"CAPABILITY " + " ".join(session.capabilities()).encode("ascii"))
    return ok("CAPABILITY completed")


async def noop(session: Session, command: Command) -> Reply:
    """RFC 3501 section 6.1.2: mailbox updates follow through the session loop."""
    return ok("NOOP completed")


async def logout(session: Session, command: Command) -> Reply:
    """RFC 3501 section 6.1.3: BYE first, then the tagged OK, then close."""
    session.untagged(b"BYE " + session.config.hostname.encode("ascii", "replace") + b" logging out")
    session.state = State.LOGOUT
    return ok("LOGOUT completed")


async def identify(session: Session, command: Command) -> Reply:
    """ID (RFC 2971 section 3.1): the server's own parameters."""
    session.untagged(b"ID " + parenthesized([nstring(b"name"), nstring(b"mailcompat")]))
    return ok("ID completed")


async def namespace(session: Session, command: Command) -> Reply:
    """NAMESPACE (RFC 2342 section 5): one personal namespace, no others."""
    personal = b'(("" ' + nstring(DELIMITER.encode("ascii")) + b"))"
    session.untagged(b"NAMESPACE " + personal + b" NIL NIL")
    return ok("NAMESPACE completed")
