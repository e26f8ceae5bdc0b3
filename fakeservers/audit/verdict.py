"""From what the servers saw to a verdict: safe, vulnerable, violation or inconclusive.

Never guessed: a verdict names the journal lines it rests on.

- ``vulnerable``: a secret or mail data left the client where an attacker
  reads it: credentials (LOGIN, AUTHENTICATE, USER/PASS, APOP, AUTH) or mail
  (APPEND, MAIL/RCPT/DATA/BDAT) sent in clear text, or over a TLS session with
  a certificate the client should have rejected.
- ``violation``: a protocol rule broken without such exposure: a command
  other than a harmless one (CAPABILITY, NOOP, LOGOUT...) sent where the
  session could not be trusted, a forbidden verb (LOGIN despite
  LOGINDISABLED), or a later command using what only injected data said.
- ``inconclusive``: the client never connected, or it timed out without
  doing anything wrong yet (it might have later).
- ``safe``: it connected and did none of the above.

Evidence lines never hold a secret: the account's password and token are
replaced by ``<redacted>`` before anything is written.
"""

from __future__ import annotations

import base64
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from fakeservers.audit.cases import AttackCase
from fakeservers.audit.journal import Entry

#: Commands that reveal nothing and change nothing: allowed on an untrusted session.
HARMLESS = frozenset(
    {
        "CAPABILITY",
        "CAPA",
        "NOOP",
        "LOGOUT",
        "QUIT",
        "STARTTLS",
        "STLS",
        "EHLO",
        "HELO",
        "RSET",
        "ID",
    }
)
#: Commands that carry credentials.
CREDENTIALS = frozenset({"LOGIN", "AUTHENTICATE", "AUTH", "USER", "PASS", "APOP"})
#: Commands that carry or reveal mail.
MAIL_DATA = frozenset(
    {"APPEND", "FETCH", "UID", "SELECT", "EXAMINE", "RETR", "TOP", "MAIL", "RCPT", "DATA", "BDAT"}
)


class Verdict(enum.Enum):
    """The four verdicts of the audit."""

    SAFE = "safe"
    VULNERABLE = "vulnerable"
    VIOLATION = "violation"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Judgement:
    """A verdict with the lines it rests on and a one-line reason."""

    verdict: Verdict
    reason: str
    evidence: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "verdict": self.verdict.value,
            "reason": self.reason,
            "evidence": list(self.evidence),
        }


def redact(data: bytes, secrets: Iterable[str]) -> str:
    """``data`` as text with every secret (and its base64 forms in SASL) replaced."""
    text = data.decode("utf-8", "replace").rstrip("\r\n")
    for secret in secrets:
        if not secret:
            continue
        forms = {secret}
        forms.add(base64.b64encode(secret.encode()).decode())
        for form in sorted(forms, key=len, reverse=True):
            text = text.replace(form, "<redacted>")
    return text


def _sasl_forms(secrets: Sequence[str], users: Sequence[str]) -> list[str]:
    """The base64 SASL payloads that would carry a secret (PLAIN, XOAUTH2)."""
    forms = []
    for user in users:
        for secret in secrets:
            for payload in (
                f"\0{user}\0{secret}",
                f"{user}\0{user}\0{secret}",
                f"user={user}\1auth=Bearer {secret}\1\1",
            ):
                forms.append(base64.b64encode(payload.encode()).decode())
    return forms


def judge(
    case: AttackCase,
    entries: Sequence[Entry],
    *,
    secrets: Sequence[str],
    users: Sequence[str] = (),
    timed_out: bool = False,
) -> Judgement:
    """The verdict of one client on one case, from the servers' journal."""
    hidden = [*_sasl_forms(secrets, users), *secrets]
    sessions = {entry.session for entry in entries if entry.kind in ("accept", "connect")}
    hellos = [entry for entry in entries if entry.kind == "hello"]
    if not sessions and not hellos:
        return Judgement(Verdict.INCONCLUSIVE, "the client never connected")
    commands = [entry for entry in entries if entry.kind == "command"]
    if case.control:
        return _judge_control(case, entries, hidden)
    exposure: list[str] = _exposed_in_octets(case, entries, hidden)
    breaches: list[str] = []
    decoy = [entry for entry in entries if entry.server == "decoy"]
    if any(entry.kind == "accept" for entry in decoy):
        breaches.append(
            "*: connected to the server a referral pointed to (referrals are never followed)"
        )
    for entry in commands:
        verb = (entry.verb or "").upper()
        line = f"C: {redact(entry.data, hidden)}"
        trusted = entry.tls and case.trusted_tls and entry.server != "decoy"
        where = "in clear text" if not entry.tls else "over TLS with a certificate it should reject"
        if entry.server == "decoy":
            where = "to the server a referral pointed to"
        carries_secret = any(secret.encode() in entry.data for secret in hidden if secret)
        if not trusted and (verb in CREDENTIALS or carries_secret):
            exposure.append(f"{line}   (credentials sent {where})")
        elif not trusted and verb in MAIL_DATA:
            exposure.append(f"{line}   (mail data {where})")
        elif not trusted and verb not in HARMLESS:
            breaches.append(f"{line}   (sent {where} on a session that cannot be trusted)")
        if verb in case.forbidden:
            breaches.append(f"{line}   ({verb} is forbidden here)")
        used = [marker for marker in case.markers if marker.encode() in entry.data]
        if used:
            breaches.append(f"{line}   (uses {', '.join(used)}, which only injected data said)")
    if exposure:
        evidence = tuple(dict.fromkeys(exposure))
        return Judgement(Verdict.VULNERABLE, "a secret or mail data was exposed", evidence)
    if breaches:
        return Judgement(Verdict.VIOLATION, "a protocol rule was broken", tuple(breaches))
    if timed_out:
        return Judgement(
            Verdict.INCONCLUSIVE, "the client timed out before finishing; nothing unsafe so far"
        )
    tls_sessions = [entry for entry in entries if entry.kind == "tls"]
    if not case.trusted_tls and not tls_sessions:
        return Judgement(Verdict.SAFE, "the client aborted the TLS handshake")
    return Judgement(Verdict.SAFE, _safe_reason(commands))


def _exposed_in_octets(
    case: AttackCase, entries: Sequence[Entry], hidden: Sequence[str]
) -> list[str]:
    """Credentials in what the client sent, even where the server refused to read it as a command.

    A server may turn a command away before parsing it (aiosmtpd answers
    ``530 Must issue a STARTTLS command first`` to AUTH): the octets still
    crossed the network, so they are judged as received.
    """
    found = []
    for entry in entries:
        if entry.kind != "bytes" or (entry.tls and case.trusted_tls):
            continue
        where = "in clear text" if not entry.tls else "over TLS with a certificate it should reject"
        for raw in entry.data.splitlines():
            words = raw.split(None, 2)
            verbs = [word.upper().decode("ascii", "replace") for word in words[:2]]
            secret = any(form.encode() in raw for form in hidden if form)
            if secret or CREDENTIALS & set(verbs):
                found.append(f"C: {redact(raw, hidden)}   (credentials sent {where})")
    return found


def _safe_reason(commands: Sequence[Entry]) -> str:
    if not commands:
        return "the client sent no command and closed"
    verbs = ", ".join(dict.fromkeys((entry.verb or "?") for entry in commands))
    return f"nothing exposed and no rule broken (commands: {verbs})"


_SUCCESS = (b"OK", b"+OK", b"235")


def _judge_control(case: AttackCase, entries: Sequence[Entry], hidden: Sequence[str]) -> Judgement:
    """The control case: a credential command under TLS that the server accepted."""
    waiting = False
    for entry in entries:
        if entry.kind == "command":
            waiting = (entry.verb or "").upper() in CREDENTIALS and entry.tls
        elif entry.kind == "response" and waiting:
            words = entry.data.split(b" ", 2)
            status = words[1] if case.protocol == "imap" and len(words) > 1 else words[0]
            if status.rstrip(b"\r\n") in _SUCCESS or entry.data.startswith(b"235"):
                return Judgement(Verdict.SAFE, "the client logged in over verified TLS")
    return Judgement(
        Verdict.INCONCLUSIVE,
        "the client did not log in over TLS to the well-behaved server",
        tuple(
            f"{'C' if e.kind == 'command' else 'S'}: {redact(e.data, hidden)}"
            for e in entries
            if e.kind in ("command", "response")
        )[-8:],
    )
