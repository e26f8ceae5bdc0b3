"""Commands on mailboxes (RFC 3501 section 6.3): SELECT, EXAMINE, CREATE, DELETE,
RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, STATUS, APPEND.

Response codes follow RFC 5530 (NONEXISTENT, ALREADYEXISTS, CANNOT) and
RFC 3501 (TRYCREATE); APPEND reports APPENDUID (RFC 4315 section 3).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from fakeservers.imap.parser import Append, Command, ListMailboxes, MailboxName, Rename, Status
from fakeservers.imap.responses import flag_list, mailbox, parenthesized, string
from fakeservers.imap.session import Reply, Session, State, bad, no, ok
from fakeservers.imap.view import RECENT, MailboxView
from fakeservers.store import DELIMITER, Mailbox, MailboxExists, NoSuchMailbox, StoreError

#: The system flags of RFC 3501 section 2.3.2 a client may set.
SYSTEM_FLAGS = frozenset({"\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"})


def check_flags(flags: tuple[str, ...]) -> str | None:
    """The first flag a client may not set (unknown system flags), or None.

    ``\\Recent`` is accepted and ignored (RFC 3501 section 2.3.2: not alterable).
    """
    for flag in flags:
        if flag.startswith("\\") and flag not in SYSTEM_FLAGS and flag != RECENT:
            return flag
    return None


async def select(session: Session, command: Command) -> Reply:
    """SELECT and EXAMINE (RFC 3501 sections 6.3.1 and 6.3.2)."""
    name = command.arguments(MailboxName).mailbox
    read_only = command.name == "EXAMINE"
    session.deselect()  # a failed SELECT leaves no mailbox selected
    try:
        view = MailboxView(session.store, session.logged_in_user, name, read_only=read_only)
    except NoSuchMailbox:
        return no(f"No mailbox {name}", "NONEXISTENT")
    keywords = {flag for m in view.messages for flag in m.flags if not flag.startswith("\\")}
    session.untagged(b"FLAGS " + flag_list(SYSTEM_FLAGS | keywords))
    session.untagged(b"%d EXISTS" % len(view.messages))
    session.untagged(b"%d RECENT" % view.recent_count())
    unseen = next(
        (n for n, m in enumerate(view.messages, start=1) if "\\Seen" not in m.flags), None
    )
    if unseen is not None:
        session.untagged(b"OK [UNSEEN %d] First unseen message" % unseen)
    permanent = b"()" if read_only else flag_list(SYSTEM_FLAGS | keywords | {"\\*"})
    session.untagged(b"OK [PERMANENTFLAGS " + permanent + b"] Flags permitted")
    session.untagged(b"OK [UIDVALIDITY %d] UIDs valid" % view.uidvalidity)
    session.untagged(b"OK [UIDNEXT %d] Predicted next UID" % view.uidnext())
    session.view = view
    session.state = State.SELECTED
    mode = "READ-ONLY" if read_only else "READ-WRITE"
    return ok(f"{command.name} completed", mode)


async def create(session: Session, command: Command) -> Reply:
    """RFC 3501 section 6.3.3; a trailing delimiter only declares the intent to nest."""
    name = command.arguments(MailboxName).mailbox.rstrip(DELIMITER)
    if not name:
        return bad("Empty mailbox name")
    try:
        session.store.create_mailbox(session.logged_in_user, name)
    except MailboxExists:
        return no(f"Mailbox {name} already exists", "ALREADYEXISTS")
    return ok("CREATE completed")


async def delete(session: Session, command: Command) -> Reply:
    """RFC 3501 section 6.3.4."""
    name = command.arguments(MailboxName).mailbox
    if session.view is not None and session.view.name == name:
        return no("The selected mailbox cannot be deleted", "INUSE")
    try:
        session.store.delete_mailbox(session.logged_in_user, name)
    except NoSuchMailbox:
        return no(f"No mailbox {name}", "NONEXISTENT")
    except StoreError as error:
        return no(str(error), "CANNOT")
    return ok("DELETE completed")


async def rename(session: Session, command: Command) -> Reply:
    """RFC 3501 section 6.3.5."""
    args = command.arguments(Rename)
    try:
        session.store.rename_mailbox(session.logged_in_user, args.old, args.new)
    except NoSuchMailbox:
        return no(f"No mailbox {args.old}", "NONEXISTENT")
    except MailboxExists:
        return no(f"Mailbox {args.new} already exists", "ALREADYEXISTS")
    return ok("RENAME completed")


async def subscribe(session: Session, command: Command) -> Reply:
    """SUBSCRIBE and UNSUBSCRIBE (RFC 3501 sections 6.3.6 and 6.3.7), for existing mailboxes."""
    name = command.arguments(MailboxName).mailbox
    store = session.store
    with store.locked():
        try:
            store.mailbox(session.logged_in_user, name).subscribed = command.name == "SUBSCRIBE"
        except NoSuchMailbox:
            return no(f"No mailbox {name}", "NONEXISTENT")
    return ok(f"{command.name} completed")


async def list_mailboxes(session: Session, command: Command) -> Reply:
    """LIST and LSUB (RFC 3501 sections 6.3.8 and 6.3.9) with CHILDREN and SPECIAL-USE."""
    args = command.arguments(ListMailboxes)
    delimiter = string(DELIMITER.encode("ascii"))
    verb = command.name.encode("ascii")
    if not args.pattern and command.name == "LIST":
        # The hierarchy delimiter and root name (RFC 3501 section 6.3.8).
        session.untagged(verb + b" (\\Noselect) " + delimiter + b' ""')
        return ok("LIST completed")
    matches = _pattern(args.reference + args.pattern)
    boxes = session.store.mailboxes(session.logged_in_user)
    names = [box.name for box in boxes]
    for box in boxes:
        if command.name == "LSUB" and not box.subscribed:
            continue
        if not matches(box.name):
            continue
        attributes = flag_list(_attributes(box, names))
        session.untagged(verb + b" " + attributes + b" " + delimiter + b" " + mailbox(box.name))
    return ok(f"{command.name} completed")


def _pattern(pattern: str) -> Callable[[str], bool]:
    """``*`` matches anything, ``%`` anything but the delimiter; INBOX is case-insensitive."""
    parts = [
        ".*" if char == "*" else f"[^{re.escape(DELIMITER)}]*" if char == "%" else re.escape(char)
        for char in pattern
    ]
    regex = re.compile("".join(parts) + r"\Z")
    inbox = re.compile("".join(parts) + r"\Z", re.IGNORECASE)

    def matches(name: str) -> bool:
        return bool((inbox if name == "INBOX" else regex).match(name))

    return matches


def _attributes(box: Mailbox, names: list[str]) -> list[str]:
    prefix = box.name + DELIMITER
    has_children = any(name.startswith(prefix) for name in names)
    attributes = ["\\HasChildren" if has_children else "\\HasNoChildren"]
    if box.special_use:
        attributes.append(box.special_use)
    return attributes


async def status(session: Session, command: Command) -> Reply:
    """RFC 3501 section 6.3.10."""
    args = command.arguments(Status)
    store = session.store
    with store.locked():
        try:
            box = store.mailbox(session.logged_in_user, args.mailbox)
        except NoSuchMailbox:
            return no(f"No mailbox {args.mailbox}", "NONEXISTENT")
        recent = sum(1 for m in box.messages if RECENT in m.flags)
        view = session.view
        if view is not None and view.name == box.name and not view.read_only:
            recent += len(view.recent)  # taken off the stored messages by this session
        values = {
            "MESSAGES": len(box.messages),
            "RECENT": recent,
            "UIDNEXT": box.uidnext,
            "UIDVALIDITY": box.uidvalidity,
            "UNSEEN": sum(1 for m in box.messages if "\\Seen" not in m.flags),
        }
        name = box.name
    items = [b"%s %d" % (item.encode("ascii"), values[item]) for item in args.items]
    session.untagged(b"STATUS " + mailbox(name) + b" " + parenthesized(items))
    return ok("STATUS completed")


async def append(session: Session, command: Command) -> Reply:
    """RFC 3501 section 6.3.11, answering APPENDUID (RFC 4315 section 3)."""
    args = command.arguments(Append)
    wrong = check_flags(args.flags)
    if wrong is not None:
        return bad(f"{wrong} is not a flag a client can set")
    flags = {flag for flag in args.flags if flag != RECENT} | {RECENT}
    try:
        message = session.store.append(
            session.logged_in_user,
            args.mailbox,
            args.message,
            flags=flags,
            internal_date=args.internal_date,
        )
        uidvalidity = session.store.mailbox(session.logged_in_user, args.mailbox).uidvalidity
    except NoSuchMailbox:
        return no(f"No mailbox {args.mailbox}", "TRYCREATE")
    return ok("APPEND completed", f"APPENDUID {uidvalidity} {message.uid}")
