"""Commands on mailboxes (RFC 3501 section 6.3): SELECT, EXAMINE, CREATE, DELETE,
RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, STATUS, APPEND.

Response codes follow RFC 5530 (NONEXISTENT, ALREADYEXISTS, CANNOT) and
RFC 3501 (TRYCREATE); APPEND reports APPENDUID (RFC 4315 section 3).

Extensions: SELECT/EXAMINE with CONDSTORE and QRESYNC (RFC 7162), CLOSED
(RFC 7162 section 3.2.11), MAILBOXID (RFC 8474); CREATE with USE (RFC 6154);
extended LIST with STATUS (RFC 5258, RFC 5819); STATUS HIGHESTMODSEQ,
APPENDLIMIT, MAILBOXID, SIZE, DELETED, DELETED-STORAGE; APPEND over quota
(RFC 9208) and with UTF8 (RFC 6855).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from fakeservers.imap.parser import (
    Append,
    Command,
    Create,
    ListMailboxes,
    MailboxName,
    Qresync,
    Rename,
    Select,
    Status,
)
from fakeservers.imap.responses import flag_list, mailbox, parenthesized, string
from fakeservers.imap.sequences import SequenceSet, format_uid_set
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
    """SELECT and EXAMINE (RFC 3501 sections 6.3.1 and 6.3.2, RFC 7162, RFC 9051)."""
    args = command.arguments(Select)
    name = args.mailbox
    read_only = command.name == "EXAMINE"
    enabled = session.enabled
    if args.qresync is not None and not enabled.qresync:
        return bad("QRESYNC needs ENABLE QRESYNC first")  # RFC 7162 section 3.2.5
    was_selected = session.view is not None
    session.deselect()  # a failed SELECT leaves no mailbox selected
    if was_selected and (enabled.qresync or enabled.imap4rev2):
        # RFC 7162 section 3.2.11, RFC 9051 section 6.3.2: the old mailbox is closed.
        session.untagged(b"OK [CLOSED] Previous mailbox closed")
    if args.condstore:
        enabled.condstore = True  # a CONDSTORE-enabling command (RFC 7162 section 3.1)
    try:
        view = MailboxView(
            session.store, session.logged_in_user, name, read_only=read_only, enabled=enabled
        )
    except NoSuchMailbox:
        return no(f"No mailbox {name}", "NONEXISTENT")
    keywords = {flag for m in view.messages for flag in m.flags if not flag.startswith("\\")}
    session.untagged(b"FLAGS " + flag_list(SYSTEM_FLAGS | keywords))
    session.untagged(b"%d EXISTS" % len(view.messages))
    if not enabled.imap4rev2:  # RFC 9051 removed RECENT and [UNSEEN] (appendix E)
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
    # RFC 7162 section 3.1.2.1: sent on every successful SELECT/EXAMINE.
    session.untagged(b"OK [HIGHESTMODSEQ %d] Highest" % view.highest_modseq())
    mailbox_id = session.store.mailbox(view.user, view.name).mailbox_id
    session.untagged(b"OK [MAILBOXID (%s)] Ok" % mailbox_id.encode("ascii"))  # RFC 8474 4.2
    if args.qresync is not None and args.qresync.uidvalidity == view.uidvalidity:
        _resynchronize(session, view, args.qresync)
    session.view = view
    session.state = State.SELECTED
    mode = "READ-ONLY" if read_only else "READ-WRITE"
    return ok(f"{command.name} completed", mode)


def _resynchronize(session: Session, view: MailboxView, known: Qresync) -> None:
    """What changed since ``known.modseq``: VANISHED (EARLIER), then FETCH (RFC 7162 3.2.5).

    VANISHED (EARLIER) names the UIDs expunged after the client's mod-sequence,
    within its known UIDs, narrowed by the sequence match data (RFC 7162
    section 3.2.5.2): see :func:`_matched_uid`.
    """
    floor = 0 if known.seq_match is None else _matched_uid(view, *known.seq_match)
    with session.store.locked():
        box = session.store.mailbox(view.user, view.name)
        largest = box.uidnext - 1
        gone = sorted(
            uid
            for uid, modseq in box.expunged.items()
            if modseq > known.modseq
            and uid > floor
            and (known.known_uids is None or known.known_uids.contains(uid, largest=largest))
        )
    if gone:
        session.untagged(b"VANISHED (EARLIER) " + format_uid_set(gone))
    for number, message in enumerate(view.messages, start=1):
        if message.modseq > known.modseq:
            view.seen_flags(message)
            session.untagged(view.flags_response(number, message, uid=True))


def _matched_uid(view: MailboxView, numbers: SequenceSet, uids: SequenceSet) -> int:
    """The highest UID up to which the client's numbering still holds (RFC 7162 3.2.5.2).

    The sequence match data pairs message numbers the client knows with their
    UIDs. Checked from the lowest pair up, each pair whose message number still
    holds that UID shows that no message below it was expunged (UIDs only
    grow, so a message keeps its number exactly when none before it went): the
    client needs no VANISHED for UIDs up to it. The first pair that no longer
    matches ends the check. Returns 0 when nothing matched, or when the two sets
    differ in size (the client's data cannot be paired, so it is ignored).
    """
    count = len(view.messages)
    largest_uid = view.messages[-1].uid if view.messages else 0
    seq_starts, seq_ends = numbers.intervals(largest=count)
    uid_starts, uid_ends = uids.intervals(largest=largest_uid)
    known_numbers = (n for a, b in zip(seq_starts, seq_ends, strict=True) for n in range(a, b + 1))
    known_uids = (u for a, b in zip(uid_starts, uid_ends, strict=True) for u in range(a, b + 1))
    sizes = (
        sum(b - a + 1 for a, b in zip(seq_starts, seq_ends, strict=True)),
        sum(b - a + 1 for a, b in zip(uid_starts, uid_ends, strict=True)),
    )
    if sizes[0] != sizes[1]:
        return 0
    floor = 0
    for number, uid in zip(known_numbers, known_uids, strict=True):
        if not 1 <= number <= count or view.messages[number - 1].uid != uid:
            break
        floor = uid
    return floor


#: The special uses CREATE accepts (RFC 6154 section 2); the store keeps one per mailbox.
SPECIAL_USES = frozenset(
    {"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"}
)


async def create(session: Session, command: Command) -> Reply:
    """RFC 3501 section 6.3.3; a trailing delimiter only declares the intent to nest.

    ``(USE (...))`` sets the special use (CREATE-SPECIAL-USE, RFC 6154 section 3);
    an unknown one, or more than one, is ``NO [USEATTR]``. The tagged OK carries
    MAILBOXID (RFC 8474 section 4.1).
    """
    args = command.arguments(Create)
    name = args.mailbox.rstrip(DELIMITER)
    if not name:
        return bad("Empty mailbox name")
    uses = [_special_use(use) for use in args.uses]
    if any(use is None for use in uses) or len(uses) > 1:
        return no("Unsupported special use (one of \\All \\Archive ... \\Trash)", "USEATTR")
    try:
        box = session.store.create_mailbox(
            session.logged_in_user, name, special_use=uses[0] if uses else None
        )
    except MailboxExists:
        return no(f"Mailbox {name} already exists", "ALREADYEXISTS")
    return ok("CREATE completed", f"MAILBOXID ({box.mailbox_id})")


def _special_use(flag: str) -> str | None:
    """The canonical spelling of a special-use attribute (case-insensitive), or None."""
    return next((use for use in SPECIAL_USES if use.lower() == flag.lower()), None)


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


_SELECTION_OPTIONS = frozenset({"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"})
_RETURN_OPTIONS = frozenset({"SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS"})


async def list_mailboxes(session: Session, command: Command) -> Reply:
    """LIST and LSUB (RFC 3501 sections 6.3.8 and 6.3.9) with CHILDREN and SPECIAL-USE.

    The extended LIST of RFC 5258 adds selection options (SUBSCRIBED, REMOTE,
    RECURSIVEMATCH, SPECIAL-USE), several patterns and return options
    (SUBSCRIBED, CHILDREN, SPECIAL-USE, and STATUS of RFC 5819, which follows
    each mailbox's LIST response with its STATUS response).
    """
    args = command.arguments(ListMailboxes)
    delimiter = string(DELIMITER.encode("ascii"))
    verb = command.name.encode("ascii")
    utf8 = session.enabled.utf8_names
    if args.extended and command.name == "LSUB":
        return bad("LSUB takes no extended arguments")
    problem = _check_list_options(args)
    if problem is not None:
        return bad(problem)
    if not args.extended and not args.pattern and command.name == "LIST":
        # The hierarchy delimiter and root name (RFC 3501 section 6.3.8).
        session.untagged(verb + b" (\\Noselect) " + delimiter + b' ""')
        return ok("LIST completed")
    patterns = [_pattern(args.reference + pattern) for pattern in args.patterns or (args.pattern,)]
    boxes = session.store.mailboxes(session.logged_in_user)
    names = [box.name for box in boxes]
    subscribed_only = "SUBSCRIBED" in args.selection
    show_subscribed = subscribed_only or "SUBSCRIBED" in args.returns
    for box in boxes:
        if not any(matches(box.name) for matches in patterns):
            continue
        if command.name == "LSUB" and not box.subscribed:
            continue
        if "SPECIAL-USE" in args.selection and not box.special_use:
            continue
        extra = b""
        if subscribed_only and not box.subscribed:
            # RECURSIVEMATCH: a parent of a subscribed mailbox (RFC 5258 section 3.5).
            if "RECURSIVEMATCH" not in args.selection or not _has_subscribed_child(box, boxes):
                continue
            extra = b' ("CHILDINFO" ("SUBSCRIBED"))'
        attributes = _attributes(box, names)
        if show_subscribed and box.subscribed and command.name == "LIST":
            attributes.append("\\Subscribed")
        line = verb + b" " + flag_list(attributes) + b" " + delimiter + b" "
        session.untagged(line + mailbox(box.name, utf8=utf8) + extra)
        if args.status and not extra:
            session.untagged(status_response(session, box, args.status))
    return ok(f"{command.name} completed")


def _check_list_options(args: ListMailboxes) -> str | None:
    """What is wrong with the options of an extended LIST (RFC 5258 section 3), if anything."""
    unknown = [o for o in args.selection if o not in _SELECTION_OPTIONS]
    unknown += [o for o in args.returns if o not in _RETURN_OPTIONS]
    if unknown:
        return f"Unknown LIST option {unknown[0]}"
    if "RECURSIVEMATCH" in args.selection and set(args.selection) <= {"RECURSIVEMATCH", "REMOTE"}:
        return "RECURSIVEMATCH needs another selection option"  # RFC 5258 section 3.1
    return None


def _has_subscribed_child(box: Mailbox, boxes: list[Mailbox]) -> bool:
    prefix = box.name + DELIMITER
    return any(other.subscribed and other.name.startswith(prefix) for other in boxes)


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
    """RFC 3501 section 6.3.10, with the items of CONDSTORE, APPENDLIMIT, OBJECTID,
    STATUS=SIZE and QUOTA. Asking for HIGHESTMODSEQ enables CONDSTORE (RFC 7162 3.1).
    """
    args = command.arguments(Status)
    try:
        box = session.store.mailbox(session.logged_in_user, args.mailbox)
    except NoSuchMailbox:
        return no(f"No mailbox {args.mailbox}", "NONEXISTENT")
    if "HIGHESTMODSEQ" in args.items:
        session.enabled.condstore = True
    session.untagged(status_response(session, box, args.items))
    return ok("STATUS completed")


def status_response(session: Session, box: Mailbox, items: tuple[str, ...]) -> bytes:
    """``STATUS mailbox (item value ...)`` for STATUS and LIST-STATUS (RFC 5819)."""
    store = session.store
    with store.locked():
        recent = sum(1 for m in box.messages if RECENT in m.flags)
        view = session.view
        if view is not None and view.name == box.name and not view.read_only:
            recent += len(view.recent)  # taken off the stored messages by this session
        deleted = [m for m in box.messages if "\\Deleted" in m.flags]
        values: dict[str, bytes] = {
            "MESSAGES": b"%d" % len(box.messages),
            "RECENT": b"%d" % recent,
            "UIDNEXT": b"%d" % box.uidnext,
            "UIDVALIDITY": b"%d" % box.uidvalidity,
            "UNSEEN": b"%d" % sum(1 for m in box.messages if "\\Seen" not in m.flags),
            "HIGHESTMODSEQ": b"%d" % box.highest_modseq,
            "APPENDLIMIT": b"%d" % session.config.limits.max_literal,
            "MAILBOXID": b"(" + box.mailbox_id.encode("ascii") + b")",
            "SIZE": b"%d" % sum(m.size for m in box.messages),
            "DELETED": b"%d" % len(deleted),
            "DELETED-STORAGE": b"%d" % ((sum(m.size for m in deleted) + 1023) // 1024),
        }
        name = box.name
    shown = [item.encode("ascii") + b" " + values[item] for item in items]
    return b"STATUS " + mailbox(name, utf8=session.enabled.utf8_names) + b" " + parenthesized(shown)


async def append(session: Session, command: Command) -> Reply:
    """RFC 3501 section 6.3.11, answering APPENDUID (RFC 4315 section 3).

    A message bigger than APPENDLIMIT never arrives (the literal is refused with
    TOOBIG before it is read); one that would exceed the quota is ``NO [OVERQUOTA]``.
    """
    args = command.arguments(Append)
    if args.utf8 and not session.enabled.utf8_accept:
        return bad("APPEND UTF8 needs ENABLE UTF8=ACCEPT")  # RFC 6855 section 4
    wrong = check_flags(args.flags)
    if wrong is not None:
        return bad(f"{wrong} is not a flag a client can set")
    if _over_quota(session, len(args.message)):
        return no("Quota exceeded", "OVERQUOTA")  # RFC 9208 section 4.3.1
    flags = {flag for flag in args.flags if flag != RECENT} | {RECENT}
    if "append-dedups-message-id" in session.config.behaviours:
        existing = _same_message_id(session, args.mailbox, args.message)
        if existing is not None:  # Gmail keeps one copy per Message-ID and mailbox
            return ok("APPEND completed", f"APPENDUID {existing[0]} {existing[1]}")
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


def _message_id(data: bytes) -> bytes | None:
    """The Message-ID field value of a message's header, unfolded, or None."""
    header = data.split(b"\r\n\r\n", 1)[0].replace(b"\r\n ", b" ").replace(b"\r\n\t", b" ")
    for line in header.split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() == b"message-id" and value.strip():
            return value.strip()
    return None


def _same_message_id(session: Session, mailbox: str, data: bytes) -> tuple[int, int] | None:
    """(UIDVALIDITY, UID) of a message in ``mailbox`` with the same Message-ID, if any."""
    wanted = _message_id(data)
    if wanted is None:
        return None
    try:
        with session.store.locked():
            box = session.store.mailbox(session.logged_in_user, mailbox)
            for message in box.messages:
                if _message_id(message.data) == wanted:
                    return box.uidvalidity, message.uid
    except NoSuchMailbox:
        return None
    return None


def _over_quota(session: Session, size: int) -> bool:
    """Whether one more message of ``size`` octets would go over a quota limit (RFC 9208)."""
    octets, count = session.store.usage(session.logged_in_user)
    limits = session.store.account(session.logged_in_user).quota
    storage = limits.get("STORAGE")
    messages = limits.get("MESSAGE")
    return (storage is not None and (octets + size + 1023) // 1024 > storage) or (
        messages is not None and count + 1 > messages
    )
