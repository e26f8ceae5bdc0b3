"""The transcript of one connection: what each side sent, when, and TLS events.

Every connection of the reference client has one (DESIGN.md). Lines read
``+0.012 C: a1 CAPABILITY``, ``+0.015 S: * CAPABILITY IMAP4rev1 ...`` and
``+0.020 *: TLS established TLSv1.3 ...``. Users attach transcripts to bug
reports, so:

* secrets never appear: a caller sending credentials passes the redacted
  rendering (``shown``), and every registered secret (and its base64 forms)
  is replaced by ``<redacted>`` in every line as a second line of defence;
* memory is bounded: each line is cut at ``max_line`` octets, beyond
  ``max_entries`` lines only the head and the most recent tail are kept, and
  bulk (a message body in pieces of over 16 KiB, or more than 16 KiB from
  one side in a row) shows only its first and last lines;
* bytes stay bytes until rendered; rendering escapes what is not printable.
"""

from __future__ import annotations

import base64
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

REDACTED = b"<redacted>"

#: A received or sent chunk larger than this is shown by its first and last lines only.
_BULK_OCTETS = 16 * 1024
_BULK_HEAD = 12
_BULK_TAIL = 4


def _tail_start(data: bytes, start: int, lines: int = _BULK_TAIL) -> tuple[int, int]:
    """Where the last ``lines`` lines of ``data`` begin: the LF before them, and LFs seen.

    Looks back over at most ``lines + 1`` line ends, not before ``start``; the
    position is that of the earliest LF seen, ``len(data)`` when there is none.
    """
    tail_start = len(data)
    seen = 0
    for _ in range(lines + 1):
        found = data.rfind(b"\n", start, tail_start)
        if found < 0:
            break
        tail_start = found
        seen += 1
    return tail_start, seen


@dataclass
class _BulkRun:
    """Bulk chunks in a row from one side: the head is shown, the tail waits for the end."""

    direction: str
    #: Octets between the head shown and the tail kept.
    omitted: int
    #: The last lines of the latest chunk, shown when the run ends.
    tail: bytes


@dataclass(frozen=True)
class Entry:
    """One transcript line."""

    seconds: float  # since the transcript started
    direction: str  # "C" client, "S" server, "*" event
    data: bytes  # without line ending, redacted, possibly cut

    def render(self) -> str:
        """``+0.012 C: text`` with non-printable octets escaped."""
        text = self.data.decode("utf-8", "backslashreplace")
        text = "".join(ch if ch.isprintable() or ch == "\t" else repr(ch)[1:-1] for ch in text)
        return f"+{self.seconds:.3f} {self.direction}: {text}"


class Transcript:
    """Bounded, redacted record of one connection."""

    def __init__(
        self,
        label: str = "",
        *,
        max_line: int = 1000,
        max_entries: int = 20000,
        sink: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self._max_line = max_line
        self._head_limit = max_entries // 2
        self._head: list[Entry] = []
        self._tail: deque[Entry] = deque(maxlen=max_entries - self._head_limit)
        self._omitted = 0
        self._secrets: list[bytes] = []
        self._longest_secret = 0
        self._partial: dict[str, bytearray] = {"C": bytearray(), "S": bytearray()}
        #: Bulk chunks being received in a row (see :meth:`_feed`), if any.
        self._run: _BulkRun | None = None
        #: Octets in a row from one side (reset when the other speaks or an event comes).
        self._streak = 0
        self._streak_side = ""
        self._sink = sink
        self._clock = clock
        self._start = clock()

    # -- secrets ------------------------------------------------------------------

    def add_secret(self, secret: str | bytes) -> None:
        """Never show ``secret`` (nor its base64 encodings) in any line."""
        raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if not raw:
            return
        forms = {raw, base64.b64encode(raw)}
        # Base64 of a longer payload containing the secret at any offset mod 3
        # shares an aligned core with one of these three encodings.
        for shift in range(3):
            encoded = base64.b64encode(b"\0" * shift + raw)
            core = encoded[4 * ((shift + 2) // 3) : 4 * ((shift + len(raw)) // 3)]
            if len(core) >= 8:
                forms.add(core)
        for form in sorted(forms, key=len, reverse=True):
            if form not in self._secrets:
                self._secrets.append(form)
                self._longest_secret = max(self._longest_secret, len(form))

    @property
    def secrets(self) -> tuple[bytes, ...]:
        """The registered secrets (for sweeping other outputs)."""
        return tuple(self._secrets)

    def redact(self, data: bytes) -> bytes:
        """``data`` with every registered secret replaced."""
        for secret in self._secrets:
            if secret in data:
                data = data.replace(secret, REDACTED)
        return data

    def redact_text(self, text: str) -> str:
        """A string with every registered secret replaced (for error messages)."""
        return self.redact(text.encode("utf-8", "surrogateescape")).decode(
            "utf-8", "surrogateescape"
        )

    # -- recording ----------------------------------------------------------------

    def client(self, data: bytes, *, shown: bytes | None = None) -> None:
        """Record bytes the client sent; ``shown`` replaces them when they hold secrets."""
        self._feed("C", data if shown is None else shown)

    def server(self, data: bytes) -> None:
        """Record bytes the server sent."""
        self._feed("S", data)

    def event(self, text: str) -> None:
        """Record a non-protocol event (TLS up, timeout, close)."""
        self.flush()
        self._add("*", text.encode("utf-8"))

    def flush(self) -> None:
        """Write out a bulk run and partial lines (at the end, or before an event)."""
        self._end_run()
        self._streak = 0
        for direction, pending in self._partial.items():
            if pending:
                self._add(direction, bytes(pending))
                pending.clear()

    def _feed(self, direction: str, data: bytes) -> None:
        run = self._run
        if run is not None and run.direction != direction:
            self._end_run()
            run = None
        if direction != self._streak_side:
            self._streak_side, self._streak = direction, 0
        self._streak += len(data)
        if run is None and len(data) <= _BULK_OCTETS:
            self._feed_lines(direction, data)
            if self._streak > _BULK_OCTETS and not self._partial[direction]:
                # Over a bulk's worth from one side in a row (a flood of small reads, say):
                # the lines so far were shown, from here on only the last ones will be.
                self._run = _BulkRun(direction, 0, b"")
            return
        # Bulk (a message body, a flood): keep its first and last lines only, so
        # that recording stays cheap and bounded whatever the server sends.
        if run is not None:
            self._extend_run(run, data)
            return
        head_end = -1
        for _ in range(_BULK_HEAD):
            found = data.find(b"\n", head_end + 1)
            if found < 0:
                break
            head_end = found
        tail_start, _seen = _tail_start(data, head_end + 1)
        if tail_start <= head_end + 1 or tail_start == len(data):
            self._feed_lines(direction, data)  # a few very long lines: cut by max_line
            return
        self._feed_lines(direction, data[: head_end + 1])
        self._run = _BulkRun(direction, tail_start + 1 - (head_end + 1), data[tail_start + 1 :])

    def _extend_run(self, run: _BulkRun, data: bytes) -> None:
        """The bulk goes on: keep its last lines (across pieces), count the rest as not shown.

        So a body read in many pieces reads as in one. The tail kept is bounded
        (a line without end is cut, as every line is, at ``max_line``).
        """
        tail_start, seen = _tail_start(data, 0)
        if seen > _BULK_TAIL:
            run.omitted += len(run.tail) + tail_start + 1
            run.tail = data[tail_start + 1 :]
        else:
            # Fewer lines than the tail shows: the rest of them come from the tail kept.
            kept_start, kept_seen = _tail_start(run.tail, 0, _BULK_TAIL - seen)
            if kept_seen > _BULK_TAIL - seen:
                run.omitted += kept_start + 1
                run.tail = run.tail[kept_start + 1 :] + data
            else:
                run.tail += data
        limit = (_BULK_TAIL + 1) * (self._max_line + 2)
        if len(run.tail) > limit:
            run.omitted += len(run.tail) - limit
            run.tail = run.tail[-limit:]

    def _end_run(self) -> None:
        """Close a bulk run: the count of octets not shown, then the run's last lines."""
        run, self._run = self._run, None
        if run is None:
            return
        if run.omitted:
            side = b"server" if run.direction == "S" else b"client"
            self._add("*", b"... %d octets from %s not shown ..." % (run.omitted, side))
        self._feed_lines(run.direction, run.tail)

    def _feed_lines(self, direction: str, data: bytes) -> None:
        """Record the lines that ``data`` completes; keep its unfinished last line pending.

        The complete lines are redacted together, one search per secret over
        the piece rather than over each line (a tenth of the cost for short
        lines), and before they are cut at ``max_line``, so that a secret a cut
        would split is still found whole. They share one time, their arrival.
        """
        pending = self._partial[direction]
        # An unfinished line is kept up to the cut and a secret's length beyond it: a
        # secret that starts before the cut is then still whole when its line is redacted.
        keep = self._max_line + 1 + self._longest_secret
        last = data.rfind(b"\n")
        if last < 0:
            room = keep - len(pending)
            if room > 0:
                pending += data[:room]
            return
        block = data[: last + 1]
        if pending:
            block = bytes(pending) + block
            pending.clear()
        seconds = self._clock() - self._start
        lines = self.redact(block).split(b"\n")
        lines.pop()  # the empty piece after the last LF
        for line in lines:
            self._keep(direction, line, seconds)
        if last + 1 < len(data):
            pending += data[last + 1 : last + 1 + keep]

    def _add(self, direction: str, line: bytes) -> None:
        """Record one line (its line end, if any, is dropped), redacted."""
        line = line.removesuffix(b"\n")
        self._keep(direction, self.redact(line), self._clock() - self._start)

    def _keep(self, direction: str, line: bytes, seconds: float) -> None:
        """Keep one redacted line without its LF: cut at ``max_line``, within the bounds."""
        line = line.removesuffix(b"\r")
        if len(line) > self._max_line:
            line = line[: self._max_line] + b"...<cut>"
        entry = Entry(seconds, direction, line)
        if len(self._head) < self._head_limit:
            self._head.append(entry)
        else:
            if len(self._tail) == self._tail.maxlen:
                self._omitted += 1
            self._tail.append(entry)
        if self._sink is not None:
            prefix = f"[{self.label}] " if self.label else ""
            self._sink(prefix + entry.render())

    # -- reading ------------------------------------------------------------------

    def entries(self) -> list[Entry]:
        """Every kept entry, oldest first."""
        self._end_run()
        return [*self._head, *self._tail]

    def lines(self) -> list[str]:
        """The rendered lines, with a marker where lines were dropped."""
        self._end_run()
        rendered = [entry.render() for entry in self._head]
        if self._omitted:
            rendered.append(f"... {self._omitted} lines omitted ...")
        rendered.extend(entry.render() for entry in self._tail)
        return rendered

    def tail(self, count: int = 12) -> list[str]:
        """The last ``count`` rendered lines (for error messages)."""
        self.flush()
        return self.lines()[-count:]

    def render(self) -> str:
        """The whole transcript as text, one line per entry."""
        self.flush()
        header = [f"# {self.label}"] if self.label else []
        return "\n".join([*header, *self.lines()]) + "\n"


def sweep(texts: Iterable[str | bytes], secrets: Iterable[str | bytes]) -> list[str]:
    """The secrets that occur in any of ``texts`` (used by tests and reports)."""
    wanted = [s.encode() if isinstance(s, str) else s for s in secrets if s]
    found: list[str] = []
    for text in texts:
        blob = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
        found.extend(s.decode("utf-8", "replace") for s in wanted if s in blob)
    return found
