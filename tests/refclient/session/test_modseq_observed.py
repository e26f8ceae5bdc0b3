"""A FETCH's MODSEQ raises the mailbox's HIGHESTMODSEQ (RFC 7162 section 3.1.4).

The item name is matched without regard to case (RFC 3501 section 9), and
a FETCH without it, or with a NIL where a name belongs, changes nothing.
"""

from __future__ import annotations

import pytest

from refclient.protocol.imap.framing import Frame
from refclient.protocol.imap.parser import Untagged, parse_frame
from refclient.session.imap import IMAPSession, MailboxState


def _observed(line: bytes, known: int | None = 5) -> int | None:
    box = MailboxState("INBOX", highest_modseq=known)
    response = parse_frame(Frame((line,), ()), max_nesting=10)
    assert isinstance(response, Untagged)
    IMAPSession._observe_modseq(box, response)
    return box.highest_modseq


@pytest.mark.parametrize("name", [b"MODSEQ", b"modseq", b"ModSeq"])
def test_a_higher_modseq_in_any_case_is_noted(name: bytes) -> None:
    assert _observed(b"* 1 FETCH (UID 3 " + name + b" (12) FLAGS ())") == 12


@pytest.mark.parametrize(
    "line",
    [
        b"* 1 FETCH (UID 3 FLAGS (\\Seen) RFC822.SIZE 44)",  # no MODSEQ
        b"* 1 FETCH (UID 3 MODSEQ (4))",  # lower than known
        b"* 1 FETCH (MODSEQS (9) UIDS 3)",  # names that only start alike
    ],
)
def test_anything_else_leaves_it(line: bytes) -> None:
    assert _observed(line) == 5


def test_a_nil_where_a_name_belongs_does_not_hide_a_later_modseq() -> None:
    assert _observed(b"* 1 FETCH (NIL 3 MODSEQ (9))") == 9
