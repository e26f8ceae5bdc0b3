"""Transcripts: line splitting, redaction, and bounded memory."""

from __future__ import annotations

import base64

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
