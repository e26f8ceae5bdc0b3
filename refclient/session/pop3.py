"""The reference client's asyncio POP3 session, on the sans-IO engine.

``async with POP3Session(url, options=...) as pop`` reads the greeting, asks
CAPA, runs STLS when the URL requires it (then CAPA again, RFC 2595 section
4), and says QUIT on exit: deletions happen only then (RFC 1939 section 6).

The RFC 2449 capabilities are parsed and exposed: RESP-CODES (every -ERR's
``[CODE]`` is in :attr:`Status.code`, and AUTH-RESP-CODE's ``[AUTH]`` /
``[SYS/...]`` / ``[IN-USE]`` / ``[LOGIN-DELAY]`` name the kind of login
failure), LOGIN-DELAY and EXPIRE (:attr:`POP3Session.login_delay`,
:attr:`POP3Session.expire`), PIPELINING (:meth:`POP3Session.retr_many`
sends its RETRs at once). UTF8 (RFC 6856): :meth:`POP3Session.utf8`, and
UTF-8 user names and passwords, NFC-normalised, only where the server
lists ``UTF8 USER``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from refclient import errors
from refclient.credentials import Credentials
from refclient.findings import Finding, Severity
from refclient.protocol.pop3 import Challenge, NeedData, POP3Engine, Status
from refclient.sasl import ClientMechanism, SaslError, choose_mechanism
from refclient.session.base import Session
from refclient.session.options import ClientOptions
from refclient.urls import Security, ServerURL

_APOP_TIMESTAMP = re.compile(r"<[^<>@\s]+@[^<>\s]+>")

#: Commands whose positive reply carries a multi-line body (RFC 1939, RFC 2449).
_MULTILINE = frozenset({"CAPA", "LIST", "UIDL", "TOP", "RETR"})


@dataclass(frozen=True)
class Expire:
    """EXPIRE (RFC 2449 section 6.7): how long the server keeps retrieved messages."""

    #: Days, or None for ``NEVER``; 0 means retrieved messages are deleted at QUIT.
    days: int | None
    #: Whether the value depends on the user (the ``USER`` argument before login).
    per_user: bool = False


class POP3Session(Session):
    """A POP3 client session."""

    def __init__(self, url: ServerURL, *, options: ClientOptions | None = None) -> None:
        super().__init__(url, options=options)
        limits = self.options.limits
        self.engine = POP3Engine(max_line=limits.max_line, max_body=limits.max_literal)
        self.greeting = ""
        self.capabilities: dict[str, list[str]] = {}
        self.capabilities_before_tls: dict[str, list[str]] | None = None
        #: Whether the UTF8 command succeeded (RFC 6856 section 2).
        self.utf8_enabled = False

    @property
    def auth_mechanisms(self) -> tuple[str, ...]:
        """SASL mechanisms in CAPA (RFC 5034 section 3)."""
        return tuple(m.upper() for m in self.capabilities.get("SASL", []))

    @property
    def response_codes(self) -> bool:
        """RESP-CODES (RFC 2449 section 6.4): -ERR replies may carry ``[CODE]``."""
        return "RESP-CODES" in self.capabilities

    @property
    def pipelining(self) -> bool:
        """PIPELINING (RFC 2449 section 6.6): commands may be sent without waiting."""
        return "PIPELINING" in self.capabilities

    @property
    def login_delay(self) -> int | None:
        """LOGIN-DELAY (RFC 2449 section 6.5): seconds between logins, None if not listed."""
        arguments = self.capabilities.get("LOGIN-DELAY")
        if not arguments:
            return None
        if not arguments[0].isdigit():
            self._malformed("LOGIN-DELAY", arguments)
            return None
        return int(arguments[0])

    @property
    def expire(self) -> Expire | None:
        """EXPIRE (RFC 2449 section 6.7), None if not listed."""
        arguments = self.capabilities.get("EXPIRE")
        if not arguments:
            return None
        value, per_user = arguments[0].upper(), arguments[1:] == ["USER"]
        if value == "NEVER":
            return Expire(None, per_user)
        if not value.isdigit():
            self._malformed("EXPIRE", arguments)
            return None
        return Expire(int(value), per_user)

    @property
    def utf8_capable(self) -> bool:
        """UTF8 (RFC 6856 section 2) is listed."""
        return "UTF8" in self.capabilities

    @property
    def utf8_user(self) -> bool:
        """``UTF8 USER``: UTF-8 in USER and PASS is accepted (RFC 6856 section 2)."""
        return [a.upper() for a in self.capabilities.get("UTF8", [])] == ["USER"]

    def _malformed(self, name: str, arguments: list[str]) -> None:
        self.record(
            Finding(
                id="pop3.capa-malformed",
                severity=Severity.WARNING,
                reference="RFC 2449 section 6",
                message=f"{name} argument is not a number: {' '.join(arguments)[:60]}",
            )
        )

    # -- plumbing ------------------------------------------------------------------------

    async def _event(self) -> Status | Challenge:
        while True:
            event = self.engine.next_event()
            while self.engine.findings:
                self.record(self.engine.findings.pop(0))
            if not isinstance(event, NeedData):
                return event
            self.engine.receive_data(await self.read())

    async def _status(self) -> Status:
        event = await self._event()
        if isinstance(event, Challenge):
            self.fail(errors.ProtocolViolation, "unexpected continuation")
        return event

    async def _command(self, line: str, *, shown: str | None = None, check: bool = True) -> Status:
        verb = line.split(" ", 1)[0].upper()
        multiline = verb in _MULTILINE and not (verb in ("LIST", "UIDL") and " " in line)
        data = self.engine.send(line, multiline=multiline)
        self.stream.write(data, shown=None if shown is None else shown.encode() + b"\r\n")
        status = await self._status()
        if check and not status.ok:
            self.fail(errors.CommandFailed, f"{verb} failed: {status}")
        return status

    # -- connection ----------------------------------------------------------------------

    async def connect(self) -> None:
        """Greeting, CAPA, and STLS when the URL requires it."""
        await self.open()
        async with self.step("greeting"):
            greeting = await self._status()
            self.greeting = greeting.text
            if not greeting.ok:
                self.fail(errors.ConnectFailed, f"server refused the session: {greeting}")
        await self.capa()
        if self.url.security is Security.STARTTLS:
            await self.stls()

    async def capa(self) -> dict[str, list[str]]:
        """CAPA (RFC 2449 section 5); an empty dict where the server has no CAPA."""
        async with self.step("CAPA"):
            status = await self._command("CAPA", check=False)
        self.capabilities = {}
        if status.ok and status.body is not None:
            for line in status.body.decode("utf-8", "replace").splitlines():
                name, *arguments = line.split()
                self.capabilities[name.upper()] = arguments
        return self.capabilities

    async def stls(self) -> None:
        """STLS (RFC 2595 section 4), then CAPA again."""
        async with self.step("STLS"):
            self.capabilities_before_tls = dict(self.capabilities)
            self.starttls_offered("STLS" in self.capabilities, "STLS")
            status = await self._command("STLS", check=False)
            self.starttls_accepted(status.ok, "STLS", str(status))
            await self.finish_starttls(self.engine.take_unread(), "STLS")
            self.capabilities = {}
        await self.capa()

    # -- authentication ------------------------------------------------------------------

    async def login(self, credentials: Credentials, *, mechanism: str | None = None) -> None:
        """AUTH with a SASL mechanism, else APOP, else USER/PASS (``USER``/``APOP`` force them)."""
        async with self.step("login"):
            self.admit_credentials(credentials.secrets)
            forced = mechanism.upper() if mechanism else None
            if forced not in ("USER", "APOP") and self.auth_mechanisms:
                try:
                    chosen = choose_mechanism(
                        self.auth_mechanisms, credentials, forced=forced, tls=True
                    )
                except SaslError as exc:
                    if forced is not None or credentials.password is None:
                        self.fail(errors.AuthenticationFailed, str(exc))
                else:
                    await self._auth(chosen)
                    return
            if credentials.password is None:
                self.fail(errors.AuthenticationFailed, "no SASL mechanism for an OAuth2 token")
            timestamp = _APOP_TIMESTAMP.search(self.greeting)
            if forced == "APOP" or (
                forced is None and timestamp and "USER" not in self.capabilities
            ):
                await self._apop(credentials, timestamp.group(0) if timestamp else None)
            else:
                await self._user_pass(credentials)

    async def _auth(self, mechanism: ClientMechanism) -> None:
        """AUTH (RFC 5034), with the initial response on the command line."""
        initial = mechanism.initial_response()
        line = shown = f"AUTH {mechanism.name}"
        if initial is not None:
            line += " " + (base64.b64encode(initial).decode() or "=")
            shown += " <redacted>"
        self.stream.write(self.engine.send(line), shown=shown.encode() + b"\r\n")
        while True:
            event = await self._event()
            if isinstance(event, Challenge):
                try:
                    challenge = base64.b64decode(event.data, validate=True)
                    response = base64.b64encode(mechanism.respond(challenge))
                except (binascii.Error, SaslError) as exc:
                    self.transcript.event(f"SASL exchange aborted: {exc}")
                    response = b"*"
                self.stream.write(self.engine.send_auth_response(response), shown=b"<redacted>\r\n")
                continue
            if not event.ok:
                detail = f" ({mechanism.error_detail})" if mechanism.error_detail else ""
                self.fail(
                    errors.AuthenticationFailed, f"AUTH {mechanism.name} rejected: {event}{detail}"
                )
            try:
                mechanism.finish(None)
            except SaslError as exc:
                self.fail(errors.SecurityViolation, f"server not verified: {exc}")
            return

    async def utf8(self) -> None:
        """UTF8 (RFC 6856 section 2): before login, where the server lists UTF8."""
        async with self.step("UTF8"):
            if not self.utf8_capable:
                self.fail(errors.CommandFailed, "the server does not list UTF8 (RFC 6856)")
            await self._command("UTF8")
            self.utf8_enabled = True

    async def _user_pass(self, credentials: Credentials) -> None:
        assert credentials.password is not None
        user, password = credentials.user, credentials.password
        if not (user.isascii() and password.isascii()):
            # RFC 6856 section 2: only with "UTF8 USER", and in NFC.
            if not self.utf8_user:
                self.fail(
                    errors.AuthenticationFailed,
                    "a UTF-8 user name or password needs the server's UTF8 USER (RFC 6856)",
                )
            if not self.utf8_enabled:
                await self.utf8()
            user = unicodedata.normalize("NFC", user)
            password = unicodedata.normalize("NFC", password)
        await self._command(f"USER {user}", check=True)
        status = await self._command(f"PASS {password}", shown="PASS <redacted>", check=False)
        if not status.ok:
            self.fail(errors.AuthenticationFailed, f"PASS rejected: {status}")

    async def _apop(self, credentials: Credentials, timestamp: str | None) -> None:
        if timestamp is None:
            self.fail(errors.AuthenticationFailed, "APOP needs a timestamp in the greeting")
        assert credentials.password is not None
        digest = hashlib.md5((timestamp + credentials.password).encode()).hexdigest()
        status = await self._command(
            f"APOP {credentials.user} {digest}",
            shown=f"APOP {credentials.user} <redacted>",
            check=False,
        )
        if not status.ok:
            self.fail(errors.AuthenticationFailed, f"APOP rejected: {status}")

    # -- maildrop ------------------------------------------------------------------------

    async def stat(self) -> tuple[int, int]:
        """STAT: (message count, octets)."""
        async with self.step("STAT"):
            status = await self._command("STAT")
        try:
            count, size = status.text.split()[:2]
            return int(count), int(size)
        except ValueError:
            self.fail(errors.ProtocolViolation, f"malformed STAT reply: {status}")

    def _listing(self, status: Status) -> list[list[str]]:
        return [
            line.split() for line in (status.body or b"").decode("utf-8", "replace").splitlines()
        ]

    async def list(self) -> dict[int, int]:
        """LIST: message number -> size."""
        async with self.step("LIST"):
            status = await self._command("LIST")
            try:
                return {int(n): int(size) for n, size, *_ in self._listing(status)}
            except ValueError:
                self.fail(errors.ProtocolViolation, "malformed LIST listing")

    async def uidl(self) -> dict[int, str]:
        """UIDL (RFC 1939 section 7): message number -> unique id."""
        async with self.step("UIDL"):
            status = await self._command("UIDL")
            try:
                return {int(n): uid for n, uid, *_ in self._listing(status)}
            except ValueError:
                self.fail(errors.ProtocolViolation, "malformed UIDL listing")

    async def top(self, number: int, lines: int) -> bytes:
        """TOP (RFC 1939 section 7): the header and the first ``lines`` body lines."""
        async with self.step("TOP"):
            return (await self._command(f"TOP {number} {lines}")).body or b""

    async def retr(self, number: int) -> bytes:
        """RETR: the message's exact octets (dot-unstuffed, CRLF line ends)."""
        async with self.step("RETR"):
            return (await self._command(f"RETR {number}")).body or b""

    async def retr_many(self, numbers: Sequence[int]) -> tuple[bytes, ...]:
        """RETR each message; all at once with PIPELINING (RFC 2449 section 6.6)."""
        async with self.step("RETR"):
            if not self.pipelining:
                return tuple([(await self._command(f"RETR {n}")).body or b"" for n in numbers])
            self.stream.write(
                b"".join(self.engine.send(f"RETR {n}", multiline=True) for n in numbers)
            )
            found = [await self._status() for _ in numbers]
            for number, status in zip(numbers, found, strict=True):
                if not status.ok:
                    self.fail(errors.CommandFailed, f"RETR {number} failed: {status}")
            return tuple(status.body or b"" for status in found)

    async def dele(self, number: int) -> None:
        """DELE: marked now, deleted at QUIT (RFC 1939 section 6)."""
        async with self.step("DELE"):
            await self._command(f"DELE {number}")

    async def rset(self) -> None:
        """RSET: unmark every deletion."""
        async with self.step("RSET"):
            await self._command("RSET")

    async def noop(self) -> None:
        async with self.step("NOOP"):
            await self._command("NOOP")

    async def raw(self, line: str) -> Status:
        """One raw command line for conformance probing; never raises on -ERR."""
        async with self.step(f"raw {line.split(' ', 1)[0]}"):
            return await self._command(line, check=False)

    async def finish(self) -> None:
        """:meth:`quit`: the end of an ``async with`` block that did not fail."""
        await self.quit()

    async def quit(self) -> None:
        """QUIT: enter the UPDATE state (deletions happen) and close."""
        try:
            if self._stream is not None:
                async with self.step("QUIT"):
                    status = await self._command("QUIT", check=False)
                    if not status.ok:
                        self.fail(errors.CommandFailed, f"QUIT failed, deletions undone: {status}")
        finally:
            await self.close()
