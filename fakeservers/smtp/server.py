"""Bind the fake SMTP submission server: aiosmtpd's ``SMTP`` protocol per connection.

The STARTTLS listener (port 587 style) requires STARTTLS before anything
but EHLO/NOOP/QUIT (``require_starttls``) and offers AUTH only under TLS
(``auth_require_tls``). The implicit-TLS listener (465 style, RFC 8314) is
TLS from the first byte, through the fake servers' own
:class:`~fakeservers.tls_layer.TLSLayer`: the listener accepts plain TCP, the
``connect`` rules act (a delay holds the handshake back, ``corrupt_tls``
sends garbage in its place), then the layer runs the handshake and presents
the session to aiosmtpd as an ordinary ``asyncio.Transport`` whose extra info
(``ssl_object``, ``sslcontext``, ``peercert``, ``cipher``) is what asyncio's
own TLS transport reports; aiosmtpd's protocol starts only then, exactly as
with ``ssl=`` on ``loop.create_server``. aiosmtpd's STARTTLS stays its own.

:class:`SubmissionSMTP` subclasses aiosmtpd's ``SMTP`` for four reasons,
each through a method aiosmtpd documents for subclasses: ``push`` (every
reply goes through it) adds the enhanced status codes the server
advertises; ``smtp_AUTH`` upper-cases the mechanism name, which aiosmtpd
would otherwise match case-sensitively (RFC 4954 section 4 and RFC 4422
section 3.1: names are case-insensitive); ``connection_made`` /
``connection_lost`` register the session with the :class:`Listener`, so that
closing the listener closes every session; ``_create_session`` returns a
:class:`QuietSession`, so that each successful AUTH does not log aiosmtpd's
deprecation warning about ``Session.login_data`` (which aiosmtpd itself sets).
``data_received`` (an ``asyncio.Protocol`` method) hands the octets of a
message being sent by DATA or BDAT straight to the reader's
:class:`~fakeservers.smtp.dot_data.DataSink` rather than through aiosmtpd's
line stream, which would copy each octet twice more.

The service extensions aiosmtpd lacks are ``smtp_VERB`` methods, its
documented way to add or replace commands, delegating to
:mod:`fakeservers.smtp.extensions`: BDAT (RFC 3030), MAIL and RCPT with
DSN, REQUIRETLS and BINARYMIME parameters, DATA refused where RFC 3030
forbids it, and EHLO, STARTTLS and DATA checked for forbidden pipelining.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, AnyStr, cast

from aiosmtpd.smtp import SMTP, Session, syntax

from fakeservers.config import ServerConfig
from fakeservers.listener import LISTEN_BACKLOG, Listener
from fakeservers.rules import Event, SessionRules, Wire
from fakeservers.smtp import extensions
from fakeservers.smtp.dot_data import DataSink, serve_data
from fakeservers.smtp.handler import SubmissionHandler
from fakeservers.smtp.replies import with_enhanced_code
from fakeservers.store import MailStore
from fakeservers.tls_layer import TLSLayer

logger = logging.getLogger(__name__)

IDENT = "ESMTP mailcompat submission ready"

Track = Callable[[Callable[[], None]], Callable[[], None]]


class QuietSession(Session):
    """aiosmtpd's Session whose legacy ``login_data`` is a plain attribute (no warning log)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self._legacy_login: Any = None

    @property
    def login_data(self) -> Any:
        return self._legacy_login

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._legacy_login = value


class SubmissionSMTP(SMTP):
    """aiosmtpd's SMTP with enhanced status codes and listener tracking."""

    #: aiosmtpd's documented input line limit, raised from 1001: RFC 4954 section 4
    #: asks servers to take SASL responses of the size their mechanisms produce
    #: (12288 octets "considered sufficient"; long OAuth2 tokens need it). Command
    #: lines stay limited to 512 octets by aiosmtpd; DATA text lines are tolerated
    #: up to this length too (RFC 5321 section 4.5.3.1 favours no fixed limits).
    line_length_limit = 12288

    def __init__(
        self,
        handler: SubmissionHandler,
        *,
        track: Track,
        rules: SessionRules | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        tls_handshake_timeout: float = 10.0,
        **options: Any,
    ) -> None:
        super().__init__(handler, **options)
        self._track = track
        self._untrack: Callable[[], None] | None = None
        #: The context of the implicit-TLS port (RFC 8314 section 3), run by our TLS layer.
        self._implicit_tls = implicit_tls
        self._tls_handshake_timeout = tls_handshake_timeout
        self._tls_layer: TLSLayer | None = None
        self._handshake: asyncio.Task[None] | None = None
        #: Applies the fault rules to this connection; None when no rule concerns it. Before
        #: aiosmtpd has a transport (implicit TLS, handshake pending) it writes to the layer.
        self.wire = Wire(rules, self._wire_transport) if rules else None
        #: While a DATA or BDAT payload is read, where received octets go instead of
        #: aiosmtpd's stream.
        self.data_sink: DataSink | None = None

    def _wire_transport(self) -> asyncio.BaseTransport | None:
        if self.transport is not None:
            return self.transport
        return self._tls_layer.transport if self._tls_layer is not None else None

    def _create_session(self) -> Session:
        # Documented by aiosmtpd as the hook subclasses override for custom sessions.
        return QuietSession(self.loop)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._implicit_tls is not None and self._tls_layer is None:
            self._begin_implicit_tls(cast(asyncio.Transport, transport), self._implicit_tls)
            return
        # Called again: after our implicit-TLS handshake, or by aiosmtpd's STARTTLS.
        first = self._untrack is None
        if first:
            self._untrack = self._track(cast(asyncio.Transport, transport).abort)
        super().connection_made(transport)
        if self.wire is not None:
            if first:
                self.wire.on_event(Event.CONNECT)
            if transport.get_extra_info("ssl_object") is not None:
                self.wire.on_event(Event.TLS)

    def _begin_implicit_tls(self, raw: asyncio.Transport, context: ssl.SSLContext) -> None:
        """Plain TCP accepted on the implicit-TLS port: connect rules, then our handshake."""
        self._untrack = self._track(raw.abort)
        layer = TLSLayer(context, self, on_secure=lambda: self.connection_made(layer.transport))
        self._tls_layer = layer
        layer.attach(raw)
        if self.wire is not None:
            self.wire.on_event(Event.CONNECT)  # before the handshake
        self._handshake = self.loop.create_task(self._implicit_handshake(layer))

    async def _implicit_handshake(self, layer: TLSLayer) -> None:
        """The connect rules' delays, then the handshake; aiosmtpd starts when it completes."""
        try:
            if self.wire is not None and not await self.wire.before_handshake(layer.raw_transport):
                return
            await layer.handshake(self._tls_handshake_timeout)
        except OSError as error:  # ssl.SSLError, ConnectionError: the layer has closed it
            logger.debug("SMTP TLS handshake with %s failed: %s", layer.extra("peername"), error)

    def data_received(self, data: bytes) -> None:
        wire = self.wire
        if wire is not None:
            if wire.stalled:
                return
            if wire.rules.watches(Event.BYTES) and wire.on_event(Event.BYTES, data).ending:
                return  # the octets that end the connection are not served
        sink = self.data_sink
        if sink is not None and sink.receiving:
            sink.feed(data)
            return
        super().data_received(data)

    def eof_received(self) -> bool | None:
        if self.data_sink is not None:
            self.data_sink.lost()
        return super().eof_received()

    def connection_lost(self, error: Exception | None) -> None:
        if self.data_sink is not None:
            self.data_sink.lost()
        if self.session is None:  # the implicit-TLS handshake never completed
            if self._untrack is not None:
                self._untrack()
            return
        super().connection_lost(error)
        if self._untrack is not None:
            self._untrack()

    @syntax("AUTH <mechanism>")
    async def smtp_AUTH(self, arg: str | None) -> None:
        mechanism, space, rest = (arg or "").partition(" ")
        await super().smtp_AUTH(mechanism.upper() + space + rest if arg else arg)

    # -- service extensions (fakeservers.smtp.extensions) ---------------------------

    @syntax("EHLO hostname")
    async def smtp_EHLO(self, hostname: str | None) -> None:
        extensions.note_group_end(self, "EHLO")
        # RFC 3461 section 5 and RFC 1870 section 3: parameters lengthen MAIL and RCPT
        # lines beyond 512 octets; a per-session table (aiosmtpd's is shared by all).
        self.command_size_limits = collections.defaultdict(
            lambda: self.command_size_limit, {"MAIL": 2048, "RCPT": 2048}
        )
        await super().smtp_EHLO(hostname)

    @syntax("STARTTLS", when="tls_context")
    async def smtp_STARTTLS(self, arg: str | None) -> None:
        extensions.note_group_end(self, "STARTTLS")
        await super().smtp_STARTTLS(arg)

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg: str | None) -> None:
        await extensions.mail(self, arg)

    @syntax("RCPT TO: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_RCPT(self, arg: str | None) -> None:
        await extensions.rcpt(self, arg)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str | None) -> None:
        if await extensions.data_allowed(self):
            # aiosmtpd's DATA reads line by line; the same command, read in bulk.
            await serve_data(self, arg)

    @syntax("BDAT <size> [LAST]")
    async def smtp_BDAT(self, arg: str | None) -> None:
        await extensions.bdat(self, arg)

    async def push(self, status: AnyStr) -> None:
        text = with_enhanced_code(status) if isinstance(status, str) else status
        if self.wire is None:
            await super().push(text)
            return
        # The same encoding as aiosmtpd's push, then through the rules.
        encoding = "utf-8" if self.enable_SMTPUTF8 else "ascii"
        data = text.encode(encoding) if isinstance(text, str) else bytes(text)
        self.wire.write(data + b"\r\n")
        await self.wire.flush()


def _with_rules(verb: str, method: Callable[..., Awaitable[None]]) -> Callable[..., Any]:
    """``method`` (an ``smtp_VERB`` command handler) preceded by the ``command`` rules.

    aiosmtpd finds command handlers by their ``smtp_`` names; wrapping each
    one (``functools.wraps`` keeps the ``@syntax`` data HELP shows) lets a
    rule delay a command, answer it instead, or end the connection after it.
    """

    @functools.wraps(method)
    async def run(self: SubmissionSMTP, arg: str | None) -> None:
        wire = self.wire
        if wire is None:
            await method(self, arg)
            return
        session = self.session
        authenticated = session is not None and session.authenticated
        wire.rules.state = "authenticated" if authenticated else "not authenticated"
        line = f"{verb} {arg}" if arg else verb
        fired = await wire.command(verb, line.encode("utf-8", "surrogateescape") + b"\r\n")
        if fired.replacement is not None:
            wire.replace_command(fired)
        elif verb == "STARTTLS" and wire.take_corrupt_tls():
            await self.push("220 Ready to start TLS")
            wire.corrupt_handshake()
        else:
            await method(self, arg)
        await wire.conclude(fired)

    return run


for _name in [name for name in dir(SubmissionSMTP) if name.startswith("smtp_")]:
    setattr(SubmissionSMTP, _name, _with_rules(_name[5:], getattr(SubmissionSMTP, _name)))


async def start_smtp_server(
    store: MailStore,
    config: ServerConfig,
    *,
    host: str,
    port: int,
    tls_context: ssl.SSLContext,
    implicit_tls: bool,
) -> Listener:
    """Listen on ``host:port``: submissions (implicit TLS) or submission with STARTTLS."""
    loop = asyncio.get_running_loop()
    handler = SubmissionHandler(store, config, implicit_tls=implicit_tls)
    listeners: list[Listener] = []  # filled before the server starts serving
    limits = config.limits

    def build() -> SubmissionSMTP:
        return SubmissionSMTP(
            handler,
            track=listeners[0].track,
            rules=config.rules.session("smtp") or None,
            data_size_limit=limits.max_message_size,
            enable_SMTPUTF8=True,
            hostname=config.hostname,
            ident=config.profile.smtp.greeting or IDENT,
            tls_context=None if implicit_tls else tls_context,
            implicit_tls=tls_context if implicit_tls else None,
            tls_handshake_timeout=limits.tls_handshake_timeout,
            require_starttls=not implicit_tls,
            auth_require_tls=not implicit_tls,
            timeout=limits.idle_timeout,
            loop=loop,
        )

    server = await loop.create_server(
        build,
        host,
        port,
        start_serving=False,
        backlog=LISTEN_BACKLOG,
    )
    listeners.append(Listener(server, name="submissions" if implicit_tls else "submission"))
    await server.start_serving()
    return listeners[0]
