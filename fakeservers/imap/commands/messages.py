"""Commands of the selected state (RFC 3501 section 6.4): CHECK, CLOSE, UNSELECT,
EXPUNGE, SEARCH, FETCH, STORE, COPY, MOVE and their UID forms (RFC 3501 6.4.8,
RFC 4315, RFC 6851).

Extensions: ESEARCH and SEARCHRES results (RFC 4731, RFC 5182, and always
ESEARCH under IMAP4rev2, RFC 9051 section 7.3.4); CONDSTORE's MODSEQ,
CHANGEDSINCE and UNCHANGEDSINCE and QRESYNC's VANISHED (RFC 7162); BINARY
(RFC 3516); Gmail's X-GM items, refused unless the Gmail extensions are on.
"""

from __future__ import annotations

import contextlib

from fakeservers.imap.commands.mailboxes import check_flags
from fakeservers.imap.fetch import UnknownTransferEncoding, fetch_pieces, sets_seen
from fakeservers.imap.parser import Command, Copy, Expunge, Fetch, FetchItem, Search, Store
from fakeservers.imap.responses import mailbox, string
from fakeservers.imap.search import USES_GMAIL, USES_MODSEQ, Candidate
from fakeservers.imap.sequences import format_uid_set
from fakeservers.imap.session import Reply, Session, bad, no, ok
from fakeservers.imap.view import RECENT, MailboxView
from fakeservers.store import Mailbox, MailboxExists, Message, NoSuchMailbox, StoreError

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
    if session.enabled.condstore:
        # No message carries the new mod-sequence of an expunge: tell it (RFC 7162 3.2.10).
        return ok(f"{_name(command)} completed", f"HIGHESTMODSEQ {view.highest_modseq()}")
    return ok(f"{_name(command)} completed")


def enable_condstore(session: Session) -> None:
    """A CONDSTORE-enabling command: the first one in the selected state also sends
    the mailbox's HIGHESTMODSEQ in an untagged OK (RFC 7162 section 3.1).
    """
    if session.enabled.condstore:
        return
    session.enabled.condstore = True
    if session.view is not None:
        highest = session.view.highest_modseq()
        session.untagged(b"OK [HIGHESTMODSEQ %d] Highest" % highest)


def gmail_enabled(session: Session) -> bool:
    """Whether Gmail's X-GM items are served: the config switch, or X-GM-EXT-1 advertised."""
    return session.config.gmail_extensions or "X-GM-EXT-1" in session.capabilities()


async def search(session: Session, command: Command) -> Reply:
    """RFC 3501 section 6.4.4, ESEARCH (RFC 4731) and SEARCHRES (RFC 5182).

    A MODSEQ key enables CONDSTORE and adds the highest mod-sequence of the
    matches (RFC 7162 section 3.1.5). Under IMAP4rev2 every SEARCH answers ESEARCH.
    """
    args = command.arguments(Search)
    view = session.selected
    if USES_GMAIL in args.used and not gmail_enabled(session):
        return bad("X-GM search keys are not supported")
    if USES_MODSEQ in args.used:
        enable_condstore(session)
    last_uid = view.messages[-1].uid if view.messages else 0
    saved = frozenset(view.saved)
    count = len(view.messages)
    hits = [
        (number, message)
        for number, message in enumerate(view.messages, start=1)
        if args.matches(Candidate(message, number, view.flags(message), count, last_uid, saved))
    ]
    found = [message.uid if args.uid else number for number, message in hits]
    highest = max((message.modseq for _, message in hits), default=0)
    returns = args.returns
    if returns is None and session.enabled.imap4rev2:
        returns = ()
    if returns is None:
        words = [b"SEARCH", *(b"%d" % n for n in found)]
        if USES_MODSEQ in args.used and found:
            words.append(b"(MODSEQ %d)" % highest)
        session.untagged(b" ".join(words))
        return ok(f"{_name(command)} completed")
    options = set(returns) or {"ALL"}  # RETURN () means ALL (RFC 4731 section 3.1)
    if "SAVE" in options:
        # With MIN or MAX, only those are saved (RFC 5182 section 2.4).
        kept = [message.uid for _, message in hits]
        if kept and options & {"MIN", "MAX"} and not options & {"ALL", "COUNT"}:
            picks = [kept[0]] if "MIN" in options else []
            picks += [kept[-1]] if "MAX" in options else []
            kept = sorted(set(picks))
        view.saved = kept
        options.discard("SAVE")
        if not options:
            return ok(f"{_name(command)} completed")  # SAVE alone: no ESEARCH response
    session.untagged(
        _esearch(command.tag, args.uid, found, options=options, highest=highest, used=args.used)
    )
    return ok(f"{_name(command)} completed")


def _esearch(
    tag: str, uid: bool, found: list[int], *, options: set[str], highest: int, used: frozenset[str]
) -> bytes:
    """``ESEARCH (TAG "t") [UID] MIN n MAX n COUNT n ALL set [MODSEQ n]`` (RFC 4731 3.1)."""
    words = [b"ESEARCH (TAG " + string(tag.encode("ascii")) + b")"]
    if uid:
        words.append(b"UID")
    if found:
        if "MIN" in options:
            words.append(b"MIN %d" % found[0])
        if "MAX" in options:
            words.append(b"MAX %d" % found[-1])
    if "ALL" in options and found:
        words.append(b"ALL " + format_uid_set(found))
    if "COUNT" in options:
        words.append(b"COUNT %d" % len(found))
    if USES_MODSEQ in used and found:
        words.append(b"MODSEQ %d" % highest)  # RFC 7162 section 3.1.5
    return b" ".join(words)


async def fetch(session: Session, command: Command) -> Reply:
    """RFC 3501 section 6.4.5; a UID FETCH always returns UID (section 6.4.8).

    CHANGEDSINCE shows only messages changed after it and implies MODSEQ;
    VANISHED first reports the UIDs expunged after it (RFC 7162 3.1.4.1, 3.2.6).
    """
    args = command.arguments(Fetch)
    view = session.selected
    items = list(args.items)
    if any(item.name.startswith("X-GM-") for item in items) and not gmail_enabled(session):
        return bad("X-GM fetch items are not supported")
    if args.vanished and not session.enabled.qresync:
        return bad("VANISHED needs ENABLE QRESYNC")
    chosen = view.select(args.messages, uid=args.uid)
    if args.changed_since is not None or any(item.name == "MODSEQ" for item in items):
        enable_condstore(session)  # CONDSTORE-enabling (RFC 7162 section 3.1)
    if args.changed_since is not None:
        if not any(item.name == "MODSEQ" for item in items):
            items.append(FetchItem("MODSEQ"))
        since = args.changed_since
        chosen = [(number, message) for number, message in chosen if message.modseq > since]
        if args.vanished:
            _report_vanished(session, view, args, since)
    if args.uid and not any(item.name == "UID" for item in items):
        items.insert(0, FetchItem("UID"))
    mark_seen = sets_seen(items) and not view.read_only
    with_flags = any(item.name == "FLAGS" for item in items)
    with_labels = any(item.name == "X-GM-LABELS" for item in items)
    for number, message in chosen:
        shown, reports_flags = items, with_flags
        if mark_seen and "\\Seen" not in message.flags:
            _add_seen(session, view, message)
            if not with_flags:  # report the change it caused (RFC 3501 section 6.4.5)
                shown, reports_flags = [*items, FetchItem("FLAGS")], True
            if session.enabled.condstore and not any(i.name == "MODSEQ" for i in shown):
                shown = [*shown, FetchItem("MODSEQ")]
        labels = label_strings(session, view, message) if with_labels else []
        try:
            pieces = fetch_pieces(number, message, shown, flags=view.flags(message), labels=labels)
        except UnknownTransferEncoding as error:
            return no(str(error), "UNKNOWN-CTE")  # RFC 3516 section 4.3
        # A large body goes out in slices of the stored message, paced by the client.
        await session.connection.write_pieces(pieces)
        if reports_flags:
            view.seen_flags(message)
        await session.connection.drain()
    return ok(f"{_name(command)} completed")


def _report_vanished(session: Session, view: MailboxView, args: Fetch, since: int) -> None:
    """``VANISHED (EARLIER) uids`` for the UIDs asked about expunged after ``since``."""
    with session.store.locked():
        try:
            box = session.store.mailbox(view.user, view.name)
        except NoSuchMailbox:
            return
        largest = box.uidnext - 1
        gone = sorted(
            uid
            for uid, modseq in box.expunged.items()
            if modseq > since and args.messages.contains(uid, largest=largest)
        )
    if gone:
        session.untagged(b"VANISHED (EARLIER) " + format_uid_set(gone))


#: Gmail's system labels, by the special use (RFC 6154) of the mailbox that holds each;
#: a mailbox used for ``\\All`` or ``\\Archive`` is no label (All Mail holds everything).
_GMAIL_SYSTEM_LABELS = {
    "\\Sent": "\\Sent",
    "\\Drafts": "\\Draft",
    "\\Trash": "\\Trash",
    "\\Junk": "\\Spam",
    "\\Important": "\\Important",
    "\\Flagged": "\\Starred",
}
_NOT_LABELS = ("\\All", "\\Archive")


def _label_of(box: Mailbox) -> str | None:
    """The X-GM-LABELS name of a mailbox: ``\\Inbox``, a system label, its name, or None."""
    if box.name == "INBOX":
        return "\\Inbox"
    if box.special_use in _NOT_LABELS:
        return None
    if box.special_use is not None:
        return _GMAIL_SYSTEM_LABELS.get(box.special_use)
    return box.name


def _same_message(one: Message, other: Message) -> bool:
    """Two copies of one Gmail message: the same octets and internal date."""
    return other.data == one.data and other.internal_date == one.internal_date


def _holding(session: Session, view: MailboxView, message: Message) -> list[Mailbox]:
    """The mailboxes other than the selected one that hold a copy of ``message``."""
    holding: list[Mailbox] = []
    for box in session.store.mailboxes(view.user):
        if box.name == view.name:
            continue
        with session.store.locked():
            if any(_same_message(message, other) for other in box.messages):
                holding.append(box)
    return holding


def label_strings(session: Session, view: MailboxView, message: Message) -> list[bytes]:
    """X-GM-LABELS as sent: each label an IMAP string, in modified UTF-7 like the mailbox
    it names (UTF-8 once the client enabled UTF8=ACCEPT), as Gmail sends them.
    """
    utf8 = session.enabled.utf8_names
    return [mailbox(label, utf8=utf8) for label in gmail_labels(session, view, message)]


def gmail_labels(session: Session, view: MailboxView, message: Message) -> list[str]:
    """X-GM-LABELS: the other mailboxes holding the same message (same content and date).

    Gmail's labels are its folders: a message with a label is in that label's
    mailbox. Like Gmail, the label of the selected mailbox itself is not listed;
    INBOX and the special-use mailboxes are named as Gmail's system labels
    (``\\Inbox``, ``\\Sent``, ``\\Draft``, ``\\Spam``...).
    """
    labels = (_label_of(box) for box in _holding(session, view, message))
    return [label for label in labels if label is not None]


def _label_mailbox(session: Session, user: str, label: str) -> str | None:
    """The mailbox a label names; None for a system label this account has no mailbox for."""
    if label.upper() == "\\INBOX":
        return "INBOX"
    if not label.startswith("\\"):
        return label
    uses = [use for use, name in _GMAIL_SYSTEM_LABELS.items() if name.upper() == label.upper()]
    boxes = session.store.mailboxes(user)
    return next((box.name for box in boxes if uses and box.special_use == uses[0]), None)


async def _store_labels(session: Session, command: Command, args: Store) -> Reply:
    """STORE [+|-]X-GM-LABELS[.SILENT] (Gmail's IMAP extensions): labels are mailboxes.

    Adding a label copies the message into that label's mailbox (a user label
    that does not exist yet is created, as Gmail does); removing one removes the
    copy there, and removing the selected mailbox's own label takes the message
    out of it (reported as an expunge after the command). Replacing sets the
    labels other than the selected mailbox's, which is never listed. Each
    message's new labels are reported unless .SILENT.
    """
    view = session.selected
    if not gmail_enabled(session):
        return bad("X-GM-LABELS is not supported")
    named: list[str] = []
    for label in args.flags:
        name = _label_mailbox(session, view.user, label)
        if name is None:
            return no(f"No mailbox for the label {label}", "NONEXISTENT")
        named.append("INBOX" if name.upper() == "INBOX" else name)
    wanted = set(named)
    store_ = session.store
    for number, message in view.select(args.messages, uid=args.uid):
        current = {box.name for box in _holding(session, view, message)}
        if args.mode == "remove":
            adding, removing = set(), wanted & (current | {view.name})
        elif args.mode == "add":
            adding, removing = wanted - current - {view.name}, set()
        else:
            adding, removing = wanted - current - {view.name}, current - wanted
        for name in sorted(adding):
            with contextlib.suppress(MailboxExists):
                store_.create_mailbox(view.user, name)
            store_.copy(view.user, view.name, [message.uid], name)
        for name in sorted(removing):
            with store_.locked():
                box = store_.mailbox(view.user, name)
                copies = [other.uid for other in box.messages if _same_message(message, other)]
            store_.delete_messages(view.user, name, copies)
        if not args.silent:
            shown = b" ".join(label_strings(session, view, message))
            uid = b" UID %d" % message.uid if args.uid else b""
            session.untagged(b"%d FETCH (X-GM-LABELS (%s)%s)" % (number, shown, uid))
    return ok(f"{_name(command)} completed")


def _add_seen(session: Session, view: MailboxView, message: Message) -> None:
    # Expunged by another session meanwhile: it is still served from the view.
    with contextlib.suppress(StoreError):
        session.store.set_flags(view.user, view.name, message.uid, ["\\Seen"], mode="add")


async def store(session: Session, command: Command) -> Reply:
    """RFC 3501 section 6.4.6, with UNCHANGEDSINCE (RFC 7162 section 3.1.3).

    A message changed after UNCHANGEDSINCE is left alone and named in
    ``OK [MODIFIED set]``. Once CONDSTORE is on, each FETCH response carries
    MODSEQ, and .SILENT still reports the new MODSEQ.
    """
    args = command.arguments(Store)
    view = session.selected
    if view.read_only:
        return no(_READ_ONLY, "READ-ONLY")
    if args.item == "X-GM-LABELS":
        return await _store_labels(session, command, args)
    wrong = check_flags(args.flags)
    if wrong is not None:
        return bad(f"{wrong} is not a flag a client can set")
    if args.unchanged_since is not None:
        enable_condstore(session)  # CONDSTORE-enabling (RFC 7162 section 3.1)
    condstore = session.enabled.condstore
    chosen = view.select(args.messages, uid=args.uid)
    flags = [flag for flag in args.flags if flag != RECENT]
    modified: list[int] = []
    for number, message in chosen:
        with session.store.locked():
            if args.unchanged_since is not None and message.modseq > args.unchanged_since:
                modified.append(message.uid if args.uid else number)
                continue
            try:
                session.store.set_flags(view.user, view.name, message.uid, flags, mode=args.mode)
            except StoreError:
                continue  # expunged by another session: nothing to change
        view.seen_flags(message)
        if not args.silent:
            session.untagged(view.flags_response(number, message, uid=args.uid))
        elif condstore:
            uid = b"UID %d " % message.uid if args.uid or session.enabled.qresync else b""
            session.untagged(b"%d FETCH (%sMODSEQ (%d))" % (number, uid, message.modseq))
    if "deleted-expunges" in session.config.behaviours and args.mode != "remove":
        # Gmail's auto-expunge: a message flagged \Deleted leaves the mailbox at once;
        # this session hears of it after the tagged response, as of any expunge.
        gone = [m.uid for _, m in chosen if "\\Deleted" in m.flags]
        if gone:
            session.store.expunge(view.user, view.name, gone)
    if modified:
        code = "MODIFIED " + format_uid_set(modified).decode("ascii")
        return ok(f"Conditional {_name(command)} failed", code)
    return ok(f"{_name(command)} completed")


async def copy(session: Session, command: Command) -> Reply:
    """COPY (RFC 3501 section 6.4.7) and MOVE (RFC 6851), answering COPYUID (RFC 4315).

    MOVE sends COPYUID in an untagged OK before the EXPUNGE (or VANISHED)
    responses, which the session loop sends as the mailbox update (RFC 6851 3.3).
    """
    args = command.arguments(Copy)
    view = session.selected
    moving = command.name == "MOVE"
    if moving and view.read_only:
        return no(_READ_ONLY, "READ-ONLY")
    chosen = view.select(args.messages, uid=args.uid)
    store_ = session.store
    try:
        target = store_.mailbox(view.user, args.mailbox)
        transfer = store_.move if moving else store_.copy
        pairs = transfer(view.user, view.name, [m.uid for _, m in chosen], target.name)
    except NoSuchMailbox:
        return no(f"No mailbox {args.mailbox}", "TRYCREATE")
    if not pairs:
        return ok(f"{_name(command)} completed")
    sources = format_uid_set(old for old, _ in pairs).decode("ascii")
    copies = format_uid_set(new for _, new in pairs).decode("ascii")
    code = f"COPYUID {target.uidvalidity} {sources} {copies}"
    if moving:
        session.untagged(f"OK [{code}] Moved".encode("ascii"))
        return ok(f"{_name(command)} completed")
    return ok(f"{_name(command)} completed", code)
