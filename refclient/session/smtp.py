"""The reference client's asyncio SMTP submission session, on the sans-IO engine.

``async with SMTPSession(url, options=...) as smtp`` reads the greeting, says
EHLO, runs STARTTLS when the URL requires it (then EHLO again: RFC 3207
section 4.2 says everything learned before is void) and says QUIT on exit.

The session refuses what would silently damage a message: 8-bit data to a
server without 8BITMIME (RFC 6152), binary data (NUL, bare CR or LF) to a
server without BINARYMIME and CHUNKING (RFC 3030), UTF-8 addresses without
SMTPUTF8 (RFC 6531), a message larger than the server's SIZE (RFC 1870), a
line over 998 octets by DATA (RFC 5321 section 4.5.3.1.6). It
refuses what the user asked for and cannot have: DSN parameters without DSN
(RFC 3461 section 4), REQUIRETLS without TLS or without the server's
REQUIRETLS (RFC 8689 section 4.2.1: such a message must not be sent).

With PIPELINING (RFC 2920) MAIL, RCPT and DATA go out in one batch, and BDAT
chunks in another; never STARTTLS, EHLO or AUTH with anything after them
(RFC 2920 section 3.1, RFC 3207 section 4.2). Binary messages and messages
larger than :data:`LARGE_MESSAGE` go by BDAT (CHUNKING, RFC 3030) when the
server offers it; ``chunking=`` forces or forbids that.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import getaddresses

from refclient import errors
from refclient.credentials import Credentials
from refclient.message import as_bytes, needs_smtputf8
from refclient.protocol.smtp import (
    Answer,
    DeliveryStatusRequest,
    NeedData,
    Reply,
    SMTPEngine,
    body_type,
    parse_ehlo,
)
from refclient.protocol.smtp.data import MAX_LINE, lines_fit
from refclient.sasl import SaslError, choose_mechanism
from refclient.session.base import Session
from refclient.session.options import ClientOptions
from refclient.urls import Security, ServerURL

#: Messages larger than this go by BDAT when the server offers CHUNKING (RFC 3030).
LARGE_MESSAGE = 1024 * 1024
#: Octets per BDAT chunk.
CHUNK_SIZE = 1024 * 1024


@dataclass
class SendResult:
    """What happened to one message."""

    accepted: list[str] = field(default_factory=list)
    rejected: dict[str, Reply] = field(default_factory=dict)
    reply: Reply | None = None  # the final reply to the message data
    #: Whether the message went in BDAT chunks (RFC 3030) rather than DATA.
    chunked: bool = False
    #: The MAIL FROM parameters sent (``SIZE=...``, ``RET=HDRS``...).
    parameters: list[str] = field(default_factory=list)


class SMTPSession(Session):
    """An SMTP submission client session."""

    def __init__(
        self,
        url: ServerURL,
        *,
        options: ClientOptions | None = None,
        helo_name: str = "mailcompat.localhost",
    ) -> None:
        super().__init__(url, options=options)
        self.engine = SMTPEngine(max_line=self.options.limits.max_line)
        self.helo_name = helo_name
        self.greeting = ""
        self.extensions: dict[str, str] = {}
        self.extensions_before_tls: dict[str, str] | None = None

    @property
    def auth_mechanisms(self) -> tuple[str, ...]:
        """SASL mechanisms in the EHLO AUTH line."""
        return tuple(self.extensions.get("AUTH", "").upper().split())

    # -- plumbing ------------------------------------------------------------------------

    async def _answer(self) -> Answer:
        while True:
            event = self.engine.next_event()
            while self.engine.findings:
                self.record(self.engine.findings.pop(0))
            if not isinstance(event, NeedData):
                return event
            self.engine.receive_data(await self.read())

    async def _command(self, line: str, *, shown: str | None = None) -> Reply:
        data = self.engine.send(line)
        self.stream.write(data, shown=None if shown is None else shown.encode() + b"\r\n")
        return (await self._answer()).reply

    # -- connection ----------------------------------------------------------------------

    async def connect(self) -> None:
        """Greeting, EHLO, and STARTTLS when the URL requires it."""
        await self.open()
        async with self.step("greeting"):
            greeting = (await self._answer()).reply
            self.greeting = greeting.text
            if greeting.code != 220:
                self.fail(errors.ConnectFailed, f"server refused the session: {greeting}")
        await self.ehlo()
        if self.url.security is Security.STARTTLS:
            await self.starttls()

    async def ehlo(self) -> dict[str, str]:
        """EHLO (RFC 5321 section 4.1.1.1); HELO only on an explicitly insecure URL."""
        async with self.step("EHLO"):
            reply = await self._command(f"EHLO {self.helo_name}")
            if reply.code == 250:
                self.extensions = parse_ehlo(reply)
            elif self.url.security is Security.INSECURE:
                reply = await self._command(f"HELO {self.helo_name}")
                if reply.code != 250:
                    self.fail(errors.CommandFailed, f"HELO refused: {reply}")
                self.extensions = {}
            else:
                self.fail(errors.CommandFailed, f"EHLO refused: {reply}")
        return self.extensions

    async def starttls(self) -> None:
        """STARTTLS (RFC 3207), then EHLO again."""
        async with self.step("STARTTLS"):
            self.extensions_before_tls = dict(self.extensions)
            self.starttls_offered("STARTTLS" in self.extensions, "STARTTLS")
            reply = await self._command("STARTTLS")
            self.starttls_accepted(reply.code == 220, "STARTTLS", str(reply))
            await self.finish_starttls(self.engine.take_unread(), "STARTTLS")
            self.extensions = {}
        await self.ehlo()

    # -- authentication ------------------------------------------------------------------

    async def login(self, credentials: Credentials, *, mechanism: str | None = None) -> None:
        """AUTH (RFC 4954) with the strongest acceptable mechanism."""
        async with self.step("AUTH"):
            self.admit_credentials(credentials.secrets)
            if not self.auth_mechanisms:
                self.fail(errors.AuthenticationFailed, "the server offers no AUTH mechanism")
            try:
                chosen = choose_mechanism(
                    self.auth_mechanisms, credentials, forced=mechanism, tls=True
                )
            except SaslError as exc:
                self.fail(errors.AuthenticationFailed, str(exc))
            initial = chosen.initial_response()
            line = f"AUTH {chosen.name}"
            shown = line
            if initial is not None:
                line += " " + (base64.b64encode(initial).decode() or "=")
                shown += " <redacted>"
            reply = await self._command(line, shown=shown)
            while reply.code == 334:
                try:
                    challenge = base64.b64decode(reply.lines[0].strip(), validate=True)
                    response = base64.b64encode(chosen.respond(challenge))
                except (binascii.Error, SaslError) as exc:
                    self.transcript.event(f"SASL exchange aborted: {exc}")
                    response = b"*"
                self.stream.write(self.engine.send_auth_response(response), shown=b"<redacted>\r\n")
                reply = (await self._answer()).reply
            if reply.code != 235:
                detail = f" ({chosen.error_detail})" if chosen.error_detail else ""
                self.fail(
                    errors.AuthenticationFailed, f"AUTH {chosen.name} rejected: {reply}{detail}"
                )
            try:
                chosen.finish(None)
            except SaslError as exc:
                self.fail(errors.SecurityViolation, f"server not verified: {exc}")

    # -- sending -------------------------------------------------------------------------

    def _mail_parameters(
        self,
        data: bytes,
        addresses: Sequence[str],
        *,
        dsn: DeliveryStatusRequest | None,
        requiretls: bool,
        chunking: bool | None,
    ) -> tuple[list[str], bool]:
        """The MAIL FROM parameters, and whether to send by BDAT."""
        parameters = []
        offered = self.extensions
        if "SIZE" in offered:
            limit = offered["SIZE"].strip()
            if limit.isdigit() and int(limit) and len(data) > int(limit):
                self.fail(
                    errors.CommandFailed,
                    f"message of {len(data)} octets exceeds the server's SIZE {limit} (RFC 1870)",
                )
            parameters.append(f"SIZE={len(data)}")
        can_chunk = "CHUNKING" in offered
        if chunking and not can_chunk:
            self.fail(errors.CommandFailed, "BDAT asked for, but the server has no CHUNKING")
        kind = body_type(data)
        if kind == "BINARYMIME":
            if not (can_chunk and "BINARYMIME" in offered) or chunking is False:
                self.fail(
                    errors.CommandFailed,
                    "the message has binary data (NUL, bare CR or LF), which needs BINARYMIME "
                    "and BDAT (RFC 3030); refusing to send it damaged",
                )
            parameters.append("BODY=BINARYMIME")
            use_bdat = True
        else:
            use_bdat = can_chunk and (chunking or (chunking is None and len(data) > LARGE_MESSAGE))
            if kind == "8BITMIME":
                if "8BITMIME" not in offered:
                    self.fail(
                        errors.CommandFailed,
                        "the message has 8-bit data but the server does not offer 8BITMIME "
                        "(RFC 6152); refusing to send it damaged",
                    )
                parameters.append("BODY=8BITMIME")
            if not use_bdat and not lines_fit(data):
                self.fail(
                    errors.CommandFailed,
                    f"a line of the message is over {MAX_LINE - 2} octets, which DATA cannot "
                    "carry (RFC 5321 section 4.5.3.1.6); refusing to send it damaged",
                )
        blank = data.find(b"\r\n\r\n")
        header = data if blank < 0 else data[:blank]
        if needs_smtputf8(*addresses):
            if "SMTPUTF8" not in offered:
                self.fail(
                    errors.CommandFailed,
                    "a UTF-8 address needs SMTPUTF8, which the server does not offer (RFC 6531)",
                )
            parameters.append("SMTPUTF8")
        elif not header.isascii() and "SMTPUTF8" in offered:
            parameters.append("SMTPUTF8")  # RFC 6531 section 3.4: UTF-8 header fields
        if dsn is not None:
            if "DSN" not in offered:
                self.fail(
                    errors.CommandFailed, "DSN parameters asked for, but the server has no DSN"
                )
            parameters += dsn.mail_parameters()
        if requiretls:
            # RFC 8689 section 4.2.1: without TLS and REQUIRETLS, the message must not go.
            if self.tls is None or "REQUIRETLS" not in offered:
                self.fail(
                    errors.SecurityViolation,
                    "REQUIRETLS asked for, but the session is not under TLS or the server does "
                    "not offer REQUIRETLS (RFC 8689 section 4.2.1); not sending",
                )
            parameters.append("REQUIRETLS")
        return parameters, use_bdat

    async def send(
        self,
        data: bytes,
        *,
        sender: str,
        recipients: Sequence[str],
        dsn: DeliveryStatusRequest | None = None,
        requiretls: bool = False,
        chunking: bool | None = None,
    ) -> SendResult:
        """Submit ``data`` exactly as given (CRLF lines) to ``recipients``.

        ``dsn`` adds RFC 3461 parameters; ``requiretls`` the RFC 8689 one;
        ``chunking`` True sends by BDAT, False by DATA, None decides (see above).
        """
        if not recipients:
            raise ValueError("no recipients")
        async with self.step("MAIL"):
            parameters, use_bdat = self._mail_parameters(
                data,
                [sender, *recipients],
                dsn=dsn,
                requiretls=requiretls,
                chunking=chunking,
            )
            commands = [f"MAIL FROM:<{sender}>{''.join(f' {p}' for p in parameters)}"]
            for rcpt in recipients:
                extra = dsn.rcpt_parameters(rcpt) if dsn is not None else []
                commands.append(f"RCPT TO:<{rcpt}>{''.join(f' {p}' for p in extra)}")
            if not use_bdat:
                commands.append("DATA")
            if "PIPELINING" in self.extensions:
                self.stream.write(b"".join(self.engine.send(c) for c in commands))
                replies = [(await self._answer()).reply for _ in commands]
            else:
                replies = [await self._command(commands[0])]
                if replies[0].code == 250:
                    replies += [await self._command(c) for c in commands[1 : len(recipients) + 1]]
                    if not use_bdat and any(r.code in (250, 251) for r in replies[1:]):
                        replies.append(await self._command("DATA"))
            if use_bdat:
                result = await self._finish_chunked(data, recipients, replies)
            else:
                result = await self._finish_send(data, recipients, replies)
            result.parameters = parameters
            return result

    def _envelope_result(self, recipients: Sequence[str], replies: list[Reply]) -> SendResult:
        result = SendResult()
        for rcpt, reply in zip(recipients, replies[1:], strict=False):
            if reply.code in (250, 251):
                result.accepted.append(rcpt)
            else:
                result.rejected[rcpt] = reply
        return result

    async def _finish_chunked(
        self, data: bytes, recipients: Sequence[str], replies: list[Reply]
    ) -> SendResult:
        """BDAT chunks after MAIL and RCPT (RFC 3030 section 2); pipelined when offered."""
        if replies[0].code != 250:
            await self._command("RSET")
            self.fail(errors.CommandFailed, f"MAIL FROM refused: {replies[0]}")
        result = self._envelope_result(recipients, replies)
        result.chunked = True
        if not result.accepted:
            await self._command("RSET")
            reasons = "; ".join(f"{r}: {reply}" for r, reply in result.rejected.items())
            self.fail(errors.CommandFailed, f"every recipient was refused: {reasons}")
        async with self.step("BDAT"):
            # Each chunk is cut from the message as it goes, and the transport drains
            # between chunks, so that a large message is never held twice.
            starts = range(0, len(data), CHUNK_SIZE) or range(1)  # empty: one empty LAST
            last = len(starts) - 1
            if "PIPELINING" in self.extensions:
                for index, at in enumerate(starts):
                    chunk = data[at : at + CHUNK_SIZE]
                    self.stream.write(self.engine.send_bdat(chunk, last=index == last))
                    await self.stream.drain()
                chunk_replies = [(await self._answer()).reply for _ in starts]
            else:
                chunk_replies = []
                for index, at in enumerate(starts):
                    chunk = data[at : at + CHUNK_SIZE]
                    self.stream.write(self.engine.send_bdat(chunk, last=index == last))
                    chunk_replies.append((await self._answer()).reply)
                    if chunk_replies[-1].code != 250:
                        break
            result.reply = chunk_replies[-1]
            failed = next((reply for reply in chunk_replies if reply.code != 250), None)
            if failed is not None:
                if failed is not chunk_replies[-1] or len(chunk_replies) < len(starts):
                    await self._command("RSET")  # the transaction is still open
                self.fail(errors.CommandFailed, f"message refused: {failed}")
        return result

    async def _finish_send(
        self, data: bytes, recipients: Sequence[str], replies: list[Reply]
    ) -> SendResult:
        mail = replies[0]
        if mail.code != 250:
            await self._reset_if_needed(replies, len(recipients) + 2)
            self.fail(errors.CommandFailed, f"MAIL FROM refused: {mail}")
        result = self._envelope_result(recipients, replies)
        data_reply = replies[len(recipients) + 1] if len(replies) > len(recipients) + 1 else None
        if not result.accepted:
            await self._reset_if_needed(replies, len(recipients) + 2)
            reasons = "; ".join(f"{r}: {reply}" for r, reply in result.rejected.items())
            self.fail(errors.CommandFailed, f"every recipient was refused: {reasons}")
        if data_reply is None or data_reply.code != 354:
            self.fail(errors.CommandFailed, f"DATA refused: {data_reply}")
        async with self.step("DATA"):
            # Piece by piece, each encrypted and on its way while the next is prepared;
            # waiting for the transport to drain keeps at most a few pieces buffered.
            for piece in self.engine.send_data_pieces(data):
                self.stream.write(piece)
                await self.stream.drain()
            result.reply = (await self._answer()).reply
            if result.reply.code != 250:
                self.fail(errors.CommandFailed, f"message refused: {result.reply}")
        return result

    async def _reset_if_needed(self, replies: list[Reply], expected: int) -> None:
        """After a failed transaction, RSET so the session can go on (RFC 5321 4.1.1.5)."""
        if len(replies) == expected and replies[-1].code == 354:
            # A pipelined DATA was accepted although the transaction failed: end it empty.
            self.stream.write(self.engine.send_data(b""))
            await self._answer()
        await self._command("RSET")

    async def send_message(
        self,
        message: EmailMessage,
        *,
        sender: str | None = None,
        recipients: Sequence[str] | None = None,
        dsn: DeliveryStatusRequest | None = None,
        requiretls: bool = False,
        chunking: bool | None = None,
    ) -> SendResult:
        """Send an :class:`EmailMessage`; envelope from its headers unless given (Bcc removed)."""
        if sender is None:
            sender = getaddresses([str(message.get("From", ""))])[0][1]
        if recipients is None:
            fields = [str(v) for name in ("To", "Cc", "Bcc") for v in message.get_all(name, [])]
            recipients = [address for _name, address in getaddresses(fields) if address]
        del message["Bcc"]
        return await self.send(
            as_bytes(message),
            sender=sender,
            recipients=recipients,
            dsn=dsn,
            requiretls=requiretls,
            chunking=chunking,
        )

    async def raw(self, line: str) -> Reply:
        """Send one raw command line for conformance probing; never raises on 4xx/5xx."""
        async with self.step(f"raw {line.split(' ', 1)[0]}"):
            return await self._command(line)

    async def finish(self) -> None:
        """:meth:`quit`: the end of an ``async with`` block that did not fail."""
        await self.quit()

    async def quit(self) -> None:
        """QUIT (RFC 5321 section 4.1.1.10) and close."""
        try:
            if self._stream is not None:
                async with self.step("QUIT"):
                    await self._command("QUIT")
        finally:
            await self.close()
