"""No secret in any output of a whole bundled run: reports, transcripts, logs, console.

``mailcompat run`` runs the whole bundled library in-process with every
logger at DEBUG (ours, aiosmtpd's, asyncio's) captured to a file, and writes
JSON, JUnit, HTML and per-scenario transcripts. Then every byte of all of it,
standard output and error included, is searched three ways:

- for each password and token of the fake accounts and each wrong password a
  scenario tries, raw and in the base64 forms SASL carries (RFC 4616 PLAIN,
  XOAUTH2, RFC 7628 OAUTHBEARER, the LOGIN mechanism's bare password);
- inside every base64 run found anywhere, decoded, for the same secrets (SASL
  payloads whose exact bytes the test cannot predict, such as OAUTHBEARER's
  host and port, are caught this way);
- in every transcript, structurally: each client line that carries
  credentials (IMAP LOGIN, AUTHENTICATE and its continuations, POP3 PASS and
  APOP, SMTP AUTH and its continuations) shows ``<redacted>`` in their place.
  This also covers the fresh accounts some scenarios are given, whose random
  secrets the test never learns.

The negative half: the same searches find each form when it is present, so a
sweep that finds nothing is a sweep that would have found something.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Iterable
from pathlib import Path

import pytest

from fakeservers.controller import DEFAULT_ACCOUNTS
from refclient.cli import main
from refclient.cli.run import bundled_scenarios

#: Wrong passwords the bundled scenarios try; ``$run_token`` is 12 hex digits.
WRONG_PASSWORDS = re.compile(rb"(?:not-the-password|wrong)-[0-9a-f]{12}")
#: A base64 run long enough to carry a credential (RFC 4648 section 4 alphabet).
BASE64_RUN = re.compile(rb"[A-Za-z0-9+/]{8,}={0,2}")
#: Client lines that carry credentials after the command word(s) (RFC 3501 6.2.2-6.2.3,
#: RFC 1939 section 7, RFC 4954 section 4).
CREDENTIAL_LINE = re.compile(
    r"^(?:\S+ (?:LOGIN|AUTHENTICATE) |PASS |APOP |AUTH )", flags=re.IGNORECASE
)
#: Mechanism-only commands: the credentials follow as continuation lines.
MECHANISM_ONLY = re.compile(r"^(?:\S+ AUTHENTICATE|AUTH) [A-Z0-9-]+$", flags=re.IGNORECASE)
TRANSCRIPT_LINE = re.compile(r"^\+\d+\.\d+ ([CS*]): ?(.*)$")


def _forms(user: str, secret: str) -> list[bytes]:
    """The secret and the base64 forms SASL sends it in."""
    payloads = [
        f"\0{user}\0{secret}",  # PLAIN (RFC 4616 section 2)
        f"{user}\0{user}\0{secret}",
        secret,  # the LOGIN mechanism's password prompt answer
        f"user={user}\1auth=Bearer {secret}\1\1",  # XOAUTH2
        f"n,a={user},\1auth=Bearer {secret}\1\1",  # OAUTHBEARER without host and port
    ]
    return [secret.encode()] + [base64.b64encode(p.encode()) for p in payloads]


def _decoded_runs(data: bytes) -> Iterable[bytes]:
    """Every base64 run in ``data``, decoded (runs that do not decode are skipped)."""
    for run in BASE64_RUN.findall(data):
        padded = run + b"=" * (-len(run) % 4)
        try:
            yield base64.b64decode(padded, validate=True)
        except (binascii.Error, ValueError):
            continue


def _raw_lines() -> set[str]:
    """Lines the scenarios send raw on purpose (``pop3.raw: {line: ...}``): public data."""
    found = set()
    for path in bundled_scenarios().rglob("*.yaml"):
        found |= set(re.findall(r'raw: \{line: "([^"]*)"', path.read_text(encoding="utf-8")))
    return found


def _unredacted(transcript: str, raw: set[str]) -> list[str]:
    """Client lines of a transcript that carry credentials in the clear."""
    problems = []
    in_exchange = False
    for line in transcript.splitlines():
        match = TRANSCRIPT_LINE.match(line)
        if match is None:
            continue
        side, text = match.groups()
        if side == "S":
            # A continuation ("+ " in IMAP and POP3, RFC 5034 section 4; "334 " in SMTP)
            # keeps the exchange going; anything else ("+OK", a tagged reply) ends it.
            more = text in ("+", "334") or text.startswith(("+ ", "334 "))
            in_exchange = in_exchange and more
            continue
        if side != "C" or text in raw:
            continue
        if in_exchange:
            if text not in ("<redacted>", "*", ""):  # "*" cancels (RFC 3501 6.2.2)
                problems.append(line)
            continue
        if MECHANISM_ONLY.match(text):
            in_exchange = True
        elif CREDENTIAL_LINE.match(text) and not text.endswith("<redacted>"):
            problems.append(line)
    return problems


def _secrets() -> list[bytes]:
    secrets = []
    for account in DEFAULT_ACCOUNTS:
        secrets += _forms(account.user, account.password)
        secrets += _forms(account.user, f"token-{account.user}")
    return secrets


def _leaks(data: bytes, secrets: list[bytes]) -> list[bytes]:
    found = [secret for secret in secrets if secret in data]
    found += WRONG_PASSWORDS.findall(data)
    for decoded in _decoded_runs(data):
        found += [secret for secret in secrets if secret in decoded]
        found += WRONG_PASSWORDS.findall(decoded)
    return found


def test_a_whole_run_leaks_no_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log_file = tmp_path / "debug.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        code = main(
            [
                "run",
                "--jobs", "8",
                "--json", str(tmp_path / "run.json"),
                "--junit", str(tmp_path / "run.xml"),
                "--html", str(tmp_path / "run.html"),
                "--transcripts", str(tmp_path / "transcripts"),
            ]
        )  # fmt: skip
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        handler.close()
    console = capsys.readouterr()
    assert code in (0, 1), console.err  # the whole library ran (2: it did not load)
    outputs = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    outputs[tmp_path / "stdout"] = console.out.encode()
    outputs[tmp_path / "stderr"] = console.err.encode()
    transcripts = list((tmp_path / "transcripts").rglob("*.txt"))
    assert len(transcripts) > 50
    assert log_file.stat().st_size > 0
    secrets = _secrets()
    leaks = [(path.name, leak) for path, data in outputs.items() for leak in _leaks(data, secrets)]
    assert leaks == []
    raw = _raw_lines()
    unredacted = {
        path.name: problems
        for path in transcripts
        if (problems := _unredacted(path.read_text(encoding="utf-8"), raw))
    }
    assert unredacted == {}


def test_the_sweep_finds_each_form_it_looks_for() -> None:
    secrets = _secrets()
    user, password = DEFAULT_ACCOUNTS[0].user, DEFAULT_ACCOUNTS[0].password
    plain = base64.b64encode(f"\0{user}\0{password}".encode())
    bearer = base64.b64encode(f"n,a={user},\1host=127.0.0.1\1port=1\1auth=Bearer x\1\1".encode())
    assert _leaks(b"C: a LOGIN alice " + password.encode(), secrets)
    assert _leaks(b"C: AUTH PLAIN " + plain + b"\r\n", secrets)
    assert _leaks(b"S: 334 \r\nC: " + base64.b64encode(password.encode()), secrets)
    token = f"token-{user}"
    shifted = f"n,a={user},\1host=127.0.0.1\1port=1\1auth=Bearer {token}\1\1"
    assert _leaks(base64.b64encode(shifted.encode()), secrets)  # found only by decoding
    assert _leaks(b"reason: login failed with wrong-0123456789ab", secrets)
    assert not _leaks(b"C: AUTH OAUTHBEARER " + bearer + b" and <redacted>", secrets)

    clear = "+0.1 C: A0001 AUTHENTICATE LOGIN\n+0.2 S: + VXNlcm5hbWU6\n+0.3 C: YWxpY2U=\n"
    assert _unredacted(clear, set()) == ["+0.3 C: YWxpY2U="]
    assert _unredacted("+0.1 C: a LOGIN alice secret\n", set()) == ["+0.1 C: a LOGIN alice secret"]
    assert _unredacted("+0.1 C: PASS hunter2\n", set()) == ["+0.1 C: PASS hunter2"]
    hidden = "+0.1 C: AUTH LOGIN\n+0.2 S: 334 VXNlcm5hbWU6\n+0.3 C: <redacted>\n+0.4 S: 235 ok\n"
    assert _unredacted(hidden, set()) == []
    done = "+0.1 C: AUTH CRAM-MD5\n+0.2 S: + PDE+\n+0.3 C: <redacted>\n+0.4 S: +OK\n+0.5 C: QUIT\n"
    assert _unredacted(done, set()) == []
    assert _unredacted("+0.1 C: PASS not-the-password\n", {"PASS not-the-password"}) == []
