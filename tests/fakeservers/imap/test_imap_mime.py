"""ENVELOPE, BODYSTRUCTURE and section octets from the real MIME structure.

The expected structures are written by hand from RFC 3501 section 7.4.2
(field order: type, subtype, parameters, id, description, encoding, size,
lines for text; then MD5, disposition, language, location as extension data;
a multipart lists its parts, then subtype, parameters, disposition, language,
location).
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from fakeservers.imap import mime
from fakeservers.imap.fetch import section_octets
from fakeservers.imap.parser import Section

MIXED = (
    b"From: Alice Example <alice@example.test>\r\n"
    b'To: bob@example.test, "Carol C." <carol@example.test>\r\n'
    b"Cc: dave@example.test\r\n"
    b"Subject: Report\r\n =?utf-8?q?Q3?=\r\n"
    b"Date: Tue, 5 Mar 2024 10:00:00 +0100\r\n"
    b"Message-ID: <m1@example.test>\r\n"
    b"In-Reply-To: <m0@example.test>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="=_outer"\r\n'
    b"\r\n"
    b"This is a MIME message.\r\n"
    b"--=_outer\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Gr\xc3\xbc\xc3\x9fe,\r\nsee attached.\r\n"
    b"--=_outer\r\n"
    b'Content-Type: application/pdf; name="q3.pdf"\r\n'
    b'Content-Disposition: attachment; filename="q3.pdf"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"Content-ID: <pdf1@example.test>\r\n"
    b"\r\n"
    b"JVBERi0xLjQK\r\n"
    b"--=_outer--\r\n"
    b"epilogue\r\n"
)

ALTERNATIVE = (
    b"From: bob@example.test\r\n"
    b"Subject: Hi\r\n"
    b"Content-Type: multipart/alternative; boundary=alt\r\n"
    b"\r\n"
    b"--alt\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"Hello\r\n"
    b"--alt\r\n"
    b"Content-Type: text/html; charset=us-ascii\r\n"
    b"Content-Language: en\r\n"
    b"\r\n"
    b"<p>Hello</p>\r\n"
    b"<p>again</p>\r\n"
    b"--alt--\r\n"
)

FORWARD = (
    b"Subject: Fwd\r\n"
    b"Content-Type: multipart/mixed; boundary=b1\r\n"
    b"\r\n"
    b"--b1\r\n"
    b"\r\n"
    b"see below\r\n"
    b"--b1\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: Inner\r\n"
    b"From: x@example.test\r\n"
    b"\r\n"
    b"inner body\r\n"
    b"--b1--\r\n"
)


def test_envelope_of_multipart_mixed() -> None:
    assert mime.parse(MIXED).envelope == (
        b'("Tue, 5 Mar 2024 10:00:00 +0100" "Report =?utf-8?q?Q3?="'
        b' (("Alice Example" NIL "alice" "example.test"))'  # from
        b' (("Alice Example" NIL "alice" "example.test"))'  # sender defaults to from
        b' (("Alice Example" NIL "alice" "example.test"))'  # reply-to defaults to from
        b' ((NIL NIL "bob" "example.test")("Carol C." NIL "carol" "example.test"))'
        b' ((NIL NIL "dave" "example.test"))'
        b" NIL"  # bcc
        b' "<m0@example.test>" "<m1@example.test>")'
    )


def test_bodystructure_of_multipart_mixed_with_attachment() -> None:
    text_size = len(b"Gr\xc3\xbc\xc3\x9fe,\r\nsee attached.")
    assert mime.parse(MIXED).body_structure == (
        b'(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "8BIT" %d 2 NIL NIL NIL NIL)'
        b'("APPLICATION" "PDF" ("NAME" "q3.pdf") "<pdf1@example.test>" NIL "BASE64" 12'
        b' NIL ("ATTACHMENT" ("FILENAME" "q3.pdf")) NIL NIL)'
        b' "MIXED" ("BOUNDARY" "=_outer") NIL NIL NIL)' % text_size
    )


def test_body_of_multipart_mixed_has_no_extension_data() -> None:
    text_size = len(b"Gr\xc3\xbc\xc3\x9fe,\r\nsee attached.")
    assert mime.parse(MIXED).body == (
        b'(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "8BIT" %d 2)'
        b'("APPLICATION" "PDF" ("NAME" "q3.pdf") "<pdf1@example.test>" NIL "BASE64" 12)'
        b' "MIXED")' % text_size
    )


def test_bodystructure_of_multipart_alternative() -> None:
    assert mime.parse(ALTERNATIVE).body_structure == (
        b'(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 5 1 NIL NIL NIL NIL)'
        b'("TEXT" "HTML" ("CHARSET" "us-ascii") NIL NIL "7BIT" 26 2 NIL NIL "en" NIL)'
        b' "ALTERNATIVE" ("BOUNDARY" "alt") NIL NIL NIL)'
    )


def test_envelope_without_headers_is_all_nil() -> None:
    assert mime.parse(b"\r\nbody only\r\n").envelope == b"(" + b" ".join([b"NIL"] * 10) + b")"


def test_bodystructure_of_encapsulated_message() -> None:
    inner = b"Subject: Inner\r\nFrom: x@example.test\r\n\r\ninner body"
    assert mime.parse(FORWARD).body == (
        b'(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 9 1)'
        b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" %d'
        b' (NIL "Inner" ((NIL NIL "x" "example.test")) ((NIL NIL "x" "example.test"))'
        b' ((NIL NIL "x" "example.test")) NIL NIL NIL NIL NIL)'
        b' ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 10 1) 4) "MIXED")' % len(inner)
    )


def _octets(message: bytes, part: tuple[int, ...], text: str = "", *fields: str) -> bytes | None:
    found = section_octets(mime.parse(message), Section(part, text, fields))
    return None if found is None else bytes(found)


def test_sections_are_exact_octets() -> None:
    assert _octets(MIXED, ()) == MIXED
    assert _octets(MIXED, (), "HEADER") == MIXED[: MIXED.index(b"\r\n\r\n") + 4]
    assert _octets(MIXED, (), "TEXT") == MIXED[MIXED.index(b"\r\n\r\n") + 4 :]
    assert _octets(MIXED, (1,)) == b"Gr\xc3\xbc\xc3\x9fe,\r\nsee attached."
    assert _octets(MIXED, (2,)) == b"JVBERi0xLjQK"
    assert _octets(MIXED, (2,), "MIME") == (
        b'Content-Type: application/pdf; name="q3.pdf"\r\n'
        b'Content-Disposition: attachment; filename="q3.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n"
        b"Content-ID: <pdf1@example.test>\r\n\r\n"
    )


def test_header_fields_and_not() -> None:
    assert _octets(MIXED, (), "HEADER.FIELDS", "SUBJECT", "CC") == (
        b"Cc: dave@example.test\r\nSubject: Report\r\n =?utf-8?q?Q3?=\r\n\r\n"
    )
    rest = _octets(MIXED, (), "HEADER.FIELDS.NOT", "SUBJECT", "CC", "CONTENT-TYPE")
    assert rest is not None
    assert b"Subject" not in rest and b"Cc:" not in rest and rest.startswith(b"From: Alice")


def test_sections_of_an_encapsulated_message() -> None:
    assert _octets(FORWARD, (2,), "HEADER") == b"Subject: Inner\r\nFrom: x@example.test\r\n\r\n"
    assert _octets(FORWARD, (2,), "TEXT") == b"inner body"
    assert _octets(FORWARD, (2, 1)) == b"inner body"
    assert _octets(FORWARD, (1,)) == b"see below"


def test_single_part_message_is_its_own_part_one() -> None:
    message = b"Subject: x\r\n\r\nline\r\n"
    assert _octets(message, (1,)) == b"line\r\n"
    assert _octets(message, (2,)) is None


def test_missing_parts_are_none() -> None:
    assert _octets(MIXED, (3,)) is None
    assert _octets(MIXED, (1, 1, 1)) is not None  # a leaf is its own part 1, all the way down
    assert _octets(MIXED, (1,), "HEADER") is None  # HEADER needs a message/rfc822 part


def test_bare_lf_message_splits_too() -> None:
    message = b"Content-Type: multipart/mixed; boundary=x\n\n--x\n\none\n--x\n\ntwo\n--x--\n"
    assert _octets(message, (1,)) == b"one"
    assert _octets(message, (2,)) == b"two"


_PIECES = st.sampled_from(
    [b"Content-Type: multipart/mixed; boundary=b\r\n", b"Content-Type: message/rfc822\r\n",
     b"Content-Type: multipart/digest; boundary=c\r\n", b"\r\n", b"\n", b"--b\r\n", b"--b--\r\n",
     b"--c\r\n", b"Subject: =?bogus?x?y?=\r\n", b"From: <@>,\r\n", b"x\xff\r\n", b"\x00", b" ",
     b"Content-Disposition: ;;\r\n", b"Content-Type: text/plain; name*0*=x''%ff\r\n"]
)  # fmt: skip


@given(st.lists(_PIECES, max_size=40).map(b"".join))
# Found by this test: a folded boundary parameter holding a non-UTF-8 octet.
@example(b"Content-Type: multipart/mixed; boundary=b\r\n x\xff\r\n")
def test_any_message_yields_a_structure(data: bytes) -> None:
    part = mime.parse(data)
    assert part.body_structure.startswith(b"(") and part.envelope.startswith(b"(")
    stack = [part]
    while stack:
        node = stack.pop()
        assert 0 <= node.start <= node.body_start <= node.end <= len(data)
        stack += node.children
        if node.message is not None:
            stack.append(node.message)


@given(
    st.lists(st.sampled_from([b"\r\n", b"\n", b"\r", b"a", b":", b" "]), max_size=30).map(b"".join)
)
def test_the_body_starts_after_the_first_empty_line_of_either_form(data: bytes) -> None:
    # The plain reading: the earliest end of CRLF CRLF or LF LF, else the whole is header.
    ends = [
        found + len(blank) for blank in (b"\r\n\r\n", b"\n\n") if (found := data.find(blank)) >= 0
    ]
    expected = min(ends, default=len(data))
    if data.startswith(b"\r\n"):
        expected = 2
    elif data.startswith(b"\n"):
        expected = 1
    assert mime.parse(data).body_start == expected
