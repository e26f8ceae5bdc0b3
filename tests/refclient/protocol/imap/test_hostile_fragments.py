"""A hostile server's stream, built from pieces of real IMAP: only protocol errors, however cut.

Random octets seldom look like IMAP, so they seldom reach the paths a
server can actually take the client down (a literal's last octet a CR, a
closing line that is a bare LF, a section spec cut short). These streams
are strung together from fragments of responses instead: numbered FETCH
data with literals and literal8, strings with escapes, section specs,
tagged and continuation lines, CR, LF and NUL where they do not belong.

Whatever the server sends, the engine and the typing of FETCH data raise
only :class:`RemoteProtocolError`, and the stream read whole and read one
octet at a time gives the same responses and the same error.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from refclient.findings import Finding
from refclient.protocol.imap import NEED_DATA, IMAPEngine, Untagged, parse_fetch
from tests.refclient.protocol.engine_reading import read_to_the_end

_FRAGMENTS = [
    # Response starts.
    b"* ",
    b"* 1 FETCH (",
    b"* 2 FETCH ",
    b"* 3 EXISTS\r\n",
    b"* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n",
    b"* BYE going\r\n",
    b"A0001 OK done\r\n",
    b"A0001 ",
    b"+ go on\r\n",
    b"+\r\n",
    # FETCH items, well and badly formed.
    b"UID ",
    b"7 ",
    b"UID 7",
    b"FLAGS (\\Seen $Forwarded) ",
    b"FLAGS ",
    b"RFC822.SIZE 20 ",
    b"RFC822.SIZE x ",
    b"MODSEQ (12) ",
    b"BODY[] ",
    b"BODY[HEADER.FIELDS (FROM TO)] ",
    b"BODY[1.2]<0> ",
    b"BODY[",
    b"BINARY[1] ",
    b"ENVELOPE ",
    b"BODYSTRUCTURE ",
    b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 20 1 NIL NIL NIL NIL) ',
    b'(("TEXT" "PLAIN" NIL NIL NIL "7BIT" 2 1) "MIXED") ',
    b'("date" "subject" (("n" NIL "m" "h")) NIL NIL NIL NIL NIL NIL "<id>") ',
    b"NIL ",
    b"nil ",
    b"(",
    b")",
    b" ",
    # Strings and literals.
    b'"plain" ',
    b'"esc\\"aped\\\\" ',
    b'"unterminated',
    b"{0}\r\n",
    b"{1}\r\n",
    b"{2}\r\n",
    b"{3+}\r\n",
    b"~{2}\r\n",
    b"{99999999999999999999999}\r\n",
    b"{x}\r\n",
    b"abc",
    # Line ends and octets out of place.
    b"\r\n",
    b"\n",
    b"\r",
    b")\r\n",
    b")\n",
    b"\x00",
    b"\xff\xfe",
    b"}",
    b"]",
]

_streams = st.lists(st.sampled_from(_FRAGMENTS), max_size=30).map(b"".join)


def _read(chunks: list[bytes]) -> tuple[list[str], str | None]:
    """Every response the engine gives for ``chunks`` (typed where FETCH), then its error."""
    engine = IMAPEngine(max_line=120, max_literal=64, max_nesting=8, max_skipped_lines=5)
    engine.receive_data(b"* OK ready\r\n")
    engine.next_event()
    engine.send("NOOP")  # A0001 is in flight
    findings: list[Finding] = []

    def typed(event: object) -> list[str]:
        if isinstance(event, Untagged) and event.name == "FETCH" and event.number:
            return [repr(parse_fetch(event.number, event.values, findings))]
        return []

    return read_to_the_end(engine, chunks, need_data=NEED_DATA, more=typed)


@settings(max_examples=300)
@given(_streams)
def test_a_stream_of_imap_fragments_raises_only_protocol_errors_however_cut(stream: bytes) -> None:
    whole = _read([stream])
    octets = _read([stream[index : index + 1] for index in range(len(stream))])
    assert whole == octets


def test_a_literal_ending_in_cr_then_a_bare_lf_is_a_protocol_error_not_a_crash() -> None:
    # The stream that took the one-step framing path down with an IndexError: the
    # literal is the CR, the LF alone ends the response with its list still open.
    seen, error = _read([b"* 1 FETCH (UID 7 BODY[] {1}\r\n\r\n"])
    assert seen == []
    assert error is not None and "unbalanced '('" in error
