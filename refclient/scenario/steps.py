"""The step registry: every step a scenario may use, its arguments, and where its action lives.

The loader validates a scenario against these specs before anything runs,
the JSON Schema for editors is generated from them, and the runner finds each
action through them. An action lives in a module of
:mod:`refclient.scenario.actions` (one per protocol) that is imported only
when the step runs: a step whose module cannot be imported is *unavailable*
and a scenario using it is skipped with the reason, not failed.

An action is ``async def action(context, args) -> dict``: ``args`` are the
step's arguments with variables substituted and defaults filled in; the
returned mapping is the step's *result*, which ``expect`` and ``capture``
address with dotted paths.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from refclient.scenario.context import StepContext

Action = Callable[["StepContext", dict[str, Any]], Awaitable[Mapping[str, Any]]]


class Kind(enum.StrEnum):
    """The type of a step argument (checked at load time unless it is a ``$variable``)."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    STRINGS = "list of strings"
    #: A UID or message number, a list of them, or an IMAP sequence set string (``1:*``).
    NUMBERS = "number set"
    MAPPING = "mapping"
    LIST = "list"
    ANY = "any value"


@dataclass(frozen=True, kw_only=True)
class Arg:
    """One argument of a step."""

    kind: Kind
    doc: str
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class StepSpec:
    """A step: its name, what it does, its arguments and the module holding its action."""

    name: str
    doc: str
    module: str
    args: Mapping[str, Arg] = field(default_factory=dict)

    @property
    def protocol(self) -> str | None:
        """``imap``, ``pop3``, ``smtp`` or ``wire`` for protocol steps, None otherwise."""
        prefix, dot, _ = self.name.partition(".")
        return prefix if dot else None


class StepUnavailable(Exception):
    """The action's module cannot be imported on this installation."""


def _session_arg(protocol: str) -> Arg:
    return Arg(
        kind=Kind.STRING,
        default=protocol,
        doc="Name of the connection, to hold several of the same protocol at once.",
    )


_ACCOUNT = Arg(kind=Kind.INTEGER, default=0, doc="Index of the target's account to use.")
_PROTOCOL_ENDPOINTS = {
    "imap": ("imap", "imaps"),
    "pop3": ("pop3", "pop3s"),
    "smtp": ("submission", "submissions"),
}
_ALL_ENDPOINTS = tuple(name for names in _PROTOCOL_ENDPOINTS.values() for name in names)


def _login_args(protocol: str) -> dict[str, Arg]:
    return {
        "session": _session_arg(protocol),
        "account": _ACCOUNT,
        "mechanism": Arg(
            kind=Kind.STRING,
            doc="Force a SASL mechanism (or LOGIN/USER/APOP where the protocol has them).",
        ),
        "password": Arg(
            kind=Kind.STRING, doc="Use this password instead of the account's (failure tests)."
        ),
        "token": Arg(kind=Kind.BOOLEAN, default=False, doc="Use the account's OAuth2 token."),
    }


def _spec(name: str, doc: str, module: str, /, **args: Arg) -> StepSpec:
    return StepSpec(name=name, doc=doc, module=module, args=args)


def _connect(protocol: str, module: str) -> StepSpec:
    endpoints = _PROTOCOL_ENDPOINTS[protocol]
    return _spec(
        f"{protocol}.connect",
        "Connect to an endpoint (implicit TLS or STARTTLS as the endpoint says) and read the "
        "greeting and capabilities.",
        module,
        endpoint=Arg(kind=Kind.STRING, default=endpoints[0], choices=endpoints, doc="Endpoint."),
        session=_session_arg(protocol),
    )


_CORE = "refclient.scenario.actions.core"
_WIRE = "refclient.scenario.actions.wire"
_IMAP = "refclient.scenario.actions.imap"
_POP3 = "refclient.scenario.actions.pop3"
_SMTP = "refclient.scenario.actions.smtp"
_SECURITY = "refclient.scenario.actions.security"
_S = _session_arg

_SPECS: tuple[StepSpec, ...] = (
    # -- core -------------------------------------------------------------------------
    _spec(
        "expect",
        "Check variables: each key is a ``$variable`` path, each value a matcher.",
        _CORE,
    ),
    _spec(
        "findings",
        "The conformance findings of every connection so far: ``ids``, ``count``, ``errors``.",
        _CORE,
    ),
    _spec(
        "set",
        "Define variables: each key is a variable name, each value its value.",
        _CORE,
    ),
    _spec(
        "message",
        "Build a MIME message (RFC 5322, RFC 6532 UTF-8 headers) and keep its bytes in a "
        "variable; ``raw`` gives the exact bytes instead.",
        _CORE,
        name=Arg(kind=Kind.STRING, required=True, doc="Variable receiving the message."),
        sender=Arg(kind=Kind.STRING, doc="From address (default: the account 0 address)."),
        to=Arg(kind=Kind.STRINGS, doc="To addresses (default: the account 0 address)."),
        cc=Arg(kind=Kind.STRINGS, doc="Cc addresses."),
        subject=Arg(kind=Kind.STRING, default="mailcompat test $run_token", doc="Subject."),
        body=Arg(kind=Kind.STRING, default="Hello from mailcompat.\n", doc="Text body."),
        charset=Arg(kind=Kind.STRING, default="utf-8", doc="Charset of the text body."),
        transfer_encoding=Arg(
            kind=Kind.STRING,
            choices=("7bit", "8bit", "quoted-printable", "base64"),
            doc="Content-Transfer-Encoding of the body (default: chosen by the email package).",
        ),
        headers=Arg(kind=Kind.MAPPING, doc="Extra header fields."),
        attachments=Arg(
            kind=Kind.LIST,
            doc="Attachments: mappings with filename, content_type and text or size (bytes).",
        ),
        raw=Arg(kind=Kind.STRING, doc="The exact message; LF line ends become CRLF."),
    ),
    # -- wire: raw lines, for conformance probing --------------------------------------
    _spec(
        "wire.connect",
        "Open a raw connection to an endpoint and read the greeting (no STARTTLS).",
        _WIRE,
        endpoint=Arg(kind=Kind.STRING, required=True, choices=_ALL_ENDPOINTS, doc="Endpoint."),
        session=_S("wire"),
    ),
    _spec(
        "wire.command",
        "Send one command line and read the complete response (tagged line for IMAP, "
        "status line for POP3, last reply line for SMTP).",
        _WIRE,
        line=Arg(kind=Kind.STRING, required=True, doc="The line, without CRLF."),
        multiline=Arg(
            kind=Kind.BOOLEAN, default=False, doc="POP3: the response is multi-line (RFC 1939)."
        ),
        secret=Arg(kind=Kind.BOOLEAN, default=False, doc="Redact the line in the transcript."),
        session=_S("wire"),
    ),
    _spec(
        "wire.starttls",
        "Ask for TLS (STARTTLS / STLS) and perform the handshake, refusing injected bytes.",
        _WIRE,
        session=_S("wire"),
    ),
    _spec("wire.close", "Close the raw connection.", _WIRE, session=_S("wire")),
    # -- security: the reference client against a malicious server --------------------
    _spec(
        "security.attempt",
        "Connect, log in, use the mailbox and leave, as a client would, stopping at the first "
        "error; ``error`` is the kind of that error (null when everything completed).",
        _SECURITY,
        endpoint=Arg(kind=Kind.STRING, required=True, choices=_ALL_ENDPOINTS, doc="Endpoint."),
        account=_ACCOUNT,
    ),
    _spec(
        "security.verdict",
        "The fake servers' verdict on everything the client did (``server.attack`` scenarios): "
        "``verdict`` (safe, vulnerable, violation, inconclusive), ``reason``, ``evidence``.",
        _SECURITY,
    ),
    # -- IMAP -------------------------------------------------------------------------
    _connect("imap", _IMAP),
    _spec("imap.login", "Authenticate.", _IMAP, **_login_args("imap")),
    _spec("imap.list", "LIST all mailboxes.", _IMAP, session=_S("imap")),
    _spec(
        "imap.select",
        "SELECT (or EXAMINE) a mailbox; with CONDSTORE/QRESYNC also ``highest_modseq``, "
        "``vanished_earlier`` and ``changed`` (UIDs), with OBJECTID ``mailbox_id``.",
        _IMAP,
        mailbox=Arg(kind=Kind.STRING, default="INBOX", doc="Mailbox name."),
        readonly=Arg(kind=Kind.BOOLEAN, default=False, doc="EXAMINE instead of SELECT."),
        condstore=Arg(
            kind=Kind.BOOLEAN, default=False, doc="Add (CONDSTORE) (RFC 7162 section 3.1.8)."
        ),
        qresync=Arg(
            kind=Kind.MAPPING,
            doc="Add (QRESYNC (...)) (RFC 7162 section 3.2.5): uidvalidity, modseq, uids, "
            "and match: {numbers, uids} (sequence match data, section 3.2.5.2).",
        ),
        session=_S("imap"),
    ),
    _spec(
        "imap.status",
        "STATUS of a mailbox; each item in lower case (``mailboxid`` as text).",
        _IMAP,
        mailbox=Arg(kind=Kind.STRING, required=True, doc="Mailbox name."),
        items=Arg(
            kind=Kind.STRINGS,
            default=["MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN"],
            doc="STATUS items (HIGHESTMODSEQ, APPENDLIMIT, MAILBOXID, SIZE ... where offered).",
        ),
        session=_S("imap"),
    ),
    *(
        _spec(
            f"imap.{verb}",
            f"{verb.upper()} a mailbox.",
            _IMAP,
            mailbox=Arg(kind=Kind.STRING, required=True, doc="Mailbox name."),
            session=_S("imap"),
        )
        for verb in ("delete", "subscribe")
    ),
    _spec(
        "imap.create",
        "CREATE a mailbox; ``mailbox_id`` when the server has OBJECTID (RFC 8474).",
        _IMAP,
        mailbox=Arg(kind=Kind.STRING, required=True, doc="Mailbox name."),
        special_use=Arg(
            kind=Kind.STRING, doc="CREATE-SPECIAL-USE attribute, e.g. \\Archive (RFC 6154)."
        ),
        session=_S("imap"),
    ),
    _spec(
        "imap.rename",
        "RENAME a mailbox.",
        _IMAP,
        mailbox=Arg(kind=Kind.STRING, required=True, doc="Current name."),
        to=Arg(kind=Kind.STRING, required=True, doc="New name."),
        session=_S("imap"),
    ),
    _spec(
        "imap.append",
        "APPEND a message.",
        _IMAP,
        mailbox=Arg(kind=Kind.STRING, default="INBOX", doc="Mailbox name."),
        message=Arg(kind=Kind.ANY, required=True, doc="The message bytes (a variable)."),
        flags=Arg(kind=Kind.STRINGS, doc="Flags to set."),
        utf8=Arg(
            kind=Kind.BOOLEAN,
            default=False,
            doc="Send as UTF8 (~{n}) (RFC 6855 section 4; needs imap.enable UTF8=ACCEPT).",
        ),
        binary=Arg(
            kind=Kind.BOOLEAN, default=False, doc="Send as a literal8 (RFC 3516 section 4.4)."
        ),
        session=_S("imap"),
    ),
    _spec(
        "imap.search",
        "UID SEARCH; the result has ``uids`` and ``count``.",
        _IMAP,
        criteria=Arg(kind=Kind.STRINGS, default=["ALL"], doc="Search criteria (RFC 9051 6.4.4)."),
        session=_S("imap"),
    ),
    _spec(
        "imap.fetch",
        "UID FETCH data items.",
        _IMAP,
        uids=Arg(kind=Kind.NUMBERS, required=True, doc="UIDs."),
        items=Arg(kind=Kind.STRINGS, default=["FLAGS"], doc="Data items."),
        changedsince=Arg(
            kind=Kind.INTEGER, doc="CHANGEDSINCE modifier (RFC 7162 section 3.1.4.1)."
        ),
        vanished=Arg(
            kind=Kind.BOOLEAN,
            default=False,
            doc="VANISHED modifier (RFC 7162 section 3.2.6): the result's ``vanished``.",
        ),
        session=_S("imap"),
    ),
    _spec(
        "imap.fetch_message",
        "Fetch one message's exact bytes (``bytes``, ``size``).",
        _IMAP,
        uid=Arg(kind=Kind.INTEGER, required=True, doc="UID."),
        session=_S("imap"),
    ),
    _spec(
        "imap.store",
        "UID STORE flags.",
        _IMAP,
        uids=Arg(kind=Kind.NUMBERS, required=True, doc="UIDs."),
        flags=Arg(kind=Kind.STRINGS, required=True, doc="Flags."),
        mode=Arg(kind=Kind.STRING, default="add", choices=("add", "remove", "replace"), doc=""),
        unchangedsince=Arg(
            kind=Kind.INTEGER,
            doc="UNCHANGEDSINCE modifier (RFC 7162 section 3.1.3): the result's ``modified``.",
        ),
        session=_S("imap"),
    ),
    _spec(
        "imap.copy",
        "UID COPY to another mailbox.",
        _IMAP,
        uids=Arg(kind=Kind.NUMBERS, required=True, doc="UIDs."),
        mailbox=Arg(kind=Kind.STRING, required=True, doc="Destination."),
        session=_S("imap"),
    ),
    _spec("imap.expunge", "EXPUNGE the selected mailbox.", _IMAP, session=_S("imap")),
    _spec("imap.noop", "NOOP.", _IMAP, session=_S("imap")),
    _spec(
        "imap.raw",
        "Send one raw command (the tag is added).",
        _IMAP,
        command=Arg(kind=Kind.STRING, required=True, doc="The command without tag."),
        session=_S("imap"),
    ),
    _spec(
        "imap.wait_for",
        "Search until a message matching the criteria is there (delivery may take time).",
        _IMAP,
        mailbox=Arg(kind=Kind.STRING, default="INBOX", doc="Mailbox name."),
        criteria=Arg(kind=Kind.STRINGS, required=True, doc="Search criteria."),
        timeout=Arg(kind=Kind.NUMBER, default=30, doc="Seconds to wait."),
        session=_S("imap"),
    ),
    _spec(
        "imap.idle",
        "IDLE (RFC 2177) for some seconds, then DONE; ``updates`` lists what arrived.",
        _IMAP,
        seconds=Arg(kind=Kind.NUMBER, default=1, doc="How long to stay in IDLE."),
        reidle=Arg(
            kind=Kind.NUMBER,
            doc="Longest single IDLE before DONE and a new IDLE (default 28 minutes, RFC 2177 "
            "section 3); the result's ``rounds`` counts the IDLE commands.",
        ),
        session=_S("imap"),
    ),
    # -- IMAP extensions ------------------------------------------------------------------
    _spec(
        "imap.enable",
        "ENABLE (RFC 5161): ``enabled`` lists what this command enabled, ``all`` everything.",
        _IMAP,
        extensions=Arg(kind=Kind.STRINGS, required=True, doc="Extensions to enable."),
        session=_S("imap"),
    ),
    _spec(
        "imap.move",
        "UID MOVE (RFC 6851): ``uidvalidity``, ``source`` and ``destination`` of COPYUID.",
        _IMAP,
        uids=Arg(kind=Kind.NUMBERS, required=True, doc="UIDs."),
        mailbox=Arg(kind=Kind.STRING, required=True, doc="Destination."),
        session=_S("imap"),
    ),
    _spec(
        "imap.uid_expunge",
        "UID EXPUNGE (RFC 4315 section 2.1) of the given UIDs.",
        _IMAP,
        uids=Arg(kind=Kind.NUMBERS, required=True, doc="UIDs."),
        session=_S("imap"),
    ),
    _spec(
        "imap.esearch",
        "UID SEARCH RETURN (...) (RFC 4731, SAVE of RFC 5182): ``min``, ``max``, ``count``, "
        "``all``; a saved result is then the sequence set ``$``.",
        _IMAP,
        criteria=Arg(kind=Kind.STRINGS, default=["ALL"], doc="Search criteria."),
        returns=Arg(kind=Kind.STRINGS, default=["ALL"], doc="Return options."),
        session=_S("imap"),
    ),
    _spec(
        "imap.list_extended",
        "LIST-EXTENDED (RFC 5258) with LIST-STATUS (RFC 5819): ``names``, ``special_use``, "
        "``subscribed``, ``status`` and ``childinfo`` by name; ``first``: the first mailbox.",
        _IMAP,
        patterns=Arg(kind=Kind.STRINGS, default=["*"], doc="Mailbox patterns."),
        selection=Arg(kind=Kind.STRINGS, doc="Selection options (SUBSCRIBED, SPECIAL-USE ...)."),
        returns=Arg(kind=Kind.STRINGS, doc="Return options (CHILDREN, SUBSCRIBED, SPECIAL-USE)."),
        status=Arg(kind=Kind.STRINGS, doc="STATUS items returned with each mailbox."),
        session=_S("imap"),
    ),
    _spec(
        "imap.fetch_binary",
        "FETCH BINARY.PEEK[part] (RFC 3516): the decoded ``bytes`` and their ``size``.",
        _IMAP,
        uid=Arg(kind=Kind.INTEGER, required=True, doc="UID."),
        part=Arg(kind=Kind.STRING, default="", doc="Part number, e.g. 2 or 1.3."),
        session=_S("imap"),
    ),
    _spec(
        "imap.compress",
        "COMPRESS DEFLATE (RFC 4978): the rest of the connection is deflated.",
        _IMAP,
        session=_S("imap"),
    ),
    _spec(
        "imap.quota",
        "GETQUOTAROOT (RFC 9208): ``roots``, and ``quota`` as root -> resource -> usage, limit.",
        _IMAP,
        mailbox=Arg(kind=Kind.STRING, default="INBOX", doc="Mailbox name."),
        session=_S("imap"),
    ),
    _spec(
        "imap.setquota",
        "SETQUOTA (RFC 9208 section 4.1): ``quota`` as resource -> usage, limit.",
        _IMAP,
        root=Arg(kind=Kind.STRING, default="", doc="Quota root."),
        limits=Arg(kind=Kind.MAPPING, required=True, doc="Resource name -> limit."),
        session=_S("imap"),
    ),
    _spec(
        "imap.namespace",
        "NAMESPACE (RFC 2342): ``personal``, ``other`` and ``shared``, each a list of "
        "``prefix`` and ``delimiter`` (empty for NIL).",
        _IMAP,
        session=_S("imap"),
    ),
    _spec(
        "imap.id",
        "ID (RFC 2971): sends ``fields`` (none sends NIL); ``server`` is the server's fields, "
        "``nil`` whether it answered NIL.",
        _IMAP,
        fields=Arg(kind=Kind.MAPPING, default=None, doc="Field name -> value (RFC 2971 3.3)."),
        session=_S("imap"),
    ),
    _spec("imap.logout", "LOGOUT and close.", _IMAP, session=_S("imap")),
    # -- POP3 -------------------------------------------------------------------------
    _connect("pop3", _POP3),
    _spec("pop3.login", "Authenticate.", _POP3, **_login_args("pop3")),
    _spec("pop3.stat", "STAT: ``count`` and ``size``.", _POP3, session=_S("pop3")),
    _spec("pop3.list", "LIST: ``sizes`` by number.", _POP3, session=_S("pop3")),
    _spec("pop3.uidl", "UIDL: ``uids`` by number.", _POP3, session=_S("pop3")),
    _spec(
        "pop3.top",
        "TOP: headers and the first lines of the body.",
        _POP3,
        number=Arg(kind=Kind.INTEGER, required=True, doc="Message number."),
        lines=Arg(kind=Kind.INTEGER, default=0, doc="Body lines."),
        session=_S("pop3"),
    ),
    _spec(
        "pop3.retr",
        "RETR: the message's exact bytes.",
        _POP3,
        number=Arg(kind=Kind.INTEGER, required=True, doc="Message number."),
        session=_S("pop3"),
    ),
    _spec(
        "pop3.dele",
        "DELE a message.",
        _POP3,
        number=Arg(kind=Kind.INTEGER, required=True, doc="Message number."),
        session=_S("pop3"),
    ),
    _spec("pop3.rset", "RSET.", _POP3, session=_S("pop3")),
    _spec("pop3.noop", "NOOP.", _POP3, session=_S("pop3")),
    _spec(
        "pop3.raw",
        "Send one raw command line.",
        _POP3,
        line=Arg(kind=Kind.STRING, required=True, doc="The line."),
        session=_S("pop3"),
    ),
    _spec(
        "pop3.retr_many",
        "RETR several messages, pipelined when PIPELINING is offered (RFC 2449); ``messages``.",
        _POP3,
        numbers=Arg(kind=Kind.LIST, required=True, doc="Message numbers."),
        session=_S("pop3"),
    ),
    _spec(
        "pop3.utf8",
        "UTF8 (RFC 6856): UTF-8 mode, before login.",
        _POP3,
        session=_S("pop3"),
    ),
    _spec("pop3.quit", "QUIT (commits deletions) and close.", _POP3, session=_S("pop3")),
    # -- SMTP -------------------------------------------------------------------------
    _connect("smtp", _SMTP),
    _spec("smtp.login", "Authenticate.", _SMTP, **_login_args("smtp")),
    _spec(
        "smtp.send",
        "Send a message: MAIL FROM, RCPT TO each recipient, DATA.",
        _SMTP,
        message=Arg(kind=Kind.ANY, required=True, doc="The message bytes (a variable)."),
        sender=Arg(kind=Kind.STRING, doc="Envelope sender (default: account 0 address)."),
        recipients=Arg(kind=Kind.STRINGS, doc="Envelope recipients (default: account 0)."),
        dsn=Arg(
            kind=Kind.MAPPING,
            doc="Delivery status notifications (RFC 3461): ``ret`` (FULL or HDRS), ``envid``, "
            "``notify`` (list: NEVER, or SUCCESS, FAILURE, DELAY), ``orcpt`` (true).",
        ),
        requiretls=Arg(
            kind=Kind.BOOLEAN, default=False, doc="Ask for REQUIRETLS (RFC 8689) on MAIL FROM."
        ),
        chunking=Arg(
            kind=Kind.BOOLEAN,
            doc="True: send by BDAT (RFC 3030); false: by DATA; unset: BDAT for binary or "
            "large messages when CHUNKING is offered.",
        ),
        session=_S("smtp"),
    ),
    _spec(
        "smtp.raw",
        "Send one raw command line.",
        _SMTP,
        line=Arg(kind=Kind.STRING, required=True, doc="The line."),
        session=_S("smtp"),
    ),
    _spec("smtp.quit", "QUIT and close.", _SMTP, session=_S("smtp")),
)

#: Every step, by name.
STEPS: Mapping[str, StepSpec] = {spec.name: spec for spec in _SPECS}

#: Keys a step may carry besides its action.
STEP_MODIFIERS: tuple[str, ...] = ("expect", "capture", "error")

#: Error kinds an ``error:`` modifier may name (refclient.errors classes, kebab-case).
ERROR_KINDS: tuple[str, ...] = (
    "any",
    "connect-failed",
    "timeout",
    "connection-lost",
    "tls-failed",
    "security-violation",
    "authentication-failed",
    "command-failed",
    "protocol-violation",
    "configuration-error",
)


def resolve(spec: StepSpec) -> Action:
    """The action of ``spec``; :class:`StepUnavailable` if its module cannot be imported."""
    try:
        module = importlib.import_module(spec.module)
    except ImportError as exc:
        raise StepUnavailable(f"step {spec.name} is not available here: {exc}") from exc
    actions: Mapping[str, Action] = module.ACTIONS
    return actions[spec.name]
