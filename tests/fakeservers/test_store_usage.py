"""The store's usage count (QUOTA, RFC 9208) is added up incrementally and stays exact.

Delivering the n-th message must not add up the n before it (a submission
of thousands of messages became quadratic), so a mailbox remembers its
octets and adds only what joined since; any removal makes it count again.
The property: after any sequence of appends, copies, expunges and
deletions, ``usage`` equals the plain sum.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fakeservers.store import MailStore

USER = "alice@example.test"

_STEPS = st.lists(
    st.tuples(
        st.sampled_from(["append", "append", "copy", "expunge", "delete", "usage"]),
        st.integers(min_value=1, max_value=300),
    ),
    max_size=40,
)


def _plain(store: MailStore) -> tuple[int, int]:
    boxes = store.mailboxes(USER)
    return (
        sum(len(message.data) for box in boxes for message in box.messages),
        sum(len(box.messages) for box in boxes),
    )


@given(_STEPS)
def test_usage_equals_the_plain_sum_after_any_changes(steps: list[tuple[str, int]]) -> None:
    store = MailStore()
    store.add_account(USER, "secret")
    for action, number in steps:
        inbox = store.mailbox(USER, "INBOX")
        uids = [message.uid for message in inbox.messages]
        if action == "append":
            store.append(USER, "INBOX", b"x" * number)
        elif action == "copy" and uids:
            store.copy(USER, "INBOX", uids[: number % len(uids) + 1], "Archive")
        elif action == "expunge" and uids:
            store.set_flags(USER, "INBOX", uids[number % len(uids)], ["\\Deleted"], mode="add")
            store.expunge(USER, "INBOX")
        elif action == "delete" and uids:
            store.delete_messages(USER, "INBOX", uids[: number % len(uids) + 1])
        assert store.usage(USER) == _plain(store)
    assert store.usage(USER) == _plain(store)
