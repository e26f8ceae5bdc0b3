"""The shared mail store: exact bytes, UIDs, flags, expunge, watchers."""

from __future__ import annotations

import threading

import pytest

from fakeservers.store import MailboxExists, MailStore, NoSuchMailbox


@pytest.fixture
def store() -> MailStore:
    store = MailStore()
    store.add_account("alice@example.test", "alice-pass")
    return store


def test_delivered_bytes_are_kept_exactly(store: MailStore) -> None:
    data = b"Subject: x\r\n\r\n.dot\r\n\xff8bit\r\n"
    message = store.deliver("ALICE@example.test", data)
    box = store.mailbox("alice@example.test", "inbox")
    assert box.messages == [message]
    assert message.data == data and message.size == len(data)
    assert message.uid == 1 and box.uidnext == 2


def test_expunge_removes_only_deleted(store: MailStore) -> None:
    user = "alice@example.test"
    first = store.append(user, "INBOX", b"a\r\n")
    second = store.append(user, "INBOX", b"b\r\n")
    store.set_flags(user, "INBOX", first.uid, ["\\Deleted"], mode="add")
    assert store.expunge(user, "INBOX") == [first.uid]
    assert [m.uid for m in store.mailbox(user, "INBOX").messages] == [second.uid]


def test_mailbox_errors(store: MailStore) -> None:
    user = "alice@example.test"
    with pytest.raises(NoSuchMailbox):
        store.mailbox(user, "Nope")
    store.create_mailbox(user, "Work/2026")
    assert store.mailbox(user, "Work").name == "Work"
    with pytest.raises(MailboxExists):
        store.create_mailbox(user, "Work")


def test_watchers_fire_from_other_threads(store: MailStore) -> None:
    seen: list[tuple[str, str]] = []
    unwatch = store.watch("alice@example.test", "INBOX", lambda u, m: seen.append((u, m)))
    thread = threading.Thread(target=store.deliver, args=("alice@example.test", b"x\r\n"))
    thread.start()
    thread.join()
    unwatch()
    store.deliver("alice@example.test", b"y\r\n")
    assert seen == [("alice@example.test", "INBOX")]


def test_maildrop_lock_is_exclusive_and_release_is_idempotent(store: MailStore) -> None:
    user = "alice@example.test"
    release = store.lock_maildrop(user)
    assert release is not None
    assert store.lock_maildrop(user) is None
    release()
    again = store.lock_maildrop(user)
    assert again is not None
    release()  # a stale release must not free the new holder's lock
    assert store.lock_maildrop(user) is None
    again()


def test_outbox_records_outgoing_messages(store: MailStore) -> None:
    assert store.outbox() == []
    store.record_outgoing("alice@example.test", ["x@elsewhere.test"], b"m\r\n")
    [outgoing] = store.outbox()
    assert outgoing.recipients == ("x@elsewhere.test",) and outgoing.data == b"m\r\n"
