"""The reference client's asyncio IMAP session, on the sans-IO engine.

``async with IMAPSession(url, options=...) as imap`` connects (greeting,
STARTTLS when the URL requires it, CAPABILITY again after TLS) and logs out
on exit. Every operation runs inside :meth:`Session.step`, so any failure is
one :class:`~refclient.errors.ClientError` naming the server, the step and the
transcript's tail.

Security rules enforced here (DESIGN.md, RFC 2595, RFC 3501 section 6.2.1):
STARTTLS is required for ``imap://`` and refused-or-missing STARTTLS stops the
session; octets after the STARTTLS OK are an injection and stop it; capabilities
learned before TLS are forgotten; PREAUTH on a connection that had to be
protected closes it; LOGINDISABLED forbids LOGIN; credentials never travel in
clear text unless ``+insecure`` and ``allow_plaintext_auth`` say so; referral
response codes are reported, never followed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from refclient import errors
from refclient.credentials import Credentials
from refclient.findings import Finding, Severity
from refclient.protocol.errors import LocalProtocolError
from refclient.protocol.imap import utf7
from refclient.protocol.imap.commands import Argument, Atom, Literal, sequence_set
from refclient.protocol.imap.dates import format_internal_date
from refclient.protocol.imap.engine import IMAPEngine, NeedData, State
from refclient.protocol.imap.extensions import (
    CopyUID,
    ESearch,
    NamespaceEntry,
    QuotaResource,
    parse_copyuid,
    parse_esearch,
    parse_id,
    parse_list,
    parse_namespace,
    parse_object_id,
    parse_quota,
    parse_quotaroot,
    parse_status,
    parse_uid_set,
    parse_vanished,
)
from refclient.protocol.imap.parser import (
    Continuation,
    Response,
    ResponseCode,
    Tagged,
    Untagged,
    Value,
)
from refclient.protocol.imap.structures import (
    FetchData,
    as_int,
    as_list,
    as_text,
    merge_fetch,
    parse_fetch,
)
from refclient.sasl import ClientMechanism, SaslError, choose_mechanism
from refclient.session.base import Session
from refclient.session.message_file import MessageFile
from refclient.session.options import ClientOptions
from refclient.transport.compress import DeflateError
from refclient.urls import Security, ServerURL


@dataclass
class Result:
    """A completed command: its tagged reply and the untagged responses that came with it."""

    tag: str
    status: str
    text: str
    code: str | None
    code_values: tuple[Value, ...]
    untagged: list[Untagged] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "OK"


@dataclass(frozen=True)
class MailboxInfo:
    """One LIST response."""

    name: str
    delimiter: str | None
    attributes: frozenset[str]
    #: LIST-STATUS items (RFC 5819) when asked with ``RETURN (STATUS (...))``.
    status: dict[str, int] = field(default_factory=dict, compare=False)
    #: CHILDINFO of RECURSIVEMATCH (RFC 5258 section 3.5), e.g. ``("SUBSCRIBED",)``.
    childinfo: tuple[str, ...] = ()

    @property
    def subscribed(self) -> bool:
        """Whether LIST-EXTENDED said ``\\Subscribed`` (RFC 5258 section 3.4)."""
        return "\\SUBSCRIBED" in {a.upper() for a in self.attributes}

    @property
    def special_use(self) -> str | None:
        """The RFC 6154 attribute, if any."""
        for attribute in self.attributes:
            if attribute in SPECIAL_USE:
                return attribute
        return None


SPECIAL_USE = frozenset(
    {"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash", "\\Important"}
)


@dataclass
class MailboxState:
    """What SELECT / EXAMINE reported, kept up to date by EXISTS and EXPUNGE."""

    name: str
    exists: int = 0
    recent: int = 0
    uidvalidity: int | None = None
    uidnext: int | None = None
    unseen: int | None = None
    flags: tuple[str, ...] = ()
    permanent_flags: tuple[str, ...] = ()
    highest_modseq: int | None = None
    read_only: bool = False
    #: ``[MAILBOXID (...)]`` (RFC 8474 section 4.2).
    mailbox_id: str | None = None
    #: UIDs reported by ``* VANISHED`` while selected (RFC 7162 section 3.2.10), in order.
    vanished: list[int] = field(default_factory=list)
    #: ``VANISHED (EARLIER)`` UIDs of a QRESYNC SELECT or a FETCH ... VANISHED.
    vanished_earlier: list[int] = field(default_factory=list)
    #: FETCH responses of a QRESYNC SELECT: the messages changed since, by UID.
    changed: dict[int, FetchData] = field(default_factory=dict)
    #: The server's ``NOMODSEQ`` (RFC 7162 section 3.1.2.2): no mod-sequences here.
    no_modseq: bool = False


@dataclass(frozen=True)
class Namespace:
    """One namespace (RFC 2342 section 5): the mailboxes whose names start with ``prefix``."""

    prefix: str
    #: The hierarchy delimiter, None for a flat namespace (NIL).
    delimiter: str | None
    #: Namespace_Response_Extensions by upper-case name, e.g. ``{"X-PARAM": ("a", "b")}``.
    extensions: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Namespaces:
    """The three namespace groups of RFC 2342 section 5; an empty tuple stands for NIL."""

    personal: tuple[Namespace, ...] = ()
    other: tuple[Namespace, ...] = ()
    shared: tuple[Namespace, ...] = ()


#: RFC 2971 section 3.3: at most 30 pairs, names of at most 30 octets, values of 1024.
ID_MAX_FIELDS = 30
ID_MAX_NAME = 30
ID_MAX_VALUE = 1024


@dataclass(frozen=True)
class QResync:
    """What a client remembers of a mailbox for ``SELECT (QRESYNC ...)`` (RFC 7162 3.2.5)."""

    uidvalidity: int
    modseq: int
    #: The UIDs the client knows (optional; lets the server narrow VANISHED).
    known_uids: tuple[int, ...] = ()
    #: Sequence match data (RFC 7162 section 3.2.5.2): message numbers and the UIDs
    #: they had when the client last synchronised, pair by pair; both or neither.
    match_numbers: tuple[int, ...] = ()
    match_uids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if len(self.match_numbers) != len(self.match_uids):
            raise ValueError(
                "sequence match data pairs each message number with a UID (RFC 7162 3.2.5.2)"
            )


#: Re-IDLE before the 30-minute inactivity autologout (RFC 2177 section 3: "at least every 29
#: minutes"); 28 leaves a margin for slow links.
REIDLE_AFTER = 28 * 60.0


class IMAPSession(Session):
    """An IMAP4rev1 client session."""

    def __init__(
        self,
        url: ServerURL,
        *,
        options: ClientOptions | None = None,
        reidle_after: float = REIDLE_AFTER,
    ) -> None:
        super().__init__(url, options=options)
        if reidle_after <= 0:
            raise ValueError("reidle_after must be positive")
        #: Longest single IDLE before DONE and a new IDLE (RFC 2177 section 3).
        self.reidle_after = reidle_after
        #: How many IDLE commands the last :meth:`idle` call sent.
        self.idle_rounds = 0
        limits = self.options.limits
        self.engine = IMAPEngine(
            max_line=limits.max_line,
            max_literal=limits.max_literal,
            max_nesting=limits.max_nesting,
            max_untagged=limits.max_untagged,
            max_untagged_octets=limits.max_untagged_octets,
            max_skipped_lines=limits.max_skipped_lines,
        )
        self.greeting = ""
        self.capabilities_before_tls: frozenset[str] | None = None
        self.mailbox: MailboxState | None = None
        self.alerts: list[str] = []
        self._capabilities_before_login: frozenset[str] | None = None
        self._bye: str | None = None  # the text of the server's BYE, once it said one

    # -- facts ---------------------------------------------------------------------------

    @property
    def capabilities(self) -> frozenset[str]:
        """The current capabilities (upper case)."""
        return self.engine.capabilities

    @property
    def auth_mechanisms(self) -> tuple[str, ...]:
        """SASL mechanisms offered now (``AUTH=`` capabilities)."""
        return tuple(sorted(c[5:] for c in self.capabilities if c.startswith("AUTH=")))

    @property
    def enabled(self) -> frozenset[str]:
        """Extensions the server confirmed with ``* ENABLED`` (RFC 5161)."""
        return self.engine.enabled

    @property
    def compressed(self) -> bool:
        """Whether COMPRESS=DEFLATE is active (RFC 4978)."""
        return self._stream is not None and self._stream.deflate is not None

    @property
    def append_limit(self) -> int | None:
        """``APPENDLIMIT=n`` of the capabilities (RFC 7889 section 3), None when unbounded."""
        for capability in self.capabilities:
            if capability.startswith("APPENDLIMIT="):
                value = capability.partition("=")[2]
                return int(value) if value.isdigit() else None
        return None

    def require(self, capability: str) -> None:
        """Fail unless the server offers ``capability`` (an extension command needs it)."""
        if capability.upper() not in self.capabilities:
            self.fail(errors.CommandFailed, f"the server does not offer {capability}")

    @property
    def authenticated(self) -> bool:
        return self.engine.state in (State.AUTHENTICATED, State.SELECTED)

    # -- plumbing ------------------------------------------------------------------------

    async def _next(self) -> Response:
        while isinstance(event := self._event(), NeedData):
            self.engine.receive_data(await self.read())
        return event

    def _event(self) -> Response | NeedData:
        """The engine's next event, its findings recorded (no I/O, so no coroutine)."""
        event = self.engine.next_event()
        self._drain_findings()
        return event

    def _drain_findings(self) -> None:
        if not self.engine.findings:
            return
        findings, self.engine.findings[:] = list(self.engine.findings), []
        for found in findings:
            # The engine knows no secrets: a quoted line is redacted here (DESIGN.md).
            redacted = self.transcript.redact(found.line) if found.line else found.line
            self.record(found if redacted == found.line else replace(found, line=redacted))

    def _observe_code(self, code: ResponseCode | None, text: str) -> None:
        """Collect ALERTs (RFC 3501 section 7.1) and report referrals, never following them."""
        if code is not None and code.name == "ALERT":
            self.alerts.append(text)
        if code is not None and code.name == "REFERRAL":
            self.record(
                Finding(
                    id="imap.referral",
                    severity=Severity.INFO,
                    reference="RFC 2221 section 4",
                    message=f"server sent a referral (not followed): {code.raw}",
                )
            )

    def _observe(self, response: Untagged) -> None:
        """Keep the selected mailbox's state current (RFC 3501 section 7.3, 7.4.1)."""
        if response.name == "FETCH":
            # The bulk of a session's responses: no response code (only status responses
            # carry one, RFC 3501 section 7.1), only a MODSEQ to note.
            if self.mailbox is not None and response.number is not None:
                self._observe_modseq(self.mailbox, response)
            return
        self._observe_code(response.code, response.text)
        if response.name == "BYE":
            self._bye = response.text
        box = self.mailbox
        if box is None:
            return
        self._observe_box_code(box, response.code)
        if response.name == "FLAGS" and response.values:
            box.flags = tuple(str(flag) for flag in as_list(response.values[0]))
        if response.name == "VANISHED":
            vanished = parse_vanished(response)
            if vanished.earlier:
                box.vanished_earlier.extend(vanished.uids)
            else:
                # RFC 7162 section 3.2.10: each UID is one expunge, EXISTS drops accordingly.
                box.vanished.extend(vanished.uids)
                box.exists = max(0, box.exists - len(vanished.uids))
        if response.number is None:
            return
        if response.name == "EXISTS":
            box.exists = response.number
        elif response.name == "RECENT":
            box.recent = response.number
        elif response.name == "EXPUNGE":
            box.exists = max(0, box.exists - 1)

    @staticmethod
    def _observe_box_code(box: MailboxState, code: ResponseCode | None) -> None:
        """HIGHESTMODSEQ (RFC 7162 section 3.1.2.1), NOMODSEQ and MAILBOXID (RFC 8474)."""
        if code is None:
            return
        if code.name == "HIGHESTMODSEQ" and code.values:
            box.highest_modseq = as_int(code.values[0], what="HIGHESTMODSEQ")
        elif code.name == "NOMODSEQ":
            box.no_modseq = True
        elif code.name == "MAILBOXID" and code.values:
            box.mailbox_id = parse_object_id(code.values[0])

    @staticmethod
    def _observe_modseq(box: MailboxState, response: Untagged) -> None:
        # RFC 7162 section 3.1.4: a FETCH's MODSEQ may exceed the HIGHESTMODSEQ known so far.
        items = response.values[0] if len(response.values) == 1 else response.values
        if not isinstance(items, list):
            return
        names = items[0:-1:2]
        try:
            if 6 not in map(len, names):  # type: ignore[arg-type]  # NIL: TypeError
                return  # no name of six letters (scanned in C): the usual FETCH
        except TypeError:
            pass  # a NIL where a name belongs: each is looked at below
        for index, name in enumerate(names):
            # Six letters first: most item names are not, and need no case folding.
            if isinstance(name, str) and len(name) == 6 and name.upper() == "MODSEQ":
                values = as_list(items[2 * index + 1])
                if len(values) == 1 and isinstance(values[0], str) and values[0].isdigit():
                    modseq = int(values[0])
                    if box.highest_modseq is None or modseq > box.highest_modseq:
                        box.highest_modseq = modseq

    async def read(self) -> bytes:
        """As :meth:`Session.read`; a close after BYE names the server's reason."""
        try:
            data = await self.stream.read(self.options.read_timeout)
        except DeflateError as exc:
            self.fail(errors.ProtocolViolation, str(exc))
        if not data:
            reason = f" after BYE: {self._bye}" if self._bye is not None else ""
            self.fail(errors.ConnectionLost, f"the server closed the connection{reason}")
        return data

    async def _command(
        self,
        name: str,
        *arguments: Argument,
        shown: bytes | None = None,
        on_continuation: Callable[[Continuation], Awaitable[bytes]] | None = None,
        check: bool = True,
    ) -> Result:
        """Send a command and wait for its completion.

        With ``shown`` (a command carrying a secret), the transcript records
        ``shown`` instead of the line, and ``<redacted>`` for every literal
        chunk sent later.
        """
        tag, pieces = self.engine.send_parts(name, *arguments)
        await self.stream.write_pieces(
            pieces, shown=None if shown is None else tag.encode() + b" " + shown + b"\r\n"
        )
        return await self._complete(
            tag, name, on_continuation=on_continuation, check=check, secret=shown is not None
        )

    async def _complete(
        self,
        tag: str,
        name: str,
        *,
        on_continuation: Callable[[Continuation], Awaitable[bytes]] | None = None,
        check: bool = True,
        secret: bool = False,
    ) -> Result:
        untagged: list[Untagged] = []
        while True:
            # Not self._next(): one coroutine less per response (most are FETCH data).
            event = self._event()
            if isinstance(event, NeedData):
                self.engine.receive_data(await self.read())
                continue
            if isinstance(event, Untagged):
                self._observe(event)
                untagged.append(event)
                continue
            if isinstance(event, Continuation):
                if self.engine.awaiting_continuation:
                    pieces = self.engine.continue_parts()
                    await self.stream.write_pieces(
                        pieces, shown=b"<redacted>\r\n" if secret else None
                    )
                elif on_continuation is not None:
                    # Only SASL exchanges answer continuations: never show the response.
                    self.stream.write(await on_continuation(event), shown=b"<redacted>\r\n")
                else:
                    self.fail(errors.ProtocolViolation, "unexpected continuation request")
                continue
            if event.tag != tag:
                continue  # recorded by the engine as imap.unknown-tag
            self.engine.abandon_command()
            self._observe_code(event.code, event.text)
            if self.mailbox is not None and event.status == "OK":
                self._observe_box_code(self.mailbox, event.code)
            result = Result(
                tag,
                event.status,
                event.text,
                event.code.name if event.code else None,
                event.code.values if event.code else (),
                untagged,
            )
            if check and not result.ok:
                self.fail(errors.CommandFailed, f"{name} failed: {event.status} {event.text}")
            return result

    # -- connection ----------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect, read the greeting, and secure the connection as the URL says."""
        await self.open()
        async with self.step("greeting"):
            greeting = await self._next()
            if not isinstance(greeting, Untagged):
                self.fail(errors.ProtocolViolation, "the server's first line is not a greeting")
            self.greeting = greeting.text
            if greeting.name == "BYE":
                self.fail(errors.ConnectFailed, f"server refused the connection: {greeting.text}")
            if greeting.name == "PREAUTH" and self.tls is None:
                if self.url.security is Security.STARTTLS:
                    await self.close()
                    self.fail(
                        errors.SecurityViolation,
                        "PREAUTH greeting on a connection that must be protected by STARTTLS "
                        "(RFC 2595 section 3.1; a man in the middle can strip STARTTLS this way)",
                    )
                self.record(
                    Finding(
                        id="imap.preauth-cleartext",
                        severity=Severity.WARNING,
                        reference="RFC 2595 section 3.1",
                        message="PREAUTH on a clear-text connection",
                        line=f"* PREAUTH {greeting.text}".encode(),
                    )
                )
        if not self.capabilities:
            await self.capability()
        if self.url.security is Security.STARTTLS:
            await self.starttls()

    async def capability(self) -> frozenset[str]:
        """Ask CAPABILITY (RFC 3501 section 6.1.1)."""
        async with self.step("CAPABILITY"):
            await self._command("CAPABILITY")
        return self.capabilities

    async def starttls(self) -> None:
        """STARTTLS (RFC 3501 section 6.2.1), then forget and re-ask the capabilities."""
        async with self.step("STARTTLS"):
            self.capabilities_before_tls = self.capabilities
            self.starttls_offered("STARTTLS" in self.capabilities, "STARTTLS")
            result = await self._command("STARTTLS", check=False)
            self.starttls_accepted(result.ok, "STARTTLS", f"{result.status} {result.text}")
            for response in result.untagged:
                self.record(
                    Finding(
                        id="imap.untagged-during-starttls",
                        severity=Severity.ERROR,
                        reference="RFC 2595 section 3.1",
                        message=f"untagged {response.name} before the STARTTLS reply: ignored",
                    )
                )
            await self.finish_starttls(self.engine.take_unread(), "STARTTLS")
            self.engine.reset_after_tls()
        await self.capability()

    # -- authentication ------------------------------------------------------------------

    async def login(self, credentials: Credentials, *, mechanism: str | None = None) -> None:
        """Authenticate with the strongest acceptable SASL mechanism, or LOGIN."""
        async with self.step("login"):
            self.admit_credentials(credentials.secrets)
            self._capabilities_before_login = self.capabilities
            tls = True  # credentials_may_be_sent already holds
            chosen: ClientMechanism | None = None
            try:
                chosen = choose_mechanism(
                    self.auth_mechanisms, credentials, forced=mechanism, tls=tls
                )
            except SaslError as exc:
                if credentials.password is None or (mechanism not in (None, "LOGIN")):
                    self.fail(errors.AuthenticationFailed, str(exc))
            if chosen is not None:
                await self._authenticate(chosen)
            else:
                await self._login_command(credentials)
        await self._after_login()

    async def _login_command(self, credentials: Credentials) -> None:
        if "LOGINDISABLED" in self.capabilities:
            self.fail(
                errors.AuthenticationFailed,
                "the server says LOGINDISABLED and offers no usable SASL mechanism",
            )
        assert credentials.password is not None
        result = await self._command(
            "LOGIN",
            credentials.user,
            credentials.password,
            shown=b"LOGIN " + credentials.user.encode() + b" <redacted>",
            check=False,
        )
        if not result.ok:
            self.fail(errors.AuthenticationFailed, f"LOGIN rejected: {result.status} {result.text}")

    async def _authenticate(self, mechanism: ClientMechanism) -> None:
        initial = mechanism.initial_response()
        arguments: list[Argument] = [Atom(mechanism.name)]
        sent_initial = initial is not None and "SASL-IR" in self.capabilities
        if sent_initial and initial is not None:
            arguments.append(Atom(base64.b64encode(initial).decode() or "="))
        owed_initial = initial is not None and not sent_initial

        async def respond(continuation: Continuation) -> bytes:
            # RFC 3501 section 6.2.2: base64 both ways, "*" cancels the exchange.
            nonlocal owed_initial
            try:
                challenge = base64.b64decode(continuation.text, validate=True)
            except binascii.Error:
                self.record(
                    Finding(
                        id="imap.sasl-challenge-not-base64",
                        severity=Severity.ERROR,
                        reference="RFC 3501 section 6.2.2",
                        message="SASL challenge is not base64: exchange cancelled",
                        line=continuation.text[:200],
                    )
                )
                return b"*\r\n"
            try:
                if challenge == b"" and owed_initial and initial is not None:
                    # No SASL-IR: the server's empty "+" asks for the initial response.
                    owed_initial = False
                    response = initial
                else:
                    response = mechanism.respond(challenge)
            except SaslError as exc:
                self.transcript.event(f"SASL error: {exc}; cancelling")
                return b"*\r\n"
            return base64.b64encode(response) + b"\r\n"

        tag, data = self.engine.send("AUTHENTICATE", *arguments)
        shown = f"{tag} AUTHENTICATE {mechanism.name}".encode()
        self.stream.write(data, shown=shown + (b" <redacted>" if sent_initial else b"") + b"\r\n")
        result = await self._complete(tag, "AUTHENTICATE", on_continuation=respond, check=False)
        if not result.ok:
            detail = f" ({mechanism.error_detail})" if mechanism.error_detail else ""
            self.fail(
                errors.AuthenticationFailed,
                f"AUTHENTICATE {mechanism.name} rejected: {result.status} {result.text}{detail}",
            )
        try:
            mechanism.finish(None)
        except SaslError as exc:
            self.fail(errors.SecurityViolation, f"server not verified: {exc}")

    async def _after_login(self) -> None:
        before = self._capabilities_before_login
        if not self.capabilities or self.capabilities == before:
            await self.capability()
        if before is not None and self.capabilities != before:
            self.record(
                Finding(
                    id="imap.capability-change-after-login",
                    severity=Severity.INFO,
                    reference="RFC 3501 section 6.2.3",
                    message="capabilities changed after login",
                )
            )

    async def finish(self) -> None:
        """:meth:`logout`: the end of an ``async with`` block that did not fail."""
        await self.logout()

    async def logout(self) -> None:
        """LOGOUT (RFC 3501 section 6.1.3) and close."""
        try:
            if self._stream is not None and self.engine.state is not State.LOGOUT:
                async with self.step("LOGOUT"):
                    await self._command("LOGOUT", check=False)
        finally:
            await self.close()

    # -- mailboxes -----------------------------------------------------------------------

    def _mailbox_argument(self, name: str) -> Argument:
        if self.engine.utf8_accept:
            # RFC 6855 section 3 / RFC 9051 section 5.1: names travel as UTF-8.
            return name
        return utf7.encode(name).decode("ascii")

    def _mailbox_name(self, value: Value) -> str:
        raw = value.encode() if isinstance(value, str) else (value or b"")
        if not isinstance(raw, bytes):
            return str(value)
        if self.engine.utf8_accept or not raw.isascii():
            # After ENABLE UTF8=ACCEPT names are UTF-8, and "&" is just "&" (RFC 6855 3).
            return raw.decode("utf-8", "replace")
        try:
            return utf7.decode(raw)
        except utf7.UTF7Error:
            return raw.decode("utf-8", "replace")

    async def list_mailboxes(self, reference: str = "", pattern: str = "*") -> list[MailboxInfo]:
        """LIST (RFC 3501 section 6.3.8)."""
        async with self.step("LIST"):
            result = await self._command(
                "LIST", self._mailbox_argument(reference), self._mailbox_argument(pattern)
            )
        return self._boxes(result)

    async def list_extended(
        self,
        patterns: Sequence[str] = ("*",),
        *,
        selection: Sequence[str] = (),
        returns: Sequence[str] = (),
        status: Sequence[str] = (),
        reference: str = "",
    ) -> list[MailboxInfo]:
        """LIST-EXTENDED (RFC 5258) with LIST-STATUS (RFC 5819).

        ``selection`` holds options such as ``SUBSCRIBED``, ``RECURSIVEMATCH``,
        ``SPECIAL-USE``; ``returns`` such as ``CHILDREN``, ``SUBSCRIBED``,
        ``SPECIAL-USE``; ``status`` items add ``RETURN (STATUS (...))``.
        """
        self.require("LIST-EXTENDED")
        if status:
            self.require("LIST-STATUS")
        arguments: list[Argument] = []
        if selection:
            arguments.append([Atom(option.upper()) for option in selection])
        arguments.append(self._mailbox_argument(reference))
        arguments.append([self._mailbox_argument(pattern) for pattern in patterns])
        options: list[Argument] = [Atom(option.upper()) for option in returns]
        if status:
            options += [Atom("STATUS"), [Atom(item.upper()) for item in status]]
        if options:
            arguments += [Atom("RETURN"), options]
        async with self.step("LIST"):
            result = await self._command("LIST", *arguments)
        return self._boxes(result)

    def _boxes(self, result: Result) -> list[MailboxInfo]:
        """The LIST responses, with the STATUS responses of LIST-STATUS attached."""
        statuses: dict[str, dict[str, int]] = {}
        for response in result.untagged:
            if response.name == "STATUS":
                name, items = parse_status(response)
                statuses[self._mailbox_name(name)] = {
                    key: as_int(value) for key, value in items.items() if _is_number(value)
                }
        boxes = []
        for response in result.untagged:
            if response.name != "LIST":
                continue
            data = parse_list(response)
            name = self._mailbox_name(data.name)
            boxes.append(
                MailboxInfo(
                    name=name,
                    delimiter=data.delimiter,
                    attributes=data.attributes,
                    status=statuses.get(name, {}),
                    childinfo=data.childinfo,
                )
            )
        return boxes

    async def select(
        self,
        mailbox: str,
        *,
        readonly: bool = False,
        condstore: bool = False,
        qresync: QResync | None = None,
    ) -> MailboxState:
        """SELECT or EXAMINE (RFC 3501 sections 6.3.1, 6.3.2).

        ``condstore`` adds ``(CONDSTORE)`` (RFC 7162 section 3.1.8); ``qresync``
        adds ``(QRESYNC (...))`` (RFC 7162 section 3.2.5), which needs
        ``ENABLE QRESYNC`` first: the state then holds ``vanished_earlier`` and
        the ``changed`` messages.
        """
        command = "EXAMINE" if readonly else "SELECT"
        arguments: list[Argument] = [self._mailbox_argument(mailbox)]
        if qresync is not None:
            if "QRESYNC" not in self.enabled:
                self.fail(errors.CommandFailed, "SELECT (QRESYNC ...) needs ENABLE QRESYNC first")
            known: list[Argument] = [qresync.uidvalidity, qresync.modseq]
            if qresync.known_uids:
                known.append(Atom(sequence_set(qresync.known_uids)))
            if qresync.match_numbers:
                # seq-match-data = "(" known-sequence-set SP known-uid-set ")"; the
                # sets pair up in ascending order, so each is sent as it is, unsorted.
                known.append(
                    [
                        Atom(",".join(map(str, qresync.match_numbers))),
                        Atom(",".join(map(str, qresync.match_uids))),
                    ]
                )
            arguments.append([Atom("QRESYNC"), known])
        elif condstore:
            self.require("CONDSTORE")
            arguments.append([Atom("CONDSTORE")])
        async with self.step(command):
            # EXISTS and RECENT arrive before the tagged reply and update this state.
            self.mailbox = state = MailboxState(name=mailbox, read_only=readonly)
            result = await self._command(command, *arguments, check=False)
            if not result.ok:
                # A failed SELECT leaves no mailbox selected (RFC 3501 section 6.3.1).
                self.mailbox = None
                self.fail(errors.CommandFailed, f"{command} failed: {result.status} {result.text}")
            findings: list[Finding] = []
            for response in result.untagged:
                code = response.code
                if response.name == "FETCH" and response.number is not None:
                    data = parse_fetch(response.number, response.values, findings)
                    if data.uid is not None:
                        state.changed[data.uid] = data
                if response.name == "FLAGS" and response.values:
                    state.flags = tuple(str(f) for f in as_list(response.values[0]))
                if code is None or not code.values:
                    continue
                if code.name == "UIDVALIDITY":
                    state.uidvalidity = as_int(code.values[0])
                elif code.name == "UIDNEXT":
                    state.uidnext = as_int(code.values[0])
                elif code.name == "UNSEEN":
                    state.unseen = as_int(code.values[0])
                elif code.name == "PERMANENTFLAGS":
                    state.permanent_flags = tuple(str(f) for f in as_list(code.values[0]))
            for finding in findings:
                self.record(finding)
            state.read_only = result.code == "READ-ONLY" or readonly
        return state

    async def status(self, mailbox: str, items: Sequence[str]) -> dict[str, int]:
        """STATUS (RFC 3501 section 6.3.10); numeric items only (see :meth:`mailbox_id`)."""
        raw = await self._status(mailbox, items)
        return {key: as_int(value) for key, value in raw.items() if _is_number(value)}

    async def _status(self, mailbox: str, items: Sequence[str]) -> dict[str, Value]:
        async with self.step("STATUS"):
            result = await self._command(
                "STATUS", self._mailbox_argument(mailbox), [Atom(i) for i in items]
            )
        found: dict[str, Value] = {}
        for response in result.untagged:
            if response.name == "STATUS":
                found.update(parse_status(response)[1])
        return found

    async def mailbox_id(self, mailbox: str) -> str:
        """STATUS (MAILBOXID) of RFC 8474 section 4.3."""
        self.require("OBJECTID")
        raw = await self._status(mailbox, ["MAILBOXID"])
        if "MAILBOXID" not in raw:
            self.fail(errors.ProtocolViolation, "STATUS answered without MAILBOXID")
        return parse_object_id(raw["MAILBOXID"])

    async def create(self, mailbox: str, *, special_use: str | None = None) -> str | None:
        """CREATE (RFC 3501 section 6.3.3), with ``(USE (\\Sent))`` (RFC 6154 section 3).

        Returns the ``[MAILBOXID]`` of the reply (RFC 8474 section 4.1), if any.
        """
        arguments: list[Argument] = [self._mailbox_argument(mailbox)]
        if special_use is not None:
            self.require("CREATE-SPECIAL-USE")
            arguments.append([Atom("USE"), [Atom(special_use)]])
        async with self.step("CREATE"):
            result = await self._command("CREATE", *arguments)
        if result.code == "MAILBOXID" and result.code_values:
            return parse_object_id(result.code_values[0])
        return None

    async def delete(self, mailbox: str) -> None:
        """DELETE (RFC 3501 section 6.3.4)."""
        async with self.step("DELETE"):
            await self._command("DELETE", self._mailbox_argument(mailbox))

    async def rename(self, old: str, new: str) -> None:
        """RENAME (RFC 3501 section 6.3.5)."""
        async with self.step("RENAME"):
            await self._command("RENAME", self._mailbox_argument(old), self._mailbox_argument(new))

    async def subscribe(self, mailbox: str, *, subscribed: bool = True) -> None:
        """SUBSCRIBE / UNSUBSCRIBE (RFC 3501 sections 6.3.6, 6.3.7)."""
        command = "SUBSCRIBE" if subscribed else "UNSUBSCRIBE"
        async with self.step(command):
            await self._command(command, self._mailbox_argument(mailbox))

    # -- messages ------------------------------------------------------------------------

    @staticmethod
    def _set(uids: Sequence[int] | str) -> Atom:
        return Atom(uids if isinstance(uids, str) else sequence_set(uids))

    def _criteria(self, criteria: Sequence[str]) -> list[Argument]:
        """Each criterion one token: keys and plain words as atoms, others quoted or literal."""
        criteria = tuple(criteria) or ("ALL",)
        arguments: list[Argument] = [
            Atom(c) if c and c.isascii() and " " not in c and '"' not in c else c for c in criteria
        ]
        if not all(c.isascii() for c in criteria) and not self.engine.utf8_accept:
            # RFC 6855 section 3: after ENABLE UTF8=ACCEPT, CHARSET must not be sent.
            arguments[:0] = [Atom("CHARSET"), Atom("UTF-8")]
        return arguments

    async def search(self, *criteria: str, uid: bool = True) -> list[int]:
        """SEARCH (RFC 3501 section 6.4.4); UIDs by default.

        Each criterion is one token: ``search("FROM", "Jörg Müller")``. Keys
        and plain words go as atoms, other strings quoted or as literals; a
        non-ASCII criterion adds ``CHARSET UTF-8``. Under IMAP4rev2 the answer
        is an ESEARCH response (RFC 9051 section 7.3.4), read the same way.
        """
        arguments = self._criteria(criteria)
        async with self.step("SEARCH"):
            if uid:
                result = await self._command("UID", Atom("SEARCH"), *arguments)
            else:
                result = await self._command("SEARCH", *arguments)
        found: list[int] = []
        for response in result.untagged:
            if response.name == "SEARCH":
                # A trailing ``(MODSEQ n)`` (RFC 7162 section 3.1.5) is not a number.
                found.extend(as_int(v) for v in response.values if isinstance(v, str | bytes))
            elif response.name == "ESEARCH":
                esearch = parse_esearch(response)
                if esearch.tag in (None, result.tag):
                    found.extend(esearch.all or ())
        return found

    async def esearch(
        self, *criteria: str, returns: Sequence[str] = ("ALL",), uid: bool = True
    ) -> ESearch:
        """SEARCH RETURN (...) (RFC 4731; ``SAVE`` of RFC 5182 keeps the result as ``$``).

        With only ``SAVE`` the server sends no ESEARCH: the result is empty.
        """
        wanted = {item.upper() for item in returns}
        self.require("SEARCHRES" if wanted == {"SAVE"} else "ESEARCH")
        if "SAVE" in wanted:
            self.require("SEARCHRES")
        arguments: list[Argument] = [Atom("RETURN"), [Atom(item.upper()) for item in returns]]
        arguments += self._criteria(criteria)
        async with self.step("SEARCH"):
            if uid:
                result = await self._command("UID", Atom("SEARCH"), *arguments)
            else:
                result = await self._command("SEARCH", *arguments)
        for response in result.untagged:
            if response.name == "ESEARCH":
                found = parse_esearch(response)
                if found.tag is None or found.tag == result.tag:
                    return found
            elif response.name == "SEARCH":
                self.record(
                    Finding(
                        id="imap.search-instead-of-esearch",
                        severity=Severity.ERROR,
                        reference="RFC 4731 section 3.1",
                        message="SEARCH RETURN answered with SEARCH, not ESEARCH",
                    )
                )
        return ESearch(tag=result.tag, uid=uid)

    async def fetch(
        self,
        uids: Sequence[int] | str,
        items: Sequence[str],
        *,
        changedsince: int | None = None,
        vanished: bool = False,
    ) -> dict[int, FetchData]:
        """UID FETCH (RFC 3501 section 6.4.5); results keyed by UID.

        ``changedsince`` adds the CONDSTORE modifier (RFC 7162 section 3.1.4.1);
        ``vanished`` the QRESYNC one (section 3.2.6), whose ``VANISHED
        (EARLIER)`` UIDs land in ``mailbox.vanished_earlier``. Body sections
        are ``bytes``; to save a large message without a second copy in memory,
        use :meth:`save_message`.
        """
        fetched = await self._fetch(uids, items, changedsince=changedsince, vanished=vanished)
        for data in fetched.values():
            for name, octets in data.sections.items():
                if isinstance(octets, bytearray):  # a large literal, read in place
                    data.sections[name] = bytes(octets)
        return fetched

    async def _fetch(
        self,
        uids: Sequence[int] | str,
        items: Sequence[str],
        *,
        changedsince: int | None = None,
        vanished: bool = False,
    ) -> dict[int, FetchData]:
        """:meth:`fetch`, with a literal of 1 MiB or more left as the ``bytearray`` read."""
        wanted: list[Argument] = [Atom(item) for item in items]
        arguments: list[Argument] = [Atom("FETCH"), self._set(uids), wanted]
        if vanished and changedsince is None:
            raise ValueError("VANISHED needs CHANGEDSINCE (RFC 7162 section 3.2.6)")
        if changedsince is not None:
            modifiers: list[Argument] = [Atom("CHANGEDSINCE"), changedsince]
            if vanished:
                if "QRESYNC" not in self.enabled:
                    self.fail(errors.CommandFailed, "FETCH ... VANISHED needs ENABLE QRESYNC")
                modifiers.append(Atom("VANISHED"))
            else:
                self.require("CONDSTORE")
            arguments.append(modifiers)
        async with self.step("FETCH"):
            result = await self._command("UID", *arguments)
            fetched: dict[int, FetchData] = {}
            findings: list[Finding] = []
            for response in result.untagged:
                if response.name != "FETCH" or response.number is None:
                    continue
                data = parse_fetch(response.number, response.values, findings)
                if data.uid is None:
                    # An unsolicited update (another session's flag change), or a server
                    # breaking RFC 3501 section 6.4.8 (UID FETCH answers carry UID).
                    self._observe_fetch_without_uid(data)
                    continue
                known = fetched.get(data.uid)
                fetched[data.uid] = data if known is None else merge_fetch(known, data)
            for finding in findings:
                self.record(finding)
        return fetched

    def _observe_fetch_without_uid(self, data: FetchData) -> None:
        if data.sections:
            self.record(
                Finding(
                    id="imap.uid-fetch-without-uid",
                    severity=Severity.ERROR,
                    reference="RFC 3501 section 6.4.8",
                    message=f"FETCH response for message {data.number} has data but no UID",
                )
            )

    async def fetch_message(self, uid: int) -> bytes:
        """The exact octets of one message (``BODY.PEEK[]``)."""
        return bytes(await self._message(uid))

    async def save_message(self, uid: int, target: Path) -> int:
        """Write one message's exact octets to ``target``; returns how many.

        A message of 1 MiB or more is written piece by piece as it arrives
        and never held whole in memory (:mod:`refclient.session.message_file`);
        a smaller one is written once the FETCH completes. If anything fails,
        no partial file is left behind.
        """
        saved = MessageFile(target)
        self.engine.divert_large_literals(saved.write)
        try:
            octets = await self._message(uid)
        except BaseException:
            saved.discard()
            raise
        finally:
            self.engine.divert_large_literals(None)
        try:
            return saved.finish(octets)
        except ValueError as error:
            self.fail(errors.ProtocolViolation, f"FETCH of UID {uid}: {error}")

    async def _message(self, uid: int) -> bytes | bytearray:
        fetched = await self._fetch([uid], ["BODY.PEEK[]"])
        if uid not in fetched:
            self.fail(errors.CommandFailed, f"no message with UID {uid}")
        try:
            return fetched[uid].body()
        except KeyError:
            self.fail(errors.ProtocolViolation, f"FETCH of UID {uid} returned no body")

    async def fetch_binary(self, uid: int, part: str = "") -> bytes:
        """``BINARY.PEEK[part]`` (RFC 3516 section 4.2): the part's decoded octets."""
        self.require("BINARY")
        fetched = await self.fetch([uid], [f"BINARY.PEEK[{part}]"])
        if uid not in fetched:
            self.fail(errors.CommandFailed, f"no message with UID {uid}")
        try:
            return fetched[uid].binary(part)
        except KeyError:
            self.fail(errors.ProtocolViolation, f"FETCH of UID {uid} returned no BINARY[{part}]")

    async def append(
        self,
        mailbox: str,
        data: bytes,
        *,
        flags: Sequence[str] = (),
        internal_date: datetime | None = None,
        utf8: bool = False,
        binary: bool = False,
    ) -> int | None:
        """APPEND (RFC 3501 section 6.3.11); the new UID when the server says (UIDPLUS).

        ``utf8`` sends ``UTF8 (~{n})`` (RFC 6855 section 4; needs ENABLE
        UTF8=ACCEPT), ``binary`` a literal8 (RFC 3516 section 4.4). A message
        over the server's APPENDLIMIT (RFC 7889) is refused here, unsent.

        A message holding NUL cannot go in a plain literal (RFC 3501 section
        4.3): it is sent as a literal8 when the server offers BINARY (RFC 3516
        section 4.2), and refused otherwise, unsent, with a
        :class:`~refclient.protocol.errors.LocalProtocolError`.
        """
        limit = self.append_limit
        if limit is not None and len(data) > limit:
            self.fail(
                errors.CommandFailed,
                f"message of {len(data)} octets is over the server's APPENDLIMIT of {limit} "
                "(RFC 7889 section 3): not sent",
            )
        arguments: list[Argument] = [self._mailbox_argument(mailbox)]
        if flags:
            arguments.append([Atom(flag) for flag in flags])
        if internal_date is not None:
            arguments.append(format_internal_date(internal_date))
        if utf8:
            if not self.engine.utf8_accept:
                self.fail(errors.CommandFailed, "APPEND UTF8 needs ENABLE UTF8=ACCEPT first")
            arguments += [Atom("UTF8"), [Literal(data, binary=True)]]
        elif binary:
            self.require("BINARY")
            arguments.append(Literal(data, binary=True))
        elif "BINARY" in self.capabilities:
            try:
                literal = Literal(data)
            except LocalProtocolError:  # NUL: one scan found it, literal8 carries it
                literal = Literal(data, binary=True)
            arguments.append(literal)
        else:
            arguments.append(Literal(data))
        async with self.step("APPEND"):
            result = await self._command("APPEND", *arguments)
        if result.code == "APPENDUID" and len(result.code_values) >= 2:
            return as_int(result.code_values[1])
        return None

    async def store(
        self,
        uids: Sequence[int] | str,
        flags: Sequence[str],
        *,
        mode: str = "+",
        unchangedsince: int | None = None,
    ) -> list[int]:
        """UID STORE (RFC 3501 section 6.4.6): ``mode`` is ``+``, ``-`` or ``""`` (replace).

        With ``unchangedsince`` (RFC 7162 section 3.1.3) the UIDs the server
        left alone because they changed since are returned (``[MODIFIED]``).
        """
        if mode not in ("+", "-", ""):
            raise ValueError(f"bad STORE mode {mode!r}")
        arguments: list[Argument] = [Atom("STORE"), self._set(uids)]
        if unchangedsince is not None:
            self.require("CONDSTORE")
            arguments.append([Atom("UNCHANGEDSINCE"), unchangedsince])
        arguments += [Atom(f"{mode}FLAGS.SILENT"), [Atom(flag) for flag in flags]]
        async with self.step("STORE"):
            result = await self._command("UID", *arguments)
        if result.code == "MODIFIED" and result.code_values:
            return parse_uid_set(as_text(result.code_values[0]) or "")
        return []

    async def move(self, uids: Sequence[int] | str, mailbox: str) -> CopyUID | None:
        """UID MOVE (RFC 6851); the ``[COPYUID]`` mapping when the server sends one.

        RFC 6851 section 4.3 puts COPYUID in an untagged OK before the
        expunges; some servers put it on the tagged OK instead: both count.
        """
        self.require("MOVE")
        async with self.step("MOVE"):
            result = await self._command(
                "UID", Atom("MOVE"), self._set(uids), self._mailbox_argument(mailbox)
            )
        codes = [r.code for r in result.untagged if r.name == "OK" and r.code is not None]
        if result.code == "COPYUID":
            codes.append(ResponseCode("COPYUID", result.code_values))
        for code in codes:
            if code.name == "COPYUID":
                return parse_copyuid(code)
        return None

    async def uid_expunge(self, uids: Sequence[int] | str) -> None:
        """UID EXPUNGE (RFC 4315 section 2.1): only these UIDs, if marked \\Deleted."""
        self.require("UIDPLUS")
        async with self.step("EXPUNGE"):
            await self._command("UID", Atom("EXPUNGE"), self._set(uids))

    async def enable(self, *extensions: str) -> frozenset[str]:
        """ENABLE (RFC 5161); what this command's ``* ENABLED`` newly confirmed."""
        self.require("ENABLE")
        before = self.enabled
        async with self.step("ENABLE"):
            result = await self._command("ENABLE", *[Atom(name) for name in extensions])
        if not any(response.name == "ENABLED" for response in result.untagged):
            self.record(
                Finding(
                    id="imap.enable-without-enabled",
                    severity=Severity.WARNING,
                    reference="RFC 5161 section 3.2",
                    message="ENABLE completed without an ENABLED response; assuming the "
                    "advertised extensions asked for are enabled",
                )
            )
            self.engine.assume_enabled(extensions)
        return self.enabled - before

    async def namespace(self) -> Namespaces:
        """NAMESPACE (RFC 2342 section 5): personal, other users' and shared namespaces."""
        self.require("NAMESPACE")
        async with self.step("NAMESPACE"):
            result = await self._command("NAMESPACE")
            personal, other, shared = parse_namespace(self._answer(result, "NAMESPACE"))
            return Namespaces(
                personal=self._namespaces(personal),
                other=self._namespaces(other),
                shared=self._namespaces(shared),
            )

    def _answer(self, result: Result, name: str) -> Untagged:
        """The last untagged ``name`` response of a command that must send one."""
        found = [response for response in result.untagged if response.name == name]
        if not found:
            self.fail(errors.ProtocolViolation, f"{name} answered without a {name} response")
        return found[-1]

    def _namespaces(self, entries: list[NamespaceEntry]) -> tuple[Namespace, ...]:
        return tuple(
            Namespace(self._mailbox_name(entry.prefix), entry.delimiter, entry.extensions)
            for entry in entries
        )

    async def identify(
        self, fields: Mapping[str, str | None] | None = None
    ) -> dict[str, str | None] | None:
        """ID (RFC 2971 section 3.1): send ``fields`` (None or empty sends NIL).

        Returns the server's fields (a value may be None for NIL), or None
        when the server answered ``* ID NIL``. Fields over the limits of RFC
        2971 section 3.3 are refused here, unsent (a ValueError).
        """
        self.require("ID")
        argument: Argument = Atom("NIL")
        if fields:
            if len(fields) > ID_MAX_FIELDS:
                raise ValueError(f"ID takes at most {ID_MAX_FIELDS} fields (RFC 2971 section 3.3)")
            pairs: list[Argument] = []
            for name, value in fields.items():
                if not name or len(name.encode()) > ID_MAX_NAME:
                    raise ValueError(
                        f"ID field name {name!r} is empty or over {ID_MAX_NAME} octets"
                    )
                if value is not None and len(value.encode()) > ID_MAX_VALUE:
                    raise ValueError(f"ID value of {name!r} is over {ID_MAX_VALUE} octets")
                # RFC 2971 section 4: names and values are strings, never atoms.
                pairs += [name.encode(), Atom("NIL") if value is None else value.encode()]
            argument = pairs
        async with self.step("ID"):
            result = await self._command("ID", argument)
            return parse_id(self._answer(result, "ID"))

    async def compress(self) -> None:
        """COMPRESS DEFLATE (RFC 4978): both directions deflated from the tagged OK on."""
        self.require("COMPRESS=DEFLATE")
        if self.compressed:
            self.fail(errors.CommandFailed, "COMPRESS is already active")
        async with self.step("COMPRESS"):
            await self._command("COMPRESS", Atom("DEFLATE"))
            # Octets after the tagged OK are already compressed (RFC 4978 section 3).
            rest = self.engine.take_unread()
            self.stream.start_deflate()
            deflate = self.stream.deflate
            if rest and deflate is not None:
                try:
                    self.engine.receive_data(deflate.decompress(rest))
                except DeflateError as exc:
                    self.fail(errors.ProtocolViolation, str(exc))

    async def quota_root(self, mailbox: str) -> dict[str, dict[str, QuotaResource]]:
        """GETQUOTAROOT (RFC 9208 section 4.3): each root of the mailbox with its resources."""
        self.require("QUOTA")
        async with self.step("GETQUOTAROOT"):
            result = await self._command("GETQUOTAROOT", self._mailbox_argument(mailbox))
        roots: dict[str, dict[str, QuotaResource]] = {}
        for response in result.untagged:
            if response.name == "QUOTAROOT":
                for root in parse_quotaroot(response)[1]:
                    roots.setdefault(root, {})
        for response in result.untagged:
            if response.name == "QUOTA":
                root, resources = parse_quota(response)
                roots[root] = resources
        return roots

    async def quota(self, root: str = "") -> dict[str, QuotaResource]:
        """GETQUOTA (RFC 9208 section 4.2): the root's resources."""
        self.require("QUOTA")
        async with self.step("GETQUOTA"):
            result = await self._command("GETQUOTA", root)
        for response in result.untagged:
            if response.name == "QUOTA":
                return parse_quota(response)[1]
        return {}

    async def set_quota(self, root: str, limits: dict[str, int]) -> dict[str, QuotaResource]:
        """SETQUOTA (RFC 9208 section 4.1): the limits the server then reports."""
        self.require("QUOTASET")
        pairs: list[Argument] = []
        for name, limit in limits.items():
            pairs += [Atom(name.upper()), limit]
        async with self.step("SETQUOTA"):
            result = await self._command("SETQUOTA", root, pairs)
        for response in result.untagged:
            if response.name == "QUOTA":
                return parse_quota(response)[1]
        return {}

    async def copy(self, uids: Sequence[int] | str, mailbox: str) -> None:
        """UID COPY (RFC 3501 section 6.4.7)."""
        async with self.step("COPY"):
            await self._command(
                "UID", Atom("COPY"), self._set(uids), self._mailbox_argument(mailbox)
            )

    async def expunge(self) -> list[int]:
        """EXPUNGE (RFC 3501 section 6.4.3); the sequence numbers the server expunged."""
        async with self.step("EXPUNGE"):
            result = await self._command("EXPUNGE")
        return [r.number for r in result.untagged if r.name == "EXPUNGE" and r.number is not None]

    async def close_mailbox(self) -> None:
        """CLOSE (RFC 3501 section 6.4.2)."""
        async with self.step("CLOSE"):
            await self._command("CLOSE")
        self.mailbox = None

    async def noop(self) -> list[Untagged]:
        """NOOP (RFC 3501 section 6.1.2): the untagged updates it brought."""
        async with self.step("NOOP"):
            return (await self._command("NOOP")).untagged

    async def idle(self, timeout: float) -> list[Untagged]:
        """IDLE (RFC 2177) for ``timeout`` seconds in all; the updates received meanwhile.

        No single IDLE lasts longer than ``reidle_after`` seconds: then DONE
        and a new IDLE, so the server's 30-minute inactivity timer never
        fires (RFC 2177 section 3). ``idle_rounds`` counts the IDLE commands.
        Updates may arrive before the server's ``+``; a server refusing IDLE
        with a tagged NO or BAD is a :class:`~refclient.errors.CommandFailed`.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        updates: list[Untagged] = []
        self.idle_rounds = 0
        async with self.step("IDLE"):
            if "IDLE" not in self.capabilities:
                self.fail(errors.CommandFailed, "the server does not offer IDLE")
            while True:
                remaining = deadline - loop.time()
                updates += await self._idle_once(min(max(remaining, 0.0), self.reidle_after))
                if deadline - loop.time() <= 0:
                    return updates

    async def _idle_once(self, seconds: float) -> list[Untagged]:
        self.idle_rounds += 1
        tag, data = self.engine.send("IDLE")
        self.stream.write(data)
        updates: list[Untagged] = []
        while not isinstance(event := await self._next(), Continuation):
            if isinstance(event, Tagged) and event.tag == tag:
                self.fail(errors.CommandFailed, f"IDLE refused: {event.status} {event.text}")
            if isinstance(event, Untagged):
                self._observe(event)
                updates.append(event)
        updates += await self._updates_for(seconds)
        self.stream.write(self.engine.send_line(b"DONE"))
        result = await self._complete(tag, "IDLE")
        return updates + result.untagged

    async def _updates_for(self, seconds: float) -> list[Untagged]:
        """The untagged responses that arrive within ``seconds``."""
        updates: list[Untagged] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (remaining := deadline - loop.time()) > 0:
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancellation
                # (Ctrl-C) that arrives together with an update, and IDLE would go on.
                async with asyncio.timeout(remaining):
                    event = await self._next()
            except TimeoutError:
                break
            if isinstance(event, Untagged):
                self._observe(event)
                updates.append(event)
        return updates

    async def raw(self, command: str) -> Result:
        """Send one raw command line (no tag) for conformance probing; NO/BAD do not raise."""
        async with self.step(f"raw {command.split(' ', 1)[0]}"):
            tag, data = self.engine.send_raw(command.encode("utf-8"))
            self.stream.write(data)
            return await self._complete(tag, command, check=False)


def _is_number(value: Value) -> bool:
    return isinstance(value, str | bytes) and value.isdigit()
