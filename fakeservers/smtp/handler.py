"""The submission server's behaviour, as aiosmtpd handler hooks and AUTH mechanisms.

aiosmtpd parses SMTP; this handler decides (RFC 6409 message submission):
EHLO advertises PIPELINING, ENHANCEDSTATUSCODES, CHUNKING, BINARYMIME,
DSN and, under TLS only, REQUIRETLS besides what aiosmtpd lists (SIZE,
8BITMIME, SMTPUTF8, STARTTLS, AUTH); MAIL needs a successful AUTH first (RFC
4954 section 6, ``530 5.7.0``); MAIL and RCPT parameters are validated
against what this session was offered (:mod:`fakeservers.smtp.parameters`),
and a non-ASCII address needs SMTPUTF8 (RFC 6531 section 3.4); RCPT
accepts the store's addresses, refuses unknown users of a local domain
(``550 5.1.1``) and accepts other domains into the store's outbox (never
relayed); DATA delivers the exact bytes with trace fields prepended
(:mod:`fakeservers.smtp.trace`), and so does the last BDAT chunk
(:mod:`fakeservers.smtp.extensions`). Each accepted message is recorded with
its envelope parameters (:mod:`fakeservers.smtp.record`).

Every SASL mechanism of :mod:`fakeservers.sasl` is offered through
aiosmtpd's documented ``auth_<MECHANISM>`` handler methods, replacing its
built-in PLAIN and LOGIN so that all mechanisms share one implementation.
"""

from __future__ import annotations

import io
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session, auth_mechanism

from fakeservers.config import ServerConfig
from fakeservers.sasl import Accepted, Challenge, decode_response, start_exchange
from fakeservers.smtp.dsn import (
    DELIVERED,
    FAILED,
    Notification,
    RecipientOutcome,
    build_report,
    wants_notification,
)
from fakeservers.smtp.parameters import (
    MailParameters,
    ParameterError,
    RecipientParameters,
    needs_smtputf8,
    parse_mail_parameters,
    parse_rcpt_parameters,
)
from fakeservers.smtp.record import SubmissionRecord, Transaction, submission_record
from fakeservers.smtp.trace import received_field, return_path_field
from fakeservers.store import Account, MailStore

#: RFC 5321 section 4.5.3.1.8: servers must accept at least 100 recipients.
MAX_RECIPIENTS = 100

_AUTH_FAILED = "535 5.7.8 Authentication credentials invalid"

#: RFC 6531 section 3.4: a non-ASCII address in a transaction without SMTPUTF8.
_NEEDS_SMTPUTF8 = "553 5.6.7 A non-ASCII address needs the SMTPUTF8 parameter"
#: RFC 6531 section 3.3: addresses are UTF-8; aiosmtpd keeps other octets as surrogates.
_NOT_UTF8 = "553 5.1.3 The address is not valid UTF-8"


def _not_utf8(address: str) -> bool:
    try:
        address.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


@dataclass
class TransactionState:
    """What one mail transaction declared and received beyond aiosmtpd's Envelope."""

    parameters: MailParameters = field(default_factory=MailParameters)
    recipients: list[RecipientParameters] = field(default_factory=list)
    #: The stored copy so far: trace fields, then the BDAT chunks received (RFC 3030);
    #: None while no BDAT came.
    chunks: io.BytesIO | None = None
    #: Octets of the BDAT chunks received so far (the stored copy without its trace fields).
    chunk_octets: int = 0
    #: The reply to every further BDAT once a chunk failed (RFC 3030 section 2).
    failed: str | None = None
    #: Return-Path and Received of the stored copy, once computed (:meth:`trace_fields`).
    trace: tuple[bytes, bytes] | None = None


#: What aiosmtpd leaves as the address of ``MAIL FROM:<>``, the null reverse-path.
NULL_PATH = "<>"


def _sender(envelope: Envelope) -> str:
    """The envelope sender; empty for the null reverse-path (RFC 5321 section 4.5.5)."""
    sender = envelope.mail_from or ""
    return "" if sender == NULL_PATH else sender


def _is_tls(server: SMTP) -> bool:
    transport = server.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


def _stored_copy(data: bytes | memoryview, trace: bytes) -> bytes:
    """``trace`` then ``data``: the copy the store keeps (one bytes object per message).

    When ``data`` is a view into exactly that (the DATA reader wrote the
    message behind the trace fields), the viewed object is it: no copy.
    """
    whole = data.obj if isinstance(data, memoryview) else None
    if (
        isinstance(whole, bytes)
        and len(whole) == len(trace) + len(data)
        and whole.startswith(trace)
    ):
        return whole
    return trace + data


class SubmissionHandler:
    """aiosmtpd handler for one listener (``implicit_tls`` says which kind)."""

    def __init__(self, store: MailStore, config: ServerConfig, *, implicit_tls: bool) -> None:
        self._store = store
        self._config = config
        self._implicit_tls = implicit_tls
        #: Accepted messages and client findings of every listener over this store.
        self.record: SubmissionRecord = submission_record(store)
        # aiosmtpd makes a new Envelope for every transaction (after RSET, EHLO and
        # the message) and a new Session for every connection: the state hangs off them.
        self._transactions: weakref.WeakKeyDictionary[Envelope, TransactionState] = (
            weakref.WeakKeyDictionary()
        )
        self._offered: weakref.WeakKeyDictionary[Session, frozenset[str]] = (
            weakref.WeakKeyDictionary()
        )

    def transaction(self, envelope: Envelope) -> TransactionState:
        """The extension state of the transaction ``envelope`` belongs to."""
        state = self._transactions.get(envelope)
        if state is None:
            state = self._transactions[envelope] = TransactionState()
        return state

    def offered(self, session: Session) -> frozenset[str]:
        """The EHLO keywords (upper case) the last EHLO of ``session`` listed."""
        return self._offered.get(session, frozenset())

    # -- EHLO ---------------------------------------------------------------------

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        """aiosmtpd's keywords (SIZE, 8BITMIME, SMTPUTF8, STARTTLS, AUTH) plus ours.

        RFC 8689 section 4: REQUIRETLS is offered only once the session is under TLS.
        """
        session.host_name = hostname  # the 5-argument hook must record it (aiosmtpd docs)
        tls = _is_tls(server)
        lines = [line[4:] for line in responses if line != "250 HELP"]
        lines += ["PIPELINING", "ENHANCEDSTATUSCODES", "CHUNKING", "BINARYMIME", "DSN"]
        if tls:
            lines.append("REQUIRETLS")
        declared = self._config.profile.smtp.capabilities
        if declared is not None:
            lines = lines[:1] + declared.current(
                tls=tls,
                authenticated=False,  # SMTP does not advertise again after AUTH
                credentials=lambda name: name.split(" ", 1)[0].upper() == "AUTH",
                starttls_offer=("STARTTLS",),
            )
        wire = getattr(server, "wire", None)  # SubmissionSMTP's fault rules, if any
        if wire is not None:  # the first line is the greeting, the rest are keywords
            lines = lines[:1] + wire.rules.capabilities(lines[1:])
        self._offered[session] = frozenset(line.split(" ", 1)[0].upper() for line in lines[1:])
        return [f"250-{line}" for line in lines[:-1]] + [f"250 {lines[-1]}"]

    # -- envelope -----------------------------------------------------------------

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        """Submission needs authentication first (RFC 6409 section 4.3); then the parameters."""
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        try:
            parameters = parse_mail_parameters(
                mail_options, offered=self.offered(session), size_limit=server.data_size_limit
            )
        except ParameterError as error:
            return error.reply
        if _not_utf8(address):
            return _NOT_UTF8
        if needs_smtputf8(address) and not parameters.smtputf8:
            return _NEEDS_SMTPUTF8
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        envelope.smtp_utf8 = parameters.smtputf8
        self.transaction(envelope).parameters = parameters
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        """Local users, 550 5.1.1 for unknown users of a local domain, others to the outbox."""
        state = self.transaction(envelope)
        try:
            recipient = parse_rcpt_parameters(
                address,
                rcpt_options,
                offered=self.offered(session),
                smtputf8=state.parameters.smtputf8,
            )
        except ParameterError as error:
            return error.reply
        if _not_utf8(address):
            return _NOT_UTF8
        if needs_smtputf8(address) and not state.parameters.smtputf8:
            return _NEEDS_SMTPUTF8
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        if self._store.find_address(address) is None and self._is_local_domain(address):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        state.recipients.append(recipient)
        return "250 2.1.5 Recipient OK"

    def _is_local_domain(self, address: str) -> bool:
        domain = address.rpartition("@")[2].lower()
        return any(a.address.rpartition("@")[2].lower() == domain for a in self._store.accounts())

    # -- DATA ---------------------------------------------------------------------

    def trace_fields(self, session: Session, envelope: Envelope) -> bytes:
        """The trace fields every stored copy begins with: Return-Path, Received (RFC 5321 4.4).

        Computed once per transaction and kept: the DATA reader asks before the
        data, to write the message behind them into one buffer
        (:func:`fakeservers.smtp.dot_data.serve_data`), and :meth:`handle_DATA`
        then finds the message inside that copy.
        """
        return b"".join(self._trace(session, envelope))

    def _trace(self, session: Session, envelope: Envelope) -> tuple[bytes, bytes]:
        state = self.transaction(envelope)
        if state.trace is None:
            peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
            received = received_field(
                helo=session.host_name or "",
                peer=str(peer),
                hostname=self._config.hostname,
                tls=self._implicit_tls or session.ssl is not None,
                authenticated=bool(session.authenticated),
            )
            state.trace = (return_path_field(_sender(envelope)), received)
        return state.trace

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Deliver to each local account once; keep the rest in the outbox; record it.

        A local delivery can still fail after the message was accepted: over the
        account's quota (RFC 9208 limits, ``5.2.2`` mailbox full). Delivery
        status notifications (RFC 3461) go to the envelope sender for what the
        recipients' NOTIFY asked for (:mod:`fakeservers.smtp.dsn`).

        RFC 8689 section 4.2: a REQUIRETLS message may only leave over TLS. The
        outbox stands for relaying that never happens, so the requirement is kept
        in the record (:class:`~fakeservers.smtp.record.Transaction`) with it.
        """
        data: bytes | memoryview = envelope.original_content or b""
        sender = _sender(envelope)
        return_path, received = self._trace(session, envelope)
        arrival = datetime.now(UTC)
        state = self.transaction(envelope)
        copy = _stored_copy(data, return_path + received)
        delivered: dict[str, int] = {}
        failed: dict[str, str] = {}
        outcomes: list[RecipientOutcome] = []
        remote: list[str] = []
        for recipient in state.recipients:
            account = self._store.find_address(recipient.address)
            if account is None:
                remote.append(recipient.address)
                continue
            if account.user not in delivered and account.user not in failed:
                if self._store.over_quota(account.user, len(copy)) is not None:
                    # RFC 3463 section 3.3: X.2.2 mailbox full.
                    failed[account.user] = "552 5.2.2 Mailbox full: quota exceeded"
                else:
                    delivered[account.user] = self._store.deliver(account.address, copy).uid
            if account.user in delivered:
                outcomes.append(RecipientOutcome(recipient, DELIVERED, "2.0.0"))
            else:
                outcomes.append(RecipientOutcome(recipient, FAILED, "5.2.2", failed[account.user]))
        # The DSN's copy of the message (RFC 3464 section 2.5) is built only when one is sent.
        notifications = self._notify(
            sender, state.parameters, outcomes, lambda: received + data, arrival
        )
        self.record.add_transaction(
            Transaction(
                sender=sender,
                parameters=state.parameters,
                recipients=tuple(state.recipients),
                size=len(data),
                chunked=state.chunks is not None,
                tls=self._implicit_tls or session.ssl is not None,
                delivered=tuple(delivered.items()),
                outgoing=tuple(remote),
                failed=tuple(failed.items()),
                notifications=tuple(notifications),
            )
        )
        if remote:
            self._store.record_outgoing(sender, remote, received + data)
        if "submission-copies-to-sent" in self._config.behaviours:
            self._copy_to_sent(session, data)
        return "250 2.6.0 Message accepted for delivery"

    def _notify(
        self,
        sender: str,
        parameters: MailParameters,
        outcomes: list[RecipientOutcome],
        message: Callable[[], bytes],
        arrival: datetime,
    ) -> list[Notification]:
        """Issue the DSNs the recipients asked for: one per action, to the envelope sender.

        RFC 3461 section 6.2 (and RFC 5321 section 4.5.5): a message with the
        null reverse-path never gets one. A sender who is not a local account
        cannot be reached (the outbox never relays): the notification is only
        recorded. Neither is one delivered over the sender's own quota; no
        notification is ever issued about a notification.
        """
        if not sender:
            return []
        notifications: list[Notification] = []
        for action in (DELIVERED, FAILED):
            chosen = [
                o
                for o in outcomes
                if o.action == action and wants_notification(o.recipient, action)
            ]
            if not chosen:
                continue
            report = build_report(
                action=action,
                outcomes=chosen,
                sender=sender,
                parameters=parameters,
                message=message(),
                hostname=self._config.hostname,
                arrival=arrival,
            )
            copy = return_path_field("") + report  # RFC 3461 section 6.2: from <>
            account = self._store.find_address(sender)
            where: tuple[str, int] | None = None
            if account is not None and self._store.over_quota(account.user, len(copy)) is None:
                where = (account.user, self._store.deliver(account.address, copy).uid)
            recipients = tuple(o.recipient.address for o in chosen)
            notifications.append(Notification(action, recipients, sender, report, where))
        return notifications

    def _copy_to_sent(self, session: Session, data: bytes | memoryview) -> None:
        """Store what the user submitted in their \\Sent mailbox, as Gmail does."""
        account = session.auth_data
        if not isinstance(account, Account):
            return
        user = account.user
        sent = [box.name for box in self._store.mailboxes(user) if box.special_use == "\\Sent"]
        if sent:
            self._store.append(user, sent[0], data, flags={"\\Seen"})

    # -- AUTH (RFC 4954) ----------------------------------------------------------

    @auth_mechanism("PLAIN")
    async def auth_PLAIN(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._authenticate(server, args)

    @auth_mechanism("LOGIN")
    async def auth_LOGIN(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._authenticate(server, args)

    @auth_mechanism("CRAM-MD5")
    async def auth_CRAM_MD5(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._authenticate(server, args)

    @auth_mechanism("SCRAM-SHA-1")
    async def auth_SCRAM_SHA_1(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._authenticate(server, args)

    @auth_mechanism("SCRAM-SHA-256")
    async def auth_SCRAM_SHA_256(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._authenticate(server, args)

    @auth_mechanism("XOAUTH2")
    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._authenticate(server, args)

    @auth_mechanism("OAUTHBEARER")
    async def auth_OAUTHBEARER(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._authenticate(server, args)

    async def _authenticate(self, server: SMTP, args: list[str]) -> AuthResult:
        """Run a :mod:`fakeservers.sasl` exchange over ``334`` challenges.

        ``args`` is ``[mechanism]`` or ``[mechanism, initial-response]`` where
        ``=`` is an empty initial response (RFC 4954 section 4). Additional
        data (SCRAM's server-final, an OAuth2 error JSON) goes out as one more
        ``334`` challenge whose answer is read before the final reply.
        """
        exchange = start_exchange(args[0], self._store, hostname=self._config.hostname)
        initial: bytes | None = None
        if len(args) > 1:
            initial = b"" if args[1] == "=" else decode_response(args[1])
            if initial is None:
                await server.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        step = exchange.step(initial)
        while isinstance(step, Challenge):
            response = await _challenge(server, step.data)
            if response is None:
                return AuthResult(success=False, handled=True)
            step = exchange.step(response)
        if step.data is not None and await _challenge(server, step.data) is None:
            return AuthResult(success=False, handled=True)
        if isinstance(step, Accepted):
            return AuthResult(success=True, auth_data=step.account)
        return AuthResult(success=False, handled=False, message=_AUTH_FAILED)


async def _challenge(server: SMTP, data: bytes) -> bytes | None:
    """Send a ``334`` challenge; the decoded answer, or None once the exchange was answered.

    aiosmtpd replies ``501`` itself to ``*`` and to bad base64. An answer
    longer than the server's line limit makes aiosmtpd's stream reader raise
    ValueError after consuming the line; that gets ``500 5.5.6`` here, as RFC
    4954 section 4 asks, instead of a logged traceback.
    """
    try:
        response = await server.challenge_auth(data)
    except ValueError:
        await server.push("500 5.5.6 Authentication response line too long")
        return None
    return response if isinstance(response, bytes) else None
