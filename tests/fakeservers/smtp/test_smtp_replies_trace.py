"""Enhanced status codes on aiosmtpd's replies, and the trace fields added on delivery."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fakeservers.smtp import strip_trace_headers
from fakeservers.smtp.replies import with_enhanced_code
from fakeservers.smtp.trace import received_field, return_path_field

# -- enhanced status codes ------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("250 OK", "250 2.0.0 OK"),
        ("221 Bye", "221 2.0.0 Bye"),
        ("220 Ready to start TLS", "220 2.0.0 Ready to start TLS"),
        ("552 Error: Too much mail data", "552 5.3.4 Error: Too much mail data"),
        (
            '500 Error: command "XYZ" not recognized',
            '500 5.5.2 Error: command "XYZ" not recognized',
        ),
        ("503 Error: need RCPT command", "503 5.5.1 Error: need RCPT command"),
        (
            "530 Must issue a STARTTLS command first",
            "530 5.7.0 Must issue a STARTTLS command first",
        ),
        ("599 odd", "599 5.0.0 odd"),
    ],
)
def test_codes_added_to_aiosmtpd_replies(reply: str, expected: str) -> None:
    assert with_enhanced_code(reply) == expected


@pytest.mark.parametrize(
    "reply",
    [
        "220 localhost ESMTP mailcompat submission ready",  # greeting: exempt (RFC 2034 3)
        "250 localhost",  # HELO reply: exempt
        "250-SIZE 1000",  # EHLO lines: exempt
        "250 ENHANCEDSTATUSCODES",
        "550 5.1.1 No such user here",  # already coded
        "538 5.7.11 Encryption required for requested authentication mechanism",
        "334 ",
        "not a reply",
    ],
)
def test_replies_left_alone(reply: str) -> None:
    assert with_enhanced_code(reply) == reply


@given(st.from_regex(r"[45]\d\d [^\r\n]*", fullmatch=True))
def test_every_failure_reply_ends_up_coded(reply: str) -> None:
    coded = with_enhanced_code(reply)
    assert re.match(r"^[45]\d\d [45]\.\d{1,3}\.\d{1,3}( |$)", coded)
    assert coded[0] == coded[4]  # the class agrees with the reply code


# -- trace fields ---------------------------------------------------------------------


def traced(data: bytes) -> bytes:
    received = received_field(
        helo="client.example", peer="127.0.0.1", hostname="localhost", tls=True, authenticated=True
    )
    return return_path_field("alice@example.test") + received + data


def test_received_field_names_protocol_and_is_folded() -> None:
    field = received_field(
        helo="h\u00e9\r\nX-Evil: 1", peer="::1", hostname="mx", tls=True, authenticated=False
    )
    assert field.startswith(b"Received: from h???X-Evil:?1 (::1)\r\n\tby mx (mailcompat)")
    assert b" with ESMTPS id " in field and field.endswith(b"\r\n")
    assert all(len(line) <= 78 for line in field.split(b"\r\n"))


def test_strip_removes_exactly_the_added_fields() -> None:
    message = (
        b"Received: by earlier.example; Mon, 1 Jan 2024 00:00:00 +0000\r\nSubject: x\r\n\r\nb\r\n"
    )
    assert strip_trace_headers(traced(message)) == message  # the client's own Received stays
    assert strip_trace_headers(message) == message  # nothing of ours: nothing removed
    only_received = traced(message)[len(return_path_field("alice@example.test")) :]
    assert strip_trace_headers(only_received) == message  # outbox copies have no Return-Path


@given(st.binary(max_size=300))
def test_strip_inverts_tracing_for_any_message(data: bytes) -> None:
    assert strip_trace_headers(traced(data)) == data
