"""Hostile POP3 and SMTP streams, built from pieces of real replies: only protocol errors.

As for IMAP (``imap/test_hostile_fragments.py``): random octets seldom look
like a reply, so these streams are strung together from fragments of real
ones (status lines, multi-line bodies with stuffed dots and the end line,
SASL challenges, multi-line SMTP replies with mixed codes and separators)
and stray CR, LF and NUL. Whatever the server sends, each engine raises
only :class:`RemoteProtocolError`, and the stream read whole and one octet
at a time gives the same events and the same error.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from refclient.protocol.pop3 import NEED_DATA as POP3_NEED_DATA
from refclient.protocol.pop3 import POP3Engine
from refclient.protocol.smtp import NEED_DATA as SMTP_NEED_DATA
from refclient.protocol.smtp import SMTPEngine
from tests.refclient.protocol.engine_reading import read_to_the_end

_POP3_FRAGMENTS = [
    b"+OK",
    b"+OK 2 messages\r\n",
    b"-ERR no such message\r\n",
    b"-ERR [IN-USE] locked\r\n",
    b"+ ",
    b"+ dGVzdA==\r\n",
    b"+\r\n",
    b"1 120\r\n",
    b"Subject: hi\r\n",
    b"..stuffed\r\n",
    b".\r\n",
    b".",
    b"\r\n",
    b"\n",
    b"\r",
    b" ",
    b"text",
    b"\x00",
    b"\xff",
    b"220 smtp.example.test ESMTP\r\n",
    b"* OK IMAP ready\r\n",
]

_SMTP_FRAGMENTS = [
    b"220 ready\r\n",
    b"220-first\r\n",
    b"250-SIZE 1000\r\n",
    b"250-PIPELINING\r\n",
    b"250 OK\r\n",
    b"250 2.1.0 Ok\r\n",
    b"354 go ahead\r\n",
    b"421 4.7.0 closing\r\n",
    b"535 5.7.8 bad\r\n",
    b"334 \r\n",
    b"334 VXNlcm5hbWU6\r\n",
    b"250",
    b"250-",
    b"25",
    b"2500 wide\r\n",
    b"abc\r\n",
    b"\r\n",
    b"\n",
    b"\r",
    b" ",
    b"\x00",
    b"\xff",
    b"+OK pop3\r\n",
    b"* OK imap\r\n",
]


def _pop3(chunks: list[bytes]) -> tuple[list[str], str | None]:
    """Every event a POP3 engine gives for ``chunks`` (greeting; a RETR, a LIST, an AUTH due)."""
    engine = POP3Engine(max_line=80, max_body=200)
    engine.send("RETR 1", multiline=True)
    engine.send("LIST", multiline=True)
    engine.send("AUTH PLAIN")
    return read_to_the_end(engine, chunks, need_data=POP3_NEED_DATA)


def _smtp(chunks: list[bytes]) -> tuple[list[str], str | None]:
    """Every event an SMTP engine gives for ``chunks`` (the greeting and five NOOPs due)."""
    engine = SMTPEngine(max_line=80)
    for _ in range(5):
        engine.send("NOOP")
    return read_to_the_end(engine, chunks, need_data=SMTP_NEED_DATA)


def _octets(stream: bytes) -> list[bytes]:
    return [stream[index : index + 1] for index in range(len(stream))]


@settings(max_examples=300)
@given(st.lists(st.sampled_from(_POP3_FRAGMENTS), max_size=30).map(b"".join))
def test_a_stream_of_pop3_fragments_raises_only_protocol_errors_however_cut(stream: bytes) -> None:
    assert _pop3([stream]) == _pop3(_octets(stream))


@settings(max_examples=300)
@given(st.lists(st.sampled_from(_SMTP_FRAGMENTS), max_size=30).map(b"".join))
def test_a_stream_of_smtp_fragments_raises_only_protocol_errors_however_cut(stream: bytes) -> None:
    assert _smtp([stream]) == _smtp(_octets(stream))


def test_a_pop3_body_cut_off_by_the_close_is_an_error_naming_it() -> None:
    seen, error = _pop3([b"+OK ready\r\n+OK\r\nSubject: hi\r\n"])
    assert len(seen) == 1 and "GREETING" in seen[0]
    assert error is not None and "closed" in error


def test_an_smtp_reply_cut_off_by_the_close_is_an_error_naming_it() -> None:
    seen, error = _smtp([b"220-first\r\n"])
    assert seen == []
    assert error is not None and "closed" in error
