"""The judge alone (sans-IO): journals in, verdicts with redacted evidence out."""

from __future__ import annotations

import base64

from fakeservers.audit.cases import MARKER, case_by_id
from fakeservers.audit.journal import Entry, Journal
from fakeservers.audit.verdict import Verdict, judge

SECRET = "s3cret-pass"
USER = "alice@example.test"


def _entries(*items: tuple[str, str | None, bytes, bool]) -> list[Entry]:
    journal = Journal()
    session = journal.new_session()
    journal.record(session, "imap", "connect", verb=None, data=b"", tls=False)
    for kind, verb, data, tls in items:
        journal.record(session, "imap", kind, verb=verb, data=data, tls=tls)
    return journal.entries()


def _judge(case_id: str, *items: tuple[str, str | None, bytes, bool], timed_out: bool = False):  # type: ignore[no-untyped-def]
    return judge(
        case_by_id(case_id), _entries(*items), secrets=[SECRET], users=[USER], timed_out=timed_out
    )


def test_a_login_in_clear_text_is_vulnerable_and_the_evidence_hides_the_password() -> None:
    judgement = _judge(
        "imap-starttls-not-advertised",
        ("command", "LOGIN", f"a1 LOGIN {USER} {SECRET}\r\n".encode(), False),
    )
    assert judgement.verdict is Verdict.VULNERABLE
    assert judgement.evidence == (
        f"C: a1 LOGIN {USER} <redacted>   (credentials sent in clear text)",
    )
    assert SECRET not in repr(judgement.to_dict())


def test_a_sasl_plain_payload_is_recognised_and_redacted() -> None:
    payload = base64.b64encode(f"\0{USER}\0{SECRET}".encode())
    judgement = _judge(
        "smtp-auth-without-starttls", ("bytes", None, b"AUTH PLAIN " + payload + b"\r\n", False)
    )
    assert judgement.verdict is Verdict.VULNERABLE
    assert payload.decode() not in repr(judgement.to_dict())
    assert "<redacted>" in judgement.evidence[0]


def test_the_same_login_under_trusted_tls_is_safe() -> None:
    judgement = _judge(
        "imap-starttls-not-advertised",
        ("tls", None, b"", True),
        ("command", "LOGIN", f"a1 LOGIN {USER} {SECRET}\r\n".encode(), True),
    )
    assert judgement.verdict is Verdict.SAFE


def test_tls_with_a_bad_certificate_protects_nothing() -> None:
    judgement = _judge(
        "imap-cert-expired-implicit",
        ("tls", None, b"", True),
        ("command", "CAPABILITY", b"a0 CAPABILITY\r\n", True),
        ("command", "SELECT", b"a2 SELECT INBOX\r\n", True),
    )
    assert judgement.verdict is Verdict.VULNERABLE
    assert "mail data over TLS with a certificate it should reject" in judgement.evidence[0]


def test_an_aborted_handshake_is_safe_and_no_contact_is_inconclusive() -> None:
    journal = Journal()
    journal.hello()
    case = case_by_id("imap-cert-self-signed-implicit")
    assert judge(case, journal.entries(), secrets=[SECRET]).verdict is Verdict.SAFE
    assert judge(case, [], secrets=[SECRET]).verdict is Verdict.INCONCLUSIVE


def test_using_injected_data_is_a_violation() -> None:
    judgement = _judge(
        "imap-injection-after-starttls",
        ("tls", None, b"", True),
        ("command", "AUTHENTICATE", f"a3 AUTHENTICATE {MARKER}\r\n".encode(), True),
    )
    assert judgement.verdict is Verdict.VIOLATION
    assert MARKER in judgement.evidence[0]


def test_a_forbidden_verb_is_a_violation_even_under_tls() -> None:
    judgement = _judge(
        "imap-logindisabled-after-tls",
        ("tls", None, b"", True),
        ("command", "LOGIN", f"a3 LOGIN {USER} {SECRET}\r\n".encode(), True),
    )
    assert judgement.verdict is Verdict.VIOLATION


def test_commands_after_a_stripped_starttls_are_a_violation_unless_harmless() -> None:
    harmless = _judge("imap-starttls-refused-1", ("command", "LOGOUT", b"a9 LOGOUT\r\n", False))
    assert harmless.verdict is Verdict.SAFE
    breach = _judge("imap-starttls-refused-1", ("command", "LIST", b'a4 LIST "" *\r\n', False))
    assert breach.verdict is Verdict.VIOLATION


def test_a_timeout_without_wrongdoing_is_inconclusive_but_wrongdoing_stands() -> None:
    quiet = _judge(
        "imap-starttls-continuation",
        ("command", "STARTTLS", b"a1 STARTTLS\r\n", False),
        timed_out=True,
    )
    assert quiet.verdict is Verdict.INCONCLUSIVE
    leaked = _judge(
        "imap-starttls-continuation",
        ("command", "LOGIN", f"a1 LOGIN {USER} {SECRET}\r\n".encode(), False),
        timed_out=True,
    )
    assert leaked.verdict is Verdict.VULNERABLE


def test_the_control_needs_a_successful_login_under_tls() -> None:
    ok = _judge(
        "imap-control",
        ("tls", None, b"", True),
        ("command", "LOGIN", f"a1 LOGIN {USER} {SECRET}\r\n".encode(), True),
        ("response", "LOGIN", b"a1 OK LOGIN completed\r\n", True),
    )
    assert ok.verdict is Verdict.SAFE
    refused = _judge(
        "imap-control",
        ("tls", None, b"", True),
        ("command", "LOGIN", f"a1 LOGIN {USER} wrong\r\n".encode(), True),
        ("response", "LOGIN", b"a1 NO [AUTHENTICATIONFAILED] no\r\n", True),
    )
    assert refused.verdict is Verdict.INCONCLUSIVE


def test_the_journal_is_bounded() -> None:
    journal = Journal()
    for _ in range(20_010):
        journal.record(1, "imap", "bytes", verb=None, data=b"x" * 10_000, tls=False)
    entries = journal.entries()
    assert len(entries) == 20_000 and journal.dropped == 10
    assert len(entries[0].data) == 2048
