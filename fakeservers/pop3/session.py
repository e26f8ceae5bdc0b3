"""One POP3 session: framing, the RFC 1939 state table and a dispatch table.

States (RFC 1939 section 3): AUTHORIZATION until USER/PASS, APOP or AUTH
succeeds and the maildrop lock is taken; TRANSACTION; UPDATE after QUIT,
where the messages marked by DELE are removed. A connection that ends any
other way deletes nothing.

On the STLS port no credentials are accepted before STLS (RFC 2595 section
2.2 lets a server refuse clear-text authentication): USER, PASS, APOP and
AUTH answer ``-ERR [AUTH] ...`` (the RFC 3206 code for authentication
failures that retrying with the same credentials will not fix, as Dovecot
answers), and CAPA leaves out USER and SASL until TLS is up.

RFC 2449 extensions: RESP-CODES and AUTH-RESP-CODE (``[AUTH]``, ``[IN-USE]``,
``[SYS/TEMP]``, ``[LOGIN-DELAY]``), LOGIN-DELAY and EXPIRE with the values of
:class:`~fakeservers.config.ServerConfig` (a login too soon is refused; with
``EXPIRE 0`` retrieved messages are deleted at QUIT), and PIPELINING (commands
are read and answered in order, whatever arrives at once). RFC 6856: the UTF8
command (AUTHORIZATION state only) and UTF-8 user names and passwords,
normalised to NFC as section 2 asks; a session without UTF8 receives messages
with UTF-8 header fields downgraded (RFC 6858, :mod:`fakeservers.pop3.downgrade`).
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import logging
import os
import ssl
import time
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType

from fakeservers.config import ServerConfig
from fakeservers.connection import Connection, ConnectionClosed, IdleTimeout, LineTooLong
from fakeservers.pop3.command import (
    Command,
    CommandError,
    line_count,
    message_number,
    parse_command,
    split_arguments,
)
from fakeservers.pop3.downgrade import downgrade
from fakeservers.pop3.logins import login_times
from fakeservers.pop3.maildrop import Maildrop, as_lines, multiline, top
from fakeservers.sasl import (
    MECHANISMS,
    Accepted,
    Challenge,
    UnknownMechanism,
    decode_response,
    start_exchange,
)
from fakeservers.store import Account, MailStore, Message, StoreError

log = logging.getLogger(__name__)

IMPLEMENTATION = "mailcompat"


class State(enum.Enum):
    """The session states of RFC 1939 section 3."""

    AUTHORIZATION = "AUTHORIZATION"
    TRANSACTION = "TRANSACTION"
    UPDATE = "UPDATE"


class _Closing(Exception):
    """The session ends after the reply already sent (QUIT, too many bad commands)."""


def capabilities(
    *, secure: bool, stls_offered: bool, login_delay: int = 0, expire: int | None = None
) -> list[str]:
    """The CAPA list (RFC 2449 section 6); credentials are only offered under TLS.

    ``UTF8 USER`` (RFC 6856 section 2): the UTF8 command, and UTF-8 in USER and PASS.
    """
    listed = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "UTF8 USER"]
    listed += [f"LOGIN-DELAY {login_delay}", f"EXPIRE {'NEVER' if expire is None else expire}"]
    if secure:
        listed += ["USER", "SASL " + " ".join(MECHANISMS)]
    elif stls_offered:
        listed.append("STLS")
    return [*listed, f"IMPLEMENTATION {IMPLEMENTATION}"]


class Pop3Session:
    """Serves one client connection until QUIT, a limit, or the connection ends."""

    def __init__(
        self,
        connection: Connection,
        store: MailStore,
        config: ServerConfig,
        *,
        tls_context: ssl.SSLContext,
        implicit_tls: bool,
    ) -> None:
        self._connection = connection
        self._store = store
        self._config = config
        self._tls_context = tls_context
        self._stls_allowed = not implicit_tls
        # RFC 1939 section 7: the APOP timestamp is a msg-id unique per greeting.
        self._timestamp = f"<{os.getpid()}.{time.time_ns()}@{config.hostname}>"
        self._state = State.AUTHORIZATION
        self._pending_user: str | None = None
        self._logged_in_user: str | None = None
        self._maildrop: Maildrop | None = None
        self._release_lock: Callable[[], None] | None = None
        self._bad_commands = 0
        self._utf8 = False
        #: Downgraded octets by UID, for a session without UTF8 (RFC 6856 section 2).
        self._downgraded: dict[int, bytes] = {}
        #: Messages retrieved with RETR, deleted at QUIT under ``EXPIRE 0`` (RFC 2449 6.7).
        self._retrieved: set[int] = set()

    # -- the loop -----------------------------------------------------------------

    async def run(self) -> None:
        """Greet, then serve commands; always releases the lock and closes."""
        try:
            # The timestamp ends the line, as in RFC 1939's example: curl only
            # recognises APOP support when the greeting ends with it.
            greeting = (
                self._config.profile.pop3.greeting or "{implementation} POP3 ready {timestamp}"
            )
            for name, value in (
                ("{implementation}", IMPLEMENTATION),
                ("{hostname}", self._config.hostname),
                ("{timestamp}", self._timestamp),
            ):
                greeting = greeting.replace(name, value)
            self._reply(f"+OK {greeting}")
            while True:
                await self._serve_one()
        except (_Closing, ConnectionClosed, IdleTimeout, OSError):
            pass  # OSError: resets, TLS failures (ssl.SSLError) and handshake timeouts
        except Exception:
            log.exception("POP3 session with %s failed", self._connection.peer)
        finally:
            if self._release_lock is not None:
                self._release_lock()
            await self._connection.close()

    async def _serve_one(self) -> None:
        try:
            line = await self._connection.read_line(self._config.limits.max_line)
            command = parse_command(line)
            handler = _DISPATCH[self._state].get(command.keyword)
            if handler is None:
                raise CommandError(
                    f"{command.keyword} is not valid in the {self._state.value} state"
                )
            self._bad_commands = 0
            await self._run_with_rules(handler, command, line)
        except (CommandError, LineTooLong) as error:
            self._bad_commands += 1
            if self._bad_commands >= self._config.limits.max_bad_commands:
                self._reply("-ERR too many bad commands, closing")
                raise _Closing from None
            self._reply(f"-ERR {error}")
        await self._connection.drain()

    async def _run_with_rules(self, handler: Handler, command: Command, line: bytes) -> None:
        """Run ``handler`` unless a ``command`` rule answers instead (:mod:`fakeservers.rules`)."""
        wire = self._connection.wire
        if wire is None:
            await handler(self, command.argument)
            return
        wire.rules.state = self._state.value.lower()
        wire.rules.user = self._logged_in_user
        fired = await wire.command(command.keyword, line)
        if fired.replacement is not None:
            wire.replace_command(fired)
        else:
            await handler(self, command.argument)
        await wire.conclude(fired)

    def _reply(self, line: str) -> None:
        self._connection.write(line.encode("utf-8") + b"\r\n")

    def _multiline(self, first: str, body: bytes) -> None:
        self._connection.write(first.encode("utf-8") + b"\r\n" + multiline(body))

    @property
    def _secure(self) -> bool:
        return self._connection.is_tls

    def _require_secure(self) -> bool:
        if not self._secure:
            self._reply("-ERR [AUTH] Plaintext authentication disallowed before STLS")
        return self._secure

    # -- AUTHORIZATION ----------------------------------------------------------------

    async def _capa(self, argument: str) -> None:
        split_arguments(argument, minimum=0, maximum=0)
        stls_offered = self._stls_allowed and self._state is State.AUTHORIZATION
        declared = self._config.profile.pop3.capabilities
        if declared is not None:
            listed = declared.current(
                tls=self._secure,
                authenticated=self._state is not State.AUTHORIZATION,
                credentials=lambda name: name.split(" ", 1)[0].upper() in {"USER", "SASL"},
                starttls_offer=("STLS",) if stls_offered else (),
            )
        else:
            listed = capabilities(
                secure=self._secure,
                stls_offered=stls_offered,
                login_delay=self._config.pop3_login_delay,
                expire=self._config.pop3_expire,
            )
        if self._connection.wire is not None:
            listed = self._connection.wire.rules.capabilities(listed)
        self._multiline("+OK Capability list follows", "".join(f"{c}\r\n" for c in listed).encode())

    async def _stls(self, argument: str) -> None:
        split_arguments(argument, minimum=0, maximum=0)
        if not self._stls_allowed or self._secure:
            raise CommandError("STLS is not available (TLS is already active or implicit)")
        self._reply("+OK Begin TLS negotiation")
        await self._connection.drain()
        # RFC 2595 section 4: the client must forget what it learned before STLS;
        # the server forgets any USER given, and bytes pipelined after STLS.
        self._pending_user = None
        await self._connection.start_tls(
            self._tls_context, timeout=self._config.limits.tls_handshake_timeout
        )

    async def _utf8_command(self, argument: str) -> None:
        """UTF8 (RFC 6856 section 2): UTF-8 mode for the rest of the session."""
        split_arguments(argument, minimum=0, maximum=0)
        self._utf8 = True
        self._reply("+OK UTF8 enabled")

    async def _user(self, argument: str) -> None:
        (name,) = split_arguments(argument, minimum=1, maximum=1)
        if self._require_secure():
            # RFC 6856 section 2: UTF-8 user names are compared in NFC.
            self._pending_user = unicodedata.normalize("NFC", name)
            self._reply(f"+OK send PASS for {name}")

    async def _pass(self, argument: str) -> None:
        if not self._require_secure():
            return
        user, self._pending_user = self._pending_user, None
        if user is None:
            raise CommandError("PASS must follow USER")
        password = unicodedata.normalize("NFC", argument)  # RFC 6856 section 2
        await self._log_in(self._store.check_password(user, password))

    async def _apop(self, argument: str) -> None:
        name, digest = split_arguments(argument, minimum=2, maximum=2)
        if not self._require_secure():
            return
        try:
            account: Account | None = self._store.account(name)
        except StoreError:
            account = None
        # RFC 1939 section 7: digest = MD5(timestamp + shared secret), lower-case hex.
        secret = (self._timestamp + account.password).encode() if account else b""
        expected = hashlib.md5(secret).hexdigest().encode()
        matches = hmac.compare_digest(expected, digest.lower().encode()) and account is not None
        await self._log_in(account if matches else None)

    async def _auth(self, argument: str) -> None:
        if not self._require_secure():
            return
        if not argument:  # the pre-RFC 5034 listing form that Outlook still sends
            self._multiline("+OK", "".join(f"{m}\r\n" for m in MECHANISMS).encode())
            return
        parts = split_arguments(argument, minimum=1, maximum=2)
        try:
            await self._authenticate(parts[0], parts[1] if len(parts) == 2 else None)
        except _SaslAbort as abort:
            self._reply(f"-ERR {abort}")

    async def _authenticate(self, mechanism: str, initial: str | None) -> None:
        """RFC 5034 section 4: an optional initial response (``=`` for empty), then challenges."""
        try:
            exchange = start_exchange(mechanism, self._store, hostname=self._config.hostname)
        except UnknownMechanism:
            self._reply(f"-ERR unsupported SASL mechanism {mechanism[:40]}")
            return
        step = exchange.step(None if initial is None else _decode_response(initial, initial=True))
        while isinstance(step, Challenge):
            step = exchange.step(await self._challenge(step.data))
        if step.data is not None:  # success data (SCRAM) or an error JSON (XOAUTH2)
            await self._challenge(step.data)
        if isinstance(step, Accepted):
            await self._log_in(step.account)
        else:
            self._reply(f"-ERR [AUTH] {step.reason}")

    async def _challenge(self, data: bytes) -> bytes:
        """Send ``+ base64`` and return the client's decoded answer (RFC 5034 section 4)."""
        self._connection.write(b"+ " + base64.b64encode(data) + b"\r\n")
        await self._connection.drain()
        line = await self._connection.read_line(self._config.limits.max_line)
        return _decode_response(line.rstrip(b"\r\n").decode("ascii", "replace"))

    async def _log_in(self, account: Account | None) -> None:
        """Take the maildrop lock and enter TRANSACTION (RFC 1939 section 4)."""
        if account is None:
            self._reply("-ERR [AUTH] Authentication failed")
            return
        if not login_times(self._store).admit(account.user, self._config.pop3_login_delay):
            # RFC 2449 section 8.1.1: too soon after the previous login.
            self._reply("-ERR [LOGIN-DELAY] Minimum time between logins has not passed")
            return
        release = self._store.lock_maildrop(account.user)
        if release is None:
            self._reply("-ERR [IN-USE] Maildrop is locked by another session")
            return
        self._release_lock = release
        self._maildrop = Maildrop(self._store, account.user)
        self._logged_in_user = account.user
        self._state = State.TRANSACTION
        count, octets = self._totals()
        self._reply(f"+OK {account.user} has {count} messages ({octets} octets)")

    async def _quit(self, argument: str) -> None:
        split_arguments(argument, minimum=0, maximum=0)
        if self._maildrop is None:
            self._reply(f"+OK {IMPLEMENTATION} POP3 server signing off")
            raise _Closing
        self._state = State.UPDATE  # RFC 1939 section 6
        if self._config.pop3_expire == 0:  # RFC 2449 section 6.7: retrieved means gone
            for number in self._retrieved:
                self._maildrop.delete(number)
        try:
            self._maildrop.commit()
        except StoreError:
            self._reply("-ERR [SYS/TEMP] some deleted messages were not removed")
            raise _Closing from None
        count, _ = self._totals()
        self._reply(f"+OK {IMPLEMENTATION} POP3 server signing off ({count} messages left)")
        raise _Closing

    # -- TRANSACTION ------------------------------------------------------------------

    @property
    def _drop(self) -> Maildrop:
        assert self._maildrop is not None, "only dispatched in TRANSACTION"
        return self._maildrop

    def _wire_data(self, message: Message) -> bytes:
        """The octets this session sends for ``message`` (before CRLF lines and dot-stuffing).

        RFC 6856 section 2: UTF-8 header fields only go to a client that issued
        UTF8; any other gets the message downgraded (:mod:`fakeservers.pop3.downgrade`),
        the same octets every time, so that LIST, STAT, TOP and RETR agree. UTF8 is
        only allowed before login, so the mode cannot change under the cache.
        """
        if self._utf8:
            return message.data
        data = self._downgraded.get(message.uid)
        if data is None:
            data = self._downgraded[message.uid] = downgrade(message.data)
        return data

    def _size(self, message: Message) -> int:
        """The size RETR sends (RFC 1939 section 5): lines in CRLF, before dot-stuffing."""
        return len(as_lines(self._wire_data(message)))

    def _totals(self) -> tuple[int, int]:
        listing = self._drop.listing()
        return len(listing), sum(self._size(message) for _, message in listing)

    def _message_data(self, text: str) -> bytes | None:
        """The bytes of message ``text``, or None after replying -ERR (RFC 1939 section 5)."""
        number = message_number(text)
        message = self._drop.get(number)
        if message is None:
            self._reply(f"-ERR no such message {number} (or it is deleted)")
            return None
        return self._wire_data(message)

    async def _stat(self, argument: str) -> None:
        split_arguments(argument, minimum=0, maximum=0)
        count, octets = self._totals()
        self._reply(f"+OK {count} {octets}")

    async def _list(self, argument: str) -> None:
        # The size RETR sends (RFC 1939 section 5): lines in CRLF, before dot-stuffing.
        await self._scan(argument, lambda message: str(self._size(message)), "scan listing")

    async def _uidl(self, argument: str) -> None:
        await self._scan(argument, self._drop.unique_id, "unique-id listing")

    async def _scan(self, argument: str, describe: Callable[[Message], str], what: str) -> None:
        """LIST and UIDL: one message with an argument, else a multi-line listing."""
        (number_text,) = split_arguments(argument, minimum=0, maximum=1) or [""]
        if number_text:
            number = message_number(number_text)
            message = self._drop.get(number)
            if message is None:
                self._reply(f"-ERR no such message {number} (or it is deleted)")
            else:
                self._reply(f"+OK {number} {describe(message)}")
            return
        lines = "".join(f"{n} {describe(m)}\r\n" for n, m in self._drop.listing())
        self._multiline(f"+OK {what} follows", lines.encode())

    async def _retr(self, argument: str) -> None:
        (number_text,) = split_arguments(argument, minimum=1, maximum=1)
        data = self._message_data(number_text)
        if data is not None:
            self._retrieved.add(message_number(number_text))
            first = f"+OK {len(as_lines(data))} octets\r\n".encode()
            # Two pieces, not joined: a large message goes out in slices, paced by the client.
            await self._connection.write_pieces([first, multiline(data)])

    async def _top(self, argument: str) -> None:
        number_text, count_text = split_arguments(argument, minimum=2, maximum=2)
        lines = line_count(count_text)
        data = self._message_data(number_text)
        if data is not None:
            first = b"+OK top of message follows\r\n"
            await self._connection.write_pieces([first, multiline(top(data, lines))])

    async def _dele(self, argument: str) -> None:
        (number_text,) = split_arguments(argument, minimum=1, maximum=1)
        number = message_number(number_text)
        if self._drop.delete(number):
            self._reply(f"+OK message {number} deleted")
        else:
            self._reply(f"-ERR no such message {number} (or it is already deleted)")

    async def _rset(self, argument: str) -> None:
        split_arguments(argument, minimum=0, maximum=0)
        self._drop.reset()
        count, octets = self._totals()
        self._reply(f"+OK maildrop has {count} messages ({octets} octets)")

    async def _noop(self, argument: str) -> None:
        split_arguments(argument, minimum=0, maximum=0)
        self._reply("+OK")


class _SaslAbort(Exception):
    """The client cancelled the exchange or sent bad base64; the text is the -ERR text."""


def _decode_response(text: str, *, initial: bool = False) -> bytes:
    """A client's base64 SASL response; ``=`` is an empty initial response (RFC 5034 4)."""
    if initial and text == "=":
        return b""
    if text == "*":  # RFC 5034 section 4: the client cancels the exchange
        raise _SaslAbort("Authentication cancelled")
    decoded = decode_response(text)
    if decoded is None:
        raise _SaslAbort("[AUTH] Authentication failed: response is not base64")
    return decoded


Handler = Callable[[Pop3Session, str], Awaitable[None]]

_DISPATCH: Mapping[State, Mapping[str, Handler]] = MappingProxyType(
    {
        State.AUTHORIZATION: MappingProxyType(
            {
                "CAPA": Pop3Session._capa,
                "STLS": Pop3Session._stls,
                "USER": Pop3Session._user,
                "PASS": Pop3Session._pass,
                "APOP": Pop3Session._apop,
                "AUTH": Pop3Session._auth,
                "UTF8": Pop3Session._utf8_command,
                "QUIT": Pop3Session._quit,
            }
        ),
        State.TRANSACTION: MappingProxyType(
            {
                "CAPA": Pop3Session._capa,
                "STAT": Pop3Session._stat,
                "LIST": Pop3Session._list,
                "UIDL": Pop3Session._uidl,
                "RETR": Pop3Session._retr,
                "TOP": Pop3Session._top,
                "DELE": Pop3Session._dele,
                "RSET": Pop3Session._rset,
                "NOOP": Pop3Session._noop,
                "QUIT": Pop3Session._quit,
            }
        ),
        State.UPDATE: MappingProxyType({}),
    }
)
