"""Modified UTF-7 and sequence sets of the client engine."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refclient.protocol.errors import LocalProtocolError
from refclient.protocol.imap import sequence_set, utf7


def test_rfc_3501_example() -> None:
    name = "~peter/mail/\u53f0\u5317/\u65e5\u672c\u8a9e"
    assert utf7.encode(name) == b"~peter/mail/&U,BTFw-/&ZeVnLIqe-"
    assert utf7.decode(b"~peter/mail/&U,BTFw-/&ZeVnLIqe-") == name
    assert utf7.encode("A&B") == b"A&-B"


@given(st.text(max_size=30))
def test_any_name_round_trips(name: str) -> None:
    assert utf7.decode(utf7.encode(name)) == name


@pytest.mark.parametrize("bad", [b"&Jjo", b"&!!-", b"caf\xe9"])
def test_malformed_names_are_rejected(bad: bytes) -> None:
    with pytest.raises(utf7.UTF7Error):
        utf7.decode(bad)


def test_sequence_sets() -> None:
    assert sequence_set([3, 1, 2, 7, 9, 10]) == "1:3,7,9:10"
    assert sequence_set([5]) == "5"
    with pytest.raises(LocalProtocolError):
        sequence_set([])
