# ruff: noqa: E501  (a table of prose: each case reads best on its own lines)
"""The malicious-server cases, for IMAP, POP3 and SMTP each (the STARTTLS study's families).

Each case is a fake server set up to misbehave one way (rules of
:mod:`fakeservers.rules`, a TLS variant), the endpoint the client is pointed
at, what a correct client does and the source that says so. The cases
follow the 2021 study "Why TLS is better without STARTTLS" (Poddebniak et
al., USENIX Security 2021) and the RFCs it cites; each names the CVE it
mirrors where there is one.

What the judge looks for (:mod:`.verdict`) is part of the case: which
octets only injected data contained (``markers``), which verbs break a
rule wherever they appear (``forbidden``), and whether TLS on this case can
be trusted at all (``trusted_tls``: not with a bad certificate).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: The marker that only injected data carries: a client that later uses it acted on it.
MARKER = "X-MAILCOMPAT-INJECTED"


@dataclass(frozen=True, kw_only=True)
class AttackCase:
    """One malicious server and how to judge a client against it."""

    id: str
    protocol: str
    family: str
    title: str
    misbehaviour: str
    correct: str
    source: str
    #: The endpoint the client is given: ``imap``/``pop3``/``submission`` (STARTTLS)
    #: or ``imaps``/``pop3s``/``submissions`` (implicit TLS).
    endpoint: str
    rules: tuple[dict[str, Any], ...] = ()
    #: A TLS variant of :mod:`fakeservers.tls_variants` (``valid`` is a good certificate).
    tls: str = "valid"
    #: Whether a completed TLS session on this case protects anything.
    trusted_tls: bool = True
    markers: tuple[str, ...] = ()
    forbidden: tuple[str, ...] = ()
    #: The well-behaved server every run starts with; the client must log in over TLS.
    control: bool = False
    #: A referral case: a decoy server is started, and ``{referral}`` in the rules
    #: becomes its URL (``login`` refers the whole server, ``select`` one mailbox).
    referral: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def implicit_tls(self) -> bool:
        """Whether the endpoint is TLS from the first octet."""
        return self.endpoint.endswith("s")


@dataclass(frozen=True)
class _Dialect:
    """What differs between the protocols for the same attack."""

    protocol: str
    starttls_endpoint: str
    implicit_endpoint: str
    starttls_verb: str
    starttls_ok: str  # a pattern matching the positive STARTTLS reply
    capability_verb: str
    refusals: tuple[str, ...]
    continuation: str
    greeting_bye: str
    greeting_invalid: str
    injected_capability: str
    alert: str


_IMAP = _Dialect(
    protocol="imap",
    starttls_endpoint="imap",
    implicit_endpoint="imaps",
    starttls_verb="STARTTLS",
    starttls_ok=r"(?m)^(\S+ OK[^\r\n]*\r\n)",
    capability_verb="CAPABILITY",
    refusals=("{tag} NO STARTTLS unavailable", "{tag} BAD STARTTLS not supported"),
    continuation="+ go ahead",
    greeting_bye="* BYE Server shutting down",
    greeting_invalid="HTTP/1.1 400 Bad Request",
    injected_capability=f"* CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH={MARKER}",
    alert="* OK [ALERT] Your mailbox is locked: log in at http://mail.example.invalid/unlock",
)
_POP3 = _Dialect(
    protocol="pop3",
    starttls_endpoint="pop3",
    implicit_endpoint="pop3s",
    starttls_verb="STLS",
    starttls_ok=r"(?m)^(\+OK[^\r\n]*\r\n)",
    capability_verb="CAPA",
    refusals=("-ERR STLS unavailable", "-ERR [SYS/TEMP] try later"),
    continuation="+ go ahead",
    greeting_bye="-ERR Server shutting down",
    greeting_invalid="HTTP/1.1 400 Bad Request",
    injected_capability=f"+OK\r\nUSER\r\nSASL {MARKER}\r\n.",
    alert="+OK Your mailbox is locked: log in at http://mail.example.invalid/unlock",
)
_SMTP = _Dialect(
    protocol="smtp",
    starttls_endpoint="submission",
    implicit_endpoint="submissions",
    starttls_verb="STARTTLS",
    starttls_ok=r"(?m)^(220[^\r\n]*\r\n)",
    capability_verb="EHLO",
    refusals=("454 4.7.0 TLS not available", "502 5.5.1 STARTTLS not implemented"),
    continuation="334 go ahead",
    greeting_bye="554 5.3.2 Service unavailable",
    greeting_invalid="HTTP/1.1 400 Bad Request",
    injected_capability=f"250-localhost\r\n250 AUTH PLAIN {MARKER}",
    alert="220-Your mailbox is locked: log in at http://mail.example.invalid/unlock",
)

_STUDY = "Poddebniak et al., Why TLS is better without STARTTLS, USENIX Security 2021"
_STARTTLS_RFC = {
    "imap": "RFC 2595 section 3.1, RFC 9051 section 6.2.1",
    "pop3": "RFC 2595 section 4",
    "smtp": "RFC 3207 section 4",
}


def _cases_for(d: _Dialect) -> list[AttackCase]:
    p = d.protocol
    rfc = _STARTTLS_RFC[p]
    strip_caps = {
        "event": "connect",
        "capabilities": {"remove": ["STARTTLS", "STLS", "LOGINDISABLED"]},
    }
    cases = [
        AttackCase(
            id=f"{p}-control",
            protocol=p,
            family="control",
            title="a well-behaved server with a valid certificate",
            misbehaviour="none",
            correct="connect over TLS, verify the certificate and log in",
            source="the audit's own baseline: a client that cannot do this gets no verdict",
            endpoint=d.implicit_endpoint,
            control=True,
        ),
        AttackCase(
            id=f"{p}-starttls-not-advertised",
            protocol=p,
            family="stripping",
            title="STARTTLS is not advertised",
            misbehaviour=f"the {d.capability_verb} reply leaves out STARTTLS (a stripping attacker)",
            correct="refuse to go on in clear text: send no credentials, close",
            source=f"{rfc}; RFC 8314 section 5; {_STUDY} (STARTTLS stripping); CVE-2016-0772 (Python smtplib), CVE-2014-3565",
            endpoint=d.starttls_endpoint,
            rules=(strip_caps,),
        ),
    ]
    for index, refusal in enumerate(d.refusals, 1):
        cases.append(
            AttackCase(
                id=f"{p}-starttls-refused-{index}",
                protocol=p,
                family="stripping",
                title=f"STARTTLS refused: {refusal.replace('{tag} ', '')}",
                misbehaviour="STARTTLS is advertised but the server refuses it",
                correct="treat the refusal as fatal: send no credentials, close",
                source=f"{rfc}; RFC 8314 section 5; {_STUDY}",
                endpoint=d.starttls_endpoint,
                rules=({"event": "command", "verb": d.starttls_verb, "send": refusal},),
            )
        )
    cases += [
        AttackCase(
            id=f"{p}-starttls-continuation",
            protocol=p,
            family="stripping",
            title="STARTTLS answered with a continuation",
            misbehaviour="the server answers STARTTLS with a continuation instead of a status",
            correct="treat it as a failed STARTTLS: no handshake in the dark, no credentials, close",
            source=f"{rfc}; {_STUDY}",
            endpoint=d.starttls_endpoint,
            rules=({"event": "command", "verb": d.starttls_verb, "send": d.continuation},),
        ),
        AttackCase(
            id=f"{p}-auth-without-starttls",
            protocol=p,
            family="stripping",
            title="many AUTH mechanisms offered in clear text, no STARTTLS",
            misbehaviour="the server offers authentication before TLS and no STARTTLS",
            correct="never send credentials in clear text; close",
            source=f"{rfc}; RFC 8314 section 5; {_STUDY}",
            endpoint=d.starttls_endpoint,
            rules=(
                {
                    "event": "connect",
                    "capabilities": {
                        "remove": ["STARTTLS", "STLS", "LOGINDISABLED"],
                        "add": {
                            "imap": ["AUTH=PLAIN", "AUTH=LOGIN", "AUTH=CRAM-MD5"],
                            "pop3": ["USER", "SASL PLAIN LOGIN"],
                            "smtp": ["AUTH PLAIN LOGIN CRAM-MD5"],
                        }[p],
                    },
                },
            ),
        ),
        AttackCase(
            id=f"{p}-greeting-bye",
            protocol=p,
            family="greeting",
            title="the greeting refuses the session",
            misbehaviour="the greeting is a BYE / -ERR / 554",
            correct="close without sending anything",
            source="RFC 9051 section 7.1.5; RFC 1939 section 4; RFC 5321 section 3.1",
            endpoint=d.starttls_endpoint,
            rules=({"event": "greeting", "send": d.greeting_bye},),
        ),
        AttackCase(
            id=f"{p}-greeting-invalid",
            protocol=p,
            family="greeting",
            title="the greeting is not the protocol's",
            misbehaviour="the server greets with a line of another protocol",
            correct="close without sending credentials",
            source=f"{_STUDY}; ALPACA (Brinkmann et al., USENIX Security 2021)",
            endpoint=d.starttls_endpoint,
            rules=({"event": "greeting", "send": d.greeting_invalid},),
        ),
        AttackCase(
            id=f"{p}-injection-after-starttls",
            protocol=p,
            family="injection",
            title="a forged capability list sent right after the STARTTLS OK",
            misbehaviour="clear-text octets follow the positive STARTTLS reply in the same segment",
            correct="discard (or fail on) everything received before the handshake; ask for capabilities again over TLS",
            source=f"{rfc}; {_STUDY} (response injection); CVE-2011-0411 (the server-side twin), CVE-2021-33515",
            endpoint=d.starttls_endpoint,
            rules=(
                {
                    "event": "response",
                    "verb": d.starttls_verb,
                    "replace": {
                        "pattern": d.starttls_ok,
                        "with": "\\1" + d.injected_capability.replace("\\", "\\\\") + "\r\n",
                    },
                },
            ),
            markers=(MARKER,),
        ),
        AttackCase(
            id=f"{p}-alert-before-tls",
            protocol=p,
            family="ui-spoofing",
            title="a phishing alert before TLS",
            misbehaviour="an alert with a link is sent in clear text before STARTTLS",
            correct="never show clear-text server text as trusted; go on with STARTTLS",
            source=f"{_STUDY} (UI spoofing); RFC 9051 section 7.1 ([ALERT])",
            endpoint=d.starttls_endpoint,
            rules=({"event": "greeting", "send_before": d.alert},),
            extra={
                "note": "what a client shows its user cannot be seen from the server; judged on what it sends"
            },
        ),
    ]
    for variant, title in (
        ("self-signed", "a self-signed certificate"),
        ("unknown-ca", "a certificate from an unknown CA"),
        ("wrong-host", "a certificate for another host name"),
        ("expired", "an expired certificate"),
    ):
        for endpoint, mode in (
            (d.implicit_endpoint, "implicit TLS"),
            (d.starttls_endpoint, "STARTTLS"),
        ):
            cases.append(
                AttackCase(
                    id=f"{p}-cert-{variant}-{'implicit' if endpoint == d.implicit_endpoint else 'starttls'}",
                    protocol=p,
                    family="certificate",
                    title=f"{title} ({mode})",
                    misbehaviour=f"the server presents {title}",
                    correct="abort the handshake; send nothing",
                    source="RFC 7817 section 3; RFC 8314 section 4.1; CVE-2014-3565 and CVE-2016-0772 (clients that skipped verification)",
                    endpoint=endpoint,
                    tls=variant,
                    trusted_tls=False,
                )
            )
    for variant in ("tls1.0-only", "tls1.1-only"):
        version = variant.removesuffix("-only").replace("tls", "TLS ")
        cases.append(
            AttackCase(
                id=f"{p}-{variant}",
                protocol=p,
                family="certificate",
                title=f"only {version}, below the TLS 1.2 floor (implicit TLS)",
                misbehaviour=f"the server negotiates nothing newer than {version}",
                correct="refuse the handshake: TLS 1.2 is the floor",
                source="RFC 8996 section 5; RFC 8314 section 4.1",
                endpoint=d.implicit_endpoint,
                tls=variant,
                trusted_tls=False,
            )
        )
    if p == "imap":
        cases += [
            AttackCase(
                id="imap-preauth-cleartext",
                protocol=p,
                family="greeting",
                title="PREAUTH greeting on the clear-text port",
                misbehaviour="the server greets with PREAUTH, skipping authentication and with it STARTTLS",
                correct="close the connection: a session that needed TLS cannot go on in clear text",
                source="RFC 9051 section 7.1.4 (and RFC 7817 section 4); CVE-2020-12398 (Thunderbird), CVE-2020-15685",
                endpoint="imap",
                rules=({"event": "greeting", "send": "* PREAUTH IMAP4rev1 logged in as alice"},),
                trusted_tls=True,
            ),
            AttackCase(
                id="imap-tagged-greeting",
                protocol=p,
                family="injection",
                title="a tagged OK sent before the client's first command",
                misbehaviour="after the greeting, a tagged OK arrives for a command not yet sent",
                correct="treat the unexpected tagged response as a protocol error; never pair it with a later command",
                source=f"{_STUDY} (response injection)",
                endpoint="imap",
                rules=(
                    {
                        "event": "greeting",
                        "send_after": "A0001 OK [CAPABILITY IMAP4rev1 AUTH=" + MARKER + "] done",
                    },
                ),
                markers=(MARKER,),
            ),
            AttackCase(
                id="imap-tampering-before-starttls",
                protocol=p,
                family="tampering",
                title="untagged mailbox data injected before the STARTTLS reply",
                misbehaviour="* LIST, * STATUS, * SEARCH, * FLAGS, * EXISTS and * CAPABILITY arrive before the STARTTLS OK",
                correct="ignore or fail on data received before TLS; never use it after",
                source=f"{_STUDY} (tampering); RFC 2595 section 3.1",
                endpoint="imap",
                rules=(
                    {
                        "event": "command",
                        "verb": "STARTTLS",
                        "send_before": (
                            f'* LIST () "/" {MARKER}\r\n* STATUS {MARKER} (MESSAGES 4242)\r\n'
                            "* SEARCH 4242\r\n* FLAGS (\\Seen " + MARKER + ")\r\n* 4242 EXISTS\r\n"
                            f"* CAPABILITY IMAP4rev1 AUTH={MARKER}"
                        ),
                    },
                ),
                markers=(MARKER, "4242"),
            ),
            _referral_case("login", ("LOGIN", "AUTHENTICATE"), "Log in there"),
            _referral_case("select", ("SELECT", "EXAMINE"), "Mailbox moved"),
            AttackCase(
                id="imap-logindisabled-after-tls",
                protocol=p,
                family="logindisabled",
                title="LOGINDISABLED kept under TLS",
                misbehaviour="the server still says LOGINDISABLED after STARTTLS",
                correct="do not send LOGIN; use AUTHENTICATE or stop",
                source="RFC 3501 section 6.2.3, RFC 9051 section 6.2.3",
                endpoint="imap",
                rules=({"event": "tls", "capabilities": {"add": ["LOGINDISABLED"]}},),
                forbidden=("LOGIN",),
            ),
            AttackCase(
                id="imap-auth-only-before-tls",
                protocol=p,
                family="logindisabled",
                title="AUTH offered only before TLS",
                misbehaviour="AUTH mechanisms are listed before STARTTLS and gone after it",
                correct="never authenticate before TLS; after TLS, stop if nothing is offered",
                source="RFC 9051 section 6.2.1; RFC 8314 section 5",
                endpoint="imap",
                rules=(
                    {
                        "event": "connect",
                        "capabilities": {"add": ["AUTH=PLAIN"], "remove": ["LOGINDISABLED"]},
                    },
                    {
                        "event": "tls",
                        "capabilities": {
                            "remove": [
                                "AUTH=PLAIN",
                                "AUTH=LOGIN",
                                "AUTH=CRAM-MD5",
                                "AUTH=SCRAM-SHA-1",
                                "AUTH=SCRAM-SHA-256",
                                "AUTH=XOAUTH2",
                                "AUTH=OAUTHBEARER",
                            ],
                            "add": ["LOGINDISABLED"],
                        },
                    },
                ),
                forbidden=("LOGIN",),
            ),
        ]
    if p == "smtp":
        cases.append(
            AttackCase(
                id="smtp-helo-only",
                protocol=p,
                family="stripping",
                title="an old server that knows only HELO",
                misbehaviour="EHLO is refused, so no extension (and no STARTTLS) is known",
                correct="do not fall back to a clear-text session: no AUTH, no mail, close",
                source="RFC 3207 section 4; RFC 8314 section 5; CVE-2016-0772",
                endpoint="submission",
                rules=(
                    {
                        "event": "command",
                        "verb": "EHLO",
                        "send": "502 5.5.2 Command not recognized",
                    },
                ),
            )
        )
    return cases


def _referral_case(kind: str, verbs: tuple[str, ...], text: str) -> AttackCase:
    """A LOGIN or SELECT answered with a referral to the decoy server the audit runs."""
    login = kind == "login"
    return AttackCase(
        id=f"imap-referral-{kind}",
        protocol="imap",
        family="referral",
        title=f"{verbs[0]} answered with a referral to another server",
        misbehaviour=(
            "a failed LOGIN carries [REFERRAL imap://...] to a server the attacker runs"
            if login
            else "SELECT INBOX carries [REFERRAL imap://.../INBOX] to a server the attacker runs"
        ),
        correct="never follow a referral: no connection to, and no credentials for, the other server",
        source=(
            "RFC 2221 section 4.1 (login referrals); DESIGN: referrals are never followed"
            if login
            else "RFC 2193 section 4.1 (mailbox referrals)"
        ),
        endpoint="imaps",
        rules=(
            {
                "event": "response",
                "verb": list(verbs),
                "replace": {
                    "pattern": r"(?m)^(\S+) OK[^\r\n]*",
                    "with": rf"\1 NO [REFERRAL {{referral}}] {text}",
                },
            },
        ),
        referral=kind,
    )


def all_cases() -> list[AttackCase]:
    """Every case, control cases first within each protocol."""
    return [case for dialect in (_IMAP, _POP3, _SMTP) for case in _cases_for(dialect)]


def case_by_id(case_id: str) -> AttackCase:
    """One case; ``KeyError`` names the known ids."""
    for case in all_cases():
        if case.id == case_id:
            return case
    raise KeyError(f"unknown case {case_id!r}; `mailcompat audit-client --list` shows them")
