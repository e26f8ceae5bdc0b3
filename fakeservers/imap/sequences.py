"""IMAP sequence sets: ``1,3:5,7:*`` (RFC 3501 section 9, ``sequence-set``).

A set is kept as the ranges the client wrote, with ``*`` left symbolic,
because ``*`` means "the largest number in use" and that depends on the
mailbox at the moment the set is applied (RFC 3501 section 6.4.8: ``UID n:*``
always matches the message with the highest UID, even when ``n`` is larger).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

#: The symbolic ``*`` in a range, resolved by :meth:`SequenceSet.contains`.
STAR = 0


class SequenceSetError(ValueError):
    """The text is not a valid ``sequence-set``."""


@dataclass(frozen=True)
class SequenceSet:
    """Inclusive ranges of message numbers or UIDs; :data:`STAR` stands for ``*``.

    ``saved`` stands for ``$``, the saved search result (SEARCHRES, RFC 5182),
    which only the selected mailbox's view can resolve; its ``ranges`` are empty.
    """

    ranges: tuple[tuple[int, int], ...]
    saved: bool = False
    #: Merged intervals per value of ``*`` (see :meth:`intervals`), computed once each.
    _resolved: dict[int, tuple[list[int], list[int]]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    @classmethod
    def parse(cls, text: bytes) -> SequenceSet:
        """Parse ``sequence-set``; raises :class:`SequenceSetError`."""
        if not text:
            raise SequenceSetError("empty sequence set")
        ranges: list[tuple[int, int]] = []
        for item in text.split(b","):
            bounds = item.split(b":")
            if len(bounds) > 2:
                raise SequenceSetError(f"bad sequence range {item!r}")
            numbers = [_seq_number(bound) for bound in bounds]
            ranges.append((numbers[0], numbers[-1]))
        return cls(tuple(ranges))

    def intervals(self, *, largest: int) -> tuple[list[int], list[int]]:
        """The set as sorted, disjoint, non-adjacent intervals: (starts, ends), inclusive.

        ``*`` is ``largest``; ``5:3`` is ``3:5`` (RFC 3501 section 9). Sorting
        and merging costs O(r log r) for r ranges, once per ``largest``, so a
        client's 100 comma-separated UIDs cost no more than a range per message.
        """
        cached = self._resolved.get(largest)
        if cached is not None:
            return cached
        pairs = sorted(
            (min(first or largest, last or largest), max(first or largest, last or largest))
            for first, last in self.ranges
        )
        starts: list[int] = []
        ends: list[int] = []
        for low, high in pairs:
            if ends and low <= ends[-1] + 1:
                ends[-1] = max(ends[-1], high)
            else:
                starts.append(low)
                ends.append(high)
        if len(self._resolved) > 8:  # ``*`` takes few values in one command
            self._resolved.clear()
        self._resolved[largest] = (starts, ends)
        return starts, ends

    def contains(self, number: int, *, largest: int) -> bool:
        """Whether ``number`` is in the set when ``*`` is ``largest`` (O(log r))."""
        starts, ends = self.intervals(largest=largest)
        index = bisect.bisect_right(starts, number) - 1
        return index >= 0 and number <= ends[index]

    def select(self, numbers: Iterable[int], *, largest: int) -> list[int]:
        """The members of ``numbers`` (ascending) that are in the set."""
        return [n for n in numbers if self.contains(n, largest=largest)]

    def positions(self, keys: Sequence[int], *, largest: int) -> list[int]:
        """The indexes of the ``keys`` (ascending, e.g. a mailbox's UIDs) that are in the set.

        Each interval is found by binary search over plain integers, so the cost
        is O(r log n) plus the indexes returned, never a scan of all ``keys``.
        """
        starts, ends = self.intervals(largest=largest)
        chosen: list[int] = []
        position = 0
        for low, high in zip(starts, ends, strict=True):
            first = bisect.bisect_left(keys, low, lo=position)
            position = bisect.bisect_right(keys, high, lo=first)
            chosen.extend(range(first, position))
        return chosen

    def highest_explicit(self) -> int:
        """The largest number written out (not ``*``); 0 if only ``*`` appears."""
        return max((max(pair) for pair in self.ranges), default=0)


def _seq_number(text: bytes) -> int:
    """``seq-number = nz-number / "*"``; nz-number has no leading zero."""
    if text == b"*":
        return STAR
    if not text.isdigit() or text.startswith(b"0") or not text.isascii():
        raise SequenceSetError(f"bad sequence number {text!r}")
    number = int(text)
    if number > 0xFFFFFFFF:  # RFC 3501 section 9: nz-number fits in 32 bits
        raise SequenceSetError(f"sequence number {text!r} out of range")
    return number


def format_uid_set(uids: Iterable[int]) -> bytes:
    """A compact ``uid-set`` (``1:3,5``) for COPYUID/APPENDUID (RFC 4315 section 3)."""
    parts: list[bytes] = []
    run: list[int] = []
    for uid in uids:
        if run and uid == run[-1] + 1:
            run.append(uid)
            continue
        if run:
            parts.append(_format_run(run))
        run = [uid]
    if run:
        parts.append(_format_run(run))
    return b",".join(parts)


def _format_run(run: list[int]) -> bytes:
    if len(run) == 1:
        return b"%d" % run[0]
    return b"%d:%d" % (run[0], run[-1])
