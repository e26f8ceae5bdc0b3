"""Commands of the selected state (RFC 3501 section 6.4): CHECK, CLOSE, UNSELECT,
EXPUNGE, SEARCH, FETCH, STORE, COPY and their UID forms (RFC 3501 6.4.8, RFC 4315).
"""

from __future__ import annotations

import contextlib

from fakeservers.imap.commands.mailboxes import check_flags
from fakeservers.imap.fetch import fetch_response, sets_seen
from fakeservers.imap.parser import Command, Copy, Expunge, Fetch, FetchItem, Search, Store
from fakeservers.imap.responses import flag_list
from fakeservers.imap.search import Candidate
from fakeservers.imap.sequences import format_uid_set
from fakeservers.imap.session import Reply, Session, bad, no, ok
from fakeservers.imap.view import RECENT, MailboxView
from fakeservers.store import Message, NoSuchMailbox, StoreError

_READ_ONLY = "Mailbox is read-only (EXAMINE)"


def _name(command: Command) -> str:
    return ("UID " if command.uid else "") + command.name


async def check(session: Session, command: Command) -> Reply:
    """RFC 3501 section 6.4.1: nothing to flush, the store is always current."""
    return ok("CHECK completed")


async def close(session: Session, command: Command) -> Reply:
    """RFC 3501 section 6.4.2: expunge silently (unless read-only), then deselect."""
    view = session.selected
    if not view.read_only:
        uids = [message.uid for message in view.messages]
        session.store.expunge(view.user, view.name, uids)
    session.deselect()
    return ok("CLOSE completed")


async def unselect(session: Session, command: Command) -> Reply:
    """UNSELECT (RFC 3691): deselect without expunging."""
    session.deselect()
    return ok("UNSELECT completed")


async def expunge(session: Session, command: Command) -> Reply:
    """EXPUNGE (RFC 3501 section 6.4.3) and UID EXPUNGE (RFC 4315 section 2.1).

    The EXPUNGE responses are the session loop's mailbox update.
    """
    view = session.selected
    if view.read_only:
        return no(_READ_ONLY, "READ-ONLY")
    wanted = command.arguments(Expunge).uids
    messages = view.messages if wanted is None else [m for _, m in view.select(wanted, uid=True)]
    session.store.expunge(view.user, view.name, [message.uid for message in messages])
    return ok(f"{_name(command)} completed")


async def search(session: Session, command: Command) -> Reply:
    """RFC 3501 section 6.4.4."""
    args = command.arguments(Search)
    view = session.selected
    last_uid = view.messages[-1].uid if view.messages else 0
    found = [
        message.uid if args.uid else number
        for number, message in enumerate(view.messages, start=1)
        if args.matches(
            Candidate(message, number, view.flags(message), len(view.messages), last_uid)
        )
    ]
    session.untagged(b" ".join([b"SEARCH", *(b"%d" % n for n in found)]))
    return ok(f"{_name(command)} completed")


async def fetch(session: Session, command: Command) -> Reply:
    """RFC 3501 section 6.4.5; a UID FETCH always returns UID (section 6.4.8)."""
    args = command.arguments(Fetch)
    view = session.selected
    chosen = view.select(args.messages, uid=args.uid)
    items = list(args.items)
    if args.uid and not any(item.name == "UID" for item in items):
        items.insert(0, FetchItem("UID"))
    mark_seen = sets_seen(items) and not view.read_only
    with_flags = any(item.name == "FLAGS" for item in items)
    for number, message in chosen:
        shown, reports_flags = items, with_flags
        if mark_seen and "\\Seen" not in message.flags:
            _add_seen(session, view, message)
            if not with_flags:  # report the change it caused (RFC 3501 section 6.4.5)
                shown, reports_flags = [*items, FetchItem("FLAGS")], True
        session.send(fetch_response(number, message, shown, flags=view.flags(message)))
        if reports_flags:
            view.seen_flags(message)
        await session.connection.drain()
    return ok(f"{_name(command)} completed")


def _add_seen(session: Session, view: MailboxView, message: Message) -> None:
    # Expunged by another session meanwhile: it is still served from the view.
    with contextlib.suppress(StoreError):
        session.store.set_flags(view.user, view.name, message.uid, ["\\Seen"], mode="add")


async def store(session: Session, command: Command) -> Reply:
    """RFC 3501 section 6.4.6."""
    args = command.arguments(Store)
    view = session.selected
    if view.read_only:
        return no(_READ_ONLY, "READ-ONLY")
    wrong = check_flags(args.flags)
    if wrong is not None:
        return bad(f"{wrong} is not a flag a client can set")
    chosen = view.select(args.messages, uid=args.uid)
    flags = [flag for flag in args.flags if flag != RECENT]
    for number, message in chosen:
        try:
            session.store.set_flags(view.user, view.name, message.uid, flags, mode=args.mode)
        except StoreError:
            continue  # expunged by another session: nothing to change
        view.seen_flags(message)
        if not args.silent:
            uid = b" UID %d" % message.uid if args.uid else b""
            shown = flag_list(view.flags(message))
            session.untagged(b"%d FETCH (FLAGS %s%s)" % (number, shown, uid))
    return ok(f"{_name(command)} completed")


async def copy(session: Session, command: Command) -> Reply:
    """RFC 3501 section 6.4.7, answering COPYUID (RFC 4315 section 3)."""
    args = command.arguments(Copy)
    view = session.selected
    chosen = view.select(args.messages, uid=args.uid)
    store_ = session.store
    try:
        target = store_.mailbox(view.user, args.mailbox)
        pairs = store_.copy(view.user, view.name, [m.uid for _, m in chosen], target.name)
    except NoSuchMailbox:
        return no(f"No mailbox {args.mailbox}", "TRYCREATE")
    if not pairs:
        return ok(f"{_name(command)} completed")
    sources = format_uid_set(old for old, _ in pairs).decode("ascii")
    copies = format_uid_set(new for _, new in pairs).decode("ascii")
    code = f"COPYUID {target.uidvalidity} {sources} {copies}"
    return ok(f"{_name(command)} completed", code)
