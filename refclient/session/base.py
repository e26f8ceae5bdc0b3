"""What every session (IMAP, POP3, SMTP) shares: connect, read, upgrade, fail well.

A protocol session owns a sans-IO engine and a :class:`~refclient.transport.Stream`;
this base class owns the stream, the transcript, the findings and the error
translation, so that each protocol module is only about its protocol:

* :meth:`Session.step` names what is being done; any failure inside it
  (socket error, timeout, TLS error, a protocol error of the engine) becomes
  one :class:`~refclient.errors.ClientError` naming the server, the step and the
  transcript's tail, with every secret redacted.
* :meth:`Session.read` waits at most ``read_timeout`` for data and turns the
  server closing the connection into :class:`~refclient.errors.ConnectionLost`.
* :meth:`Session.upgrade_tls` performs the TLS handshake of STARTTLS and
  refuses it when bytes were injected after the server's reply.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import NoReturn, Self

from refclient import errors
from refclient.findings import Finding, Severity
from refclient.protocol.errors import LocalProtocolError, RemoteProtocolError
from refclient.session.options import ClientOptions
from refclient.tls import check_alpn, client_context
from refclient.transcript import Transcript
from refclient.transport.stream import InjectedBytes, Stream, TLSInfo
from refclient.urls import Security, ServerURL


@functools.lru_cache(maxsize=32)
def _shared_context(ca_file: Path | None, verify: bool, alpn: tuple[str, ...]) -> ssl.SSLContext:
    """Contexts are reused: loading the system trust store costs tens of milliseconds.

    A context is never changed after it is built, so sharing it between
    sessions (and threads) is safe.
    """
    return client_context(ca_file=ca_file, verify=verify, alpn=alpn)


class Session:
    """Plumbing shared by the protocol sessions."""

    def __init__(self, url: ServerURL, *, options: ClientOptions | None = None) -> None:
        self.url = url
        self.options = options or ClientOptions()
        self.transcript = Transcript(url.label, sink=self.options.transcript_sink)
        self.findings: list[Finding] = []
        self._stream: Stream | None = None
        self._last_tls: TLSInfo | None = None  # kept after close, for reports
        self._step = "connect"

    # -- facts ------------------------------------------------------------------------

    @property
    def stream(self) -> Stream:
        """The open stream (a :class:`LocalProtocolError` if not connected)."""
        if self._stream is None:
            raise LocalProtocolError("not connected")
        return self._stream

    @property
    def tls(self) -> TLSInfo | None:
        """What TLS negotiated, or None on a clear-text connection."""
        return self._stream.tls if self._stream else self._last_tls

    @property
    def alpn_offered(self) -> tuple[str, ...]:
        """The ALPN ids this session offers (``imap``/``pop3``; SMTP has none registered)."""
        return (self.url.protocol,) if self.options.alpn and self.url.protocol != "smtp" else ()

    def ssl_context(self) -> ssl.SSLContext:
        """The client context of this session (the one TLS policy, :mod:`refclient.tls`)."""
        return _shared_context(self.options.ca_file, self.options.verify, self.alpn_offered)

    # -- the session's life -------------------------------------------------------------

    async def connect(self) -> None:
        """Connect, read the greeting, and secure the connection: each protocol's own."""
        raise NotImplementedError

    async def finish(self) -> None:
        """End the session the protocol's way (LOGOUT, QUIT) and close; here, only close."""
        await self.close()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # A block that failed leaves the connection as it is: no goodbye on a broken session.
        if exc is None and self._stream is not None:
            await self.finish()
        else:
            await self.close()

    # -- errors -----------------------------------------------------------------------

    def add_secret(self, secret: str | bytes | None) -> None:
        """Keep ``secret`` out of the transcript and every error message."""
        if secret:
            self.transcript.add_secret(secret)

    def fail(self, kind: type[errors.ClientError], message: str) -> NoReturn:
        """Raise ``kind`` naming the server, the current step and the transcript's tail."""
        raise kind(
            self.transcript.redact_text(message),
            server=self.url.label,
            step=self._step,
            tail=self.transcript.tail(),
        )

    def record(self, finding: Finding) -> None:
        """Keep a conformance finding; in strict mode an error-level finding fails."""
        self.findings.append(finding)
        self.transcript.event(f"finding {finding}")
        if self.options.strict and finding.severity is Severity.ERROR:
            self.fail(errors.ProtocolViolation, f"strict mode: {finding}")

    @asynccontextmanager
    async def step(self, name: str) -> AsyncIterator[None]:
        """Run a block as the named step, translating every failure into a ClientError."""
        previous, self._step = self._step, name
        try:
            yield
        except errors.ClientError:
            raise
        except InjectedBytes as exc:
            self.fail(errors.SecurityViolation, f"response injection: {exc}")
        except ssl.SSLCertVerificationError as exc:
            self.fail(errors.TLSFailed, f"certificate rejected: {exc.verify_message or exc}")
        except ssl.SSLError as exc:
            self.fail(errors.TLSFailed, f"TLS failed: {exc.reason or exc}")
        except TimeoutError:
            self.fail(errors.Timeout, "timed out waiting for the server")
        except RemoteProtocolError as exc:
            self.fail(errors.ProtocolViolation, f"server broke the protocol: {exc}")
        except (ConnectionError, EOFError) as exc:
            self.fail(errors.ConnectionLost, f"connection lost: {exc or type(exc).__name__}")
        except OSError as exc:
            self.fail(errors.ConnectFailed, f"network error: {exc}")
        finally:
            self._step = previous

    # -- I/O --------------------------------------------------------------------------

    async def open(self) -> Stream:
        """Connect; with implicit TLS the handshake is part of connecting.

        One session is one connection: opening a session that is already open
        is a :class:`~refclient.errors.ConfigurationError` (the first
        connection would be left open, unseen, for the server to wait on).
        """
        if self._stream is not None:
            self.fail(errors.ConfigurationError, "the session is already connected")
        async with self.step("connect"):
            context = self.ssl_context() if self.url.security is Security.TLS else None
            self._stream = await Stream.connect(
                self.url.host,
                self.url.port,
                transcript=self.transcript,
                ssl_context=context,
                server_hostname=self.url.host,
                timeout=self.options.connect_timeout,
            )
            if self._stream.tls is not None:
                check_alpn(self.alpn_offered, self._stream.tls.alpn)
            return self._stream

    async def read(self) -> bytes:
        """The next octets from the server; the server closing is ConnectionLost."""
        data = await self.stream.read(self.options.read_timeout)
        if not data:
            self.fail(errors.ConnectionLost, "the server closed the connection")
        return data

    async def upgrade_tls(self) -> TLSInfo:
        """TLS handshake after a positive STARTTLS/STLS reply (RFC 2595, RFC 3207)."""
        info = await self.stream.start_tls(
            self.ssl_context(),
            server_hostname=self.url.host,
            timeout=self.options.connect_timeout,
        )
        check_alpn(self.alpn_offered, info.alpn)  # ALPACA: refuse an id we did not offer
        return info

    # -- rules shared by the three protocols ----------------------------------------

    def starttls_offered(self, offered: bool, command: str) -> None:
        """STARTTLS/STLS must be offered where the URL requires it (RFC 2595, RFC 3207)."""
        if not offered:
            self.fail(
                errors.SecurityViolation,
                f"the server does not offer {command}; refusing to continue in clear text",
            )

    def starttls_accepted(self, accepted: bool, command: str, reply: str) -> None:
        """A refused STARTTLS ends the session: nothing more goes out in clear text."""
        if not accepted:
            self.fail(
                errors.SecurityViolation,
                f"{command} refused ({reply}); refusing to continue in clear text",
            )

    async def finish_starttls(self, unread: bytes, command: str) -> TLSInfo:
        """Refuse octets received after the positive reply (injection), then handshake."""
        if unread:
            self.transcript.event(f"octets after the {command} reply: refusing TLS upgrade")
            self.fail(
                errors.SecurityViolation,
                f"response injection: {len(unread)} octets after the reply to {command}",
            )
        return await self.upgrade_tls()

    def admit_credentials(self, secrets: tuple[str, ...]) -> None:
        """Credentials go out only on a protected connection; they never reach transcripts."""
        if not self.credentials_may_be_sent:
            self.fail(
                errors.SecurityViolation,
                "refusing to send credentials over a clear-text connection",
            )
        for secret in secrets:
            self.add_secret(secret)

    @property
    def credentials_may_be_sent(self) -> bool:
        """Whether the connection is protected, or clear text was explicitly allowed."""
        if self.tls is not None:
            return True
        return self.url.security is Security.INSECURE and self.options.allow_plaintext_auth

    async def close(self) -> None:
        """Close the connection (no protocol goodbye; the subclass does that first)."""
        if self._stream is not None:
            self._last_tls = self._stream.tls
            await self._stream.close()
            self._stream = None
