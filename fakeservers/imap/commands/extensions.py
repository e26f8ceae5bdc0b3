"""Commands that only extensions define: ENABLE (RFC 5161), COMPRESS (RFC 4978) and
GETQUOTA, GETQUOTAROOT and SETQUOTA (RFC 9208).

Quotas: every account has one quota root, ``""``, covering all its mailboxes,
with the resources STORAGE (in units of 1024 octets) and MESSAGE; usage is
computed from the store, limits live on the account (``Account.quota``).
"""

from __future__ import annotations

from fakeservers.imap.parser import Command, Compress, Enable, QuotaRoot, SetQuota
from fakeservers.imap.responses import mailbox, parenthesized, string
from fakeservers.imap.session import Reply, Session, State, bad, no, ok
from fakeservers.store import NoSuchMailbox

#: The one quota root of every account (RFC 9208 section 3.2).
QUOTA_ROOT = ""
RESOURCES = ("STORAGE", "MESSAGE")


async def enable(session: Session, command: Command) -> Reply:
    """ENABLE (RFC 5161 section 3.1): only in the authenticated state.

    ``ENABLED`` names what was newly enabled; unknown names are ignored, and so
    are names the session's capability list does not advertise (RFC 5161
    section 3.1: a client may only enable advertised extensions), so a profile
    that hides QRESYNC or IMAP4rev2 (Gmail's) never switches them on.
    """
    if session.state is not State.AUTHENTICATED:
        return bad("ENABLE is only allowed in the authenticated state")
    names = command.arguments(Enable).names
    advertised = {name.upper() for name in session.capabilities()}
    offered = [name for name in names if name.upper() in advertised]
    newly = [name for name in (session.enabled.enable(each) for each in offered) if name]
    session.untagged(" ".join(["ENABLED", *newly]).encode("ascii"))
    return ok("ENABLE completed")


def quota_usage(session: Session) -> dict[str, tuple[int, int]]:
    """(usage, limit) per resource for the logged-in user (RFC 9208 section 5)."""
    octets, count = session.store.usage(session.logged_in_user)
    limits = session.store.account(session.logged_in_user).quota
    usage = {"STORAGE": (octets + 1023) // 1024, "MESSAGE": count}
    return {name: (usage[name], limits[name]) for name in RESOURCES if name in limits}


def _quota_line(session: Session) -> bytes:
    pairs = [
        b"%s %d %d" % (name.encode("ascii"), used, limit)
        for name, (used, limit) in quota_usage(session).items()
    ]
    return b"QUOTA " + string(QUOTA_ROOT.encode()) + b" " + parenthesized(pairs)


async def getquota(session: Session, command: Command) -> Reply:
    """GETQUOTA (RFC 9208 section 4.2)."""
    if command.arguments(QuotaRoot).name != QUOTA_ROOT:
        return no("No such quota root", "NONEXISTENT")
    session.untagged(_quota_line(session))
    return ok("GETQUOTA completed")


async def getquotaroot(session: Session, command: Command) -> Reply:
    """GETQUOTAROOT (RFC 9208 section 4.3): every mailbox is under the root ``""``."""
    name = command.arguments(QuotaRoot).name
    try:
        box = session.store.mailbox(session.logged_in_user, name)
    except NoSuchMailbox:
        return no(f"No mailbox {name}", "NONEXISTENT")
    utf8 = session.enabled.utf8_names
    root = string(QUOTA_ROOT.encode())
    session.untagged(b"QUOTAROOT " + mailbox(box.name, utf8=utf8) + b" " + root)
    session.untagged(_quota_line(session))
    return ok("GETQUOTAROOT completed")


async def setquota(session: Session, command: Command) -> Reply:
    """SETQUOTA (RFC 9208 section 4.5): set limits of known resources on the root ``""``."""
    args = command.arguments(SetQuota)
    if args.root != QUOTA_ROOT:
        return no("No such quota root", "NONEXISTENT")
    unknown = [name for name, _ in args.limits if name not in RESOURCES]
    if unknown:
        return no(f"Unsupported quota resource {unknown[0]}")
    with session.store.locked():
        limits = session.store.account(session.logged_in_user).quota
        limits.clear()  # resources not named lose their limit (RFC 9208 section 4.5)
        limits.update(args.limits)
    session.untagged(_quota_line(session))
    return ok("SETQUOTA completed")


async def compress(session: Session, command: Command) -> Reply | None:
    """COMPRESS DEFLATE (RFC 4978 section 3): OK uncompressed, then deflate both ways."""
    if command.arguments(Compress).mechanism != "DEFLATE":
        return bad("Unknown compression mechanism")
    if session.compressed:
        return no("Compression is already active", "COMPRESSIONACTIVE")
    session.send(ok("DEFLATE active").render(command.tag))
    await session.connection.drain()
    session.connection.start_compression()
    session.compressed = True
    return None
