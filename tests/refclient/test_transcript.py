"""Transcripts: line splitting, redaction, and bounded memory."""

from __future__ import annotations

import base64
import itertools

from hypothesis import given
from hypothesis import strategies as st

from refclient.transcript import Transcript, sweep


def _texts(transcript: Transcript) -> list[str]:
    transcript.flush()
    return [entry.data.decode("utf-8", "replace") for entry in transcript.entries()]


def test_lines_are_split_across_chunks() -> None:
    transcript = Transcript("t", clock=lambda: 0.0)
    for chunk in (b"* OK re", b"ady\r\n* 1 EXI", b"STS\r\nA1 OK done\r\n"):
        transcript.server(chunk)
    transcript.client(b"A2 LOGOUT\r\n")
    assert transcript.render().splitlines() == [
        "# t",
        "+0.000 S: * OK ready",
        "+0.000 S: * 1 EXISTS",
        "+0.000 S: A1 OK done",
        "+0.000 C: A2 LOGOUT",
    ]


@given(st.binary(max_size=300), st.integers(min_value=1, max_value=17))
def test_chunking_does_not_change_the_lines(data: bytes, size: int) -> None:
    whole, trickled = Transcript(clock=lambda: 0.0), Transcript(clock=lambda: 0.0)
    whole.server(data)
    for start in range(0, len(data), size):
        trickled.server(data[start : start + size])
    assert _texts(whole) == _texts(trickled)


def test_secrets_and_their_base64_forms_are_redacted() -> None:
    transcript = Transcript()
    transcript.add_secret("hunter2-secret")
    plain = base64.b64encode(b"\0alice@example.test\0hunter2-secret")
    transcript.client(b"A1 LOGIN alice hunter2-secret\r\n")
    transcript.client(plain + b"\r\n")
    text = transcript.render()
    assert "hunter2-secret" not in text
    assert plain.decode() not in text
    assert sweep([text], ["hunter2-secret"]) == []
    assert sweep(["x hunter2-secret y"], ["hunter2-secret"]) == ["hunter2-secret"]


@given(st.integers(min_value=0, max_value=130), st.integers(min_value=1, max_value=40))
def test_a_secret_is_redacted_wherever_the_line_is_cut_or_split(offset: int, size: int) -> None:
    """Redaction comes before the cut at max_line: no part of a secret shows at the cut."""
    transcript = Transcript(max_line=100)
    transcript.add_secret("Sekr3t-Passw0rd")
    line = b"x" * offset + b"Sekr3t-Passw0rd tail\r\n"
    for start in range(0, len(line), size):
        transcript.server(line[start : start + size])
    assert all(b"Sekr" not in entry.data for entry in transcript.entries())


def test_without_the_secret_registered_the_cut_line_shows_it() -> None:
    transcript = Transcript(max_line=100)
    transcript.server(b"x" * 96 + b"Sekr3t-Passw0rd tail\r\n")
    assert [entry.data for entry in transcript.entries()] == [b"x" * 96 + b"Sekr...<cut>"]


def test_shown_replaces_what_was_sent() -> None:
    transcript = Transcript()
    transcript.client(b"A1 LOGIN u p\r\n", shown=b"A1 LOGIN u <redacted>\r\n")
    assert _texts(transcript) == ["A1 LOGIN u <redacted>"]


def test_an_endless_line_is_cut() -> None:
    transcript = Transcript(max_line=100)
    for _ in range(1000):
        transcript.server(b"x" * 1000)
    transcript.server(b"\r\n")
    (line,) = _texts(transcript)
    assert len(line) < 120 and line.endswith("...<cut>")


def test_a_flood_keeps_head_and_tail_only() -> None:
    transcript = Transcript(max_entries=100)
    for number in range(10_000):
        transcript.server(b"* %d EXISTS\r\n" % number)
    lines = transcript.lines()
    assert len(lines) <= 101
    assert lines[0].endswith("* 0 EXISTS") and lines[-1].endswith("* 9999 EXISTS")
    assert any("lines omitted" in line for line in lines)


def test_a_bulk_chunk_shows_its_head_and_tail() -> None:
    transcript = Transcript()
    body = b"".join(b"line %d\r\n" % n for n in range(5000))
    transcript.server(body)
    texts = _texts(transcript)
    assert texts[0] == "line 0" and texts[-1] == "line 4999"
    assert any("not shown" in text for text in texts)
    assert len(texts) < 50


def test_a_few_long_lines_are_cut_not_summarised() -> None:
    transcript = Transcript(max_line=100)
    transcript.server(b"x" * 40_000 + b"\r\n" + b"y" * 40_000 + b"\r\n")
    texts = _texts(transcript)
    assert [t[:1] for t in texts] == ["x", "y"]
    assert all(t.endswith("...<cut>") for t in texts)


def _body(lines: int) -> bytes:
    return b"".join(b"line %d of the body\r\n" % n for n in range(lines))


@given(st.lists(st.integers(min_value=16 * 1024 + 1, max_value=60_000), min_size=1, max_size=8))
def test_a_body_in_bulk_pieces_reads_as_in_one(sizes: list[int]) -> None:
    body = _body(30_000)
    whole, pieces = Transcript(clock=lambda: 0.0), Transcript(clock=lambda: 0.0)
    whole.server(body)
    cuts = [0]
    for size in sizes:
        if len(body) - (cuts[-1] + size) <= 16 * 1024:
            break
        cuts.append(cuts[-1] + size)
    cuts.append(len(body))  # the last piece is bulk too
    for start, end in itertools.pairwise(cuts):
        pieces.server(body[start:end])
    assert _texts(pieces) == _texts(whole)
    assert len(_texts(whole)) == 12 + 1 + 4


def test_a_bulk_run_ends_where_the_other_side_speaks() -> None:
    transcript = Transcript(clock=lambda: 0.0)
    body = _body(3000)
    transcript.server(body)
    transcript.server(body)
    transcript.client(b"a2 NOOP\r\n")
    transcript.server(body)
    texts = _texts(transcript)
    markers = [index for index, text in enumerate(texts) if "not shown" in text]
    assert len(markers) == 2, "one summary per run, two runs"
    assert texts[markers[0] + 5] == "a2 NOOP"
    assert texts[markers[0] + 4] == "line 2999 of the body"
    assert texts[-1] == "line 2999 of the body"


def test_a_small_piece_after_bulk_is_the_end_of_its_run() -> None:
    transcript = Transcript(clock=lambda: 0.0)
    transcript.server(_body(3000))
    transcript.server(b"* 2 FETCH (FLAGS (\\Seen))\r\na1 OK done\r\n")
    texts = _texts(transcript)
    assert texts[-2:] == ["* 2 FETCH (FLAGS (\\Seen))", "a1 OK done"]
    assert sum("not shown" in text for text in texts) == 1


def test_a_flood_of_small_pieces_is_shown_up_to_16_kib_then_by_its_last_lines() -> None:
    transcript = Transcript(clock=lambda: 0.0)
    lines = [b"* %d FETCH (FLAGS (\\Seen))\r\n" % n for n in range(5000)]
    for line in lines:
        transcript.server(line)
    transcript.client(b"a2 LOGOUT\r\n")
    texts = _texts(transcript)
    shown = sum(
        len(line) for line in lines[: texts.index(next(t for t in texts if "not shown" in t))]
    )
    assert 16 * 1024 < shown <= 16 * 1024 + len(lines[-1])
    assert texts[0] == "* 0 FETCH (FLAGS (\\Seen))"
    assert texts[-2] == "* 4999 FETCH (FLAGS (\\Seen))" and texts[-1] == "a2 LOGOUT"
    assert len(texts) < 16 * 1024 // 20


def test_the_other_side_speaking_starts_a_new_streak() -> None:
    transcript = Transcript(clock=lambda: 0.0)
    for number in range(400):  # 400 short exchanges: no side ever sends 16 KiB in a row
        transcript.client(b"a%d NOOP\r\n" % number)
        transcript.server(b"a%d OK " % number + b"x" * 100 + b"\r\n")
    texts = _texts(transcript)
    assert len(texts) == 800 and not any("not shown" in text for text in texts)


@given(st.lists(st.integers(min_value=1, max_value=40_000), min_size=1, max_size=30))
def test_every_octet_of_bulk_is_shown_or_counted_and_the_last_lines_end_it(
    sizes: list[int],
) -> None:
    body = _body(4000)
    transcript = Transcript(clock=lambda: 0.0)
    start = 0
    for size in [*sizes, len(body)]:
        if start < len(body):
            transcript.server(body[start : start + size])
        start += size
    texts = _texts(transcript)
    omitted = sum(
        int(text.split()[1]) for text in texts if text.startswith("... ") and "not shown" in text
    )
    shown = sum(len(text) + 2 for text in texts if "not shown" not in text)
    assert shown + omitted == len(body)
    assert texts[-4:] == [f"line {n} of the body" for n in range(3996, 4000)]
