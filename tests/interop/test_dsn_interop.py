"""Delivery status notifications from Postfix and from the fake server, side by side.

The same submission (RET=HDRS, an ENVID with xtext escapes, NOTIFY=SUCCESS
and ORCPT, through the reference client) goes to the interop environment's
Postfix and to a fake server; each report is read back over POP3 by the
reference client and parsed with the standard library's ``email`` package.
Both must be RFC 6522 ``multipart/report`` messages with the same RFC 3464
fields, from the null reverse-path. One difference is expected and kept:
Postfix hands the message to Dovecot by LMTP, which offers no DSN, so it
reports ``Action: relayed`` (RFC 3461 section 6.2.1.b); the fake server
delivers into the mailbox itself and reports ``delivered``.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import secrets
from email.message import Message
from pathlib import Path
from typing import Protocol

import pytest

from fakeservers.controller import AccountSpec, FakeMailServers
from refclient.credentials import Credentials
from refclient.protocol.smtp import DeliveryStatusRequest
from refclient.session.options import ClientOptions
from refclient.session.pop3 import POP3Session
from refclient.session.smtp import SMTPSession
from refclient.urls import ServerURL

from .environment import InteropServers

pytestmark = pytest.mark.interop

DELIVERY_TIMEOUT = 30.0


class Servers(Protocol):
    """What both the interop environment and the fake servers tell a client."""

    @property
    def ca_file(self) -> Path: ...

    @property
    def accounts(self) -> tuple[AccountSpec, ...]: ...

    def url(self, endpoint: str) -> str: ...


def _options(servers: Servers) -> ClientOptions:
    return ClientOptions(ca_file=servers.ca_file, read_timeout=20)


def _credentials(servers: Servers, index: int) -> Credentials:
    account = servers.accounts[index]
    return Credentials(user=account.user, password=account.password)


async def _submit(
    servers: Servers, token: str, request: DeliveryStatusRequest, *, sender: str | None = None
) -> None:
    alice, bob = _credentials(servers, 0), _credentials(servers, 1)
    message = (
        f"From: {alice.user}\r\nTo: {bob.user}\r\nSubject: dsn {token}\r\n"
        f"Message-ID: <{token}@interop.example.test>\r\n\r\nbody {token}\r\n"
    ).encode()
    url = ServerURL.parse(servers.url("submissions"))
    async with SMTPSession(url, options=_options(servers)) as smtp:
        await smtp.login(alice)
        result = await smtp.send(
            message,
            sender=alice.user if sender is None else sender,
            recipients=[bob.user],
            dsn=request,
        )
        assert result.reply is not None and result.reply.code == 250


async def _reports(servers: Servers, wanted: str) -> list[bytes]:
    """Alice's reports, once one carrying ``wanted`` is there (polled over POP3, bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DELIVERY_TIMEOUT
    url = ServerURL.parse(servers.url("pop3s"))
    while True:
        async with POP3Session(url, options=_options(servers)) as pop:
            await pop.login(_credentials(servers, 0))
            listing = await pop.list()
            found = await pop.retr_many(sorted(listing)) if listing else []
        reports = [data for data in found if b"multipart/report" in data]
        if any(wanted.encode() in data for data in reports):
            return reports
        if loop.time() > deadline:
            raise AssertionError(f"no report with {wanted} within {DELIVERY_TIMEOUT} s")
        await asyncio.sleep(0.2)


def _parts(message: Message) -> list[Message]:
    payload = message.get_payload()
    assert isinstance(payload, list)
    return [part for part in payload if isinstance(part, Message)]


def _facts(data: bytes) -> dict[str, object]:
    """What a report says, in a form both servers can be compared by."""
    report = email.message_from_bytes(data, policy=email.policy.compat32)
    parts = _parts(report)
    per_message, per_recipient = _parts(parts[1])

    def value(field: str) -> str:
        kind, _, address = str(per_recipient[field]).partition(";")
        return f"{kind.strip().lower()};{address.strip()}"

    return {
        "return_path": data.split(b"\r\n", 1)[0] if data.startswith(b"Return-Path") else b"",
        "type": report.get_content_type(),
        "report_type": report.get_param("report-type"),
        "parts": [part.get_content_type() for part in parts],
        "envid": per_message["Original-Envelope-Id"],
        "final": value("Final-Recipient"),
        "original": value("Original-Recipient"),
        "status": per_recipient["Status"],
        "action": per_recipient["Action"],
        "auto_submitted": report["Auto-Submitted"],
    }


def test_success_report_matches_postfix(interop_servers: InteropServers) -> None:
    token = secrets.token_hex(6)
    envid = f"env {token}+x"
    request = DeliveryStatusRequest(ret="HDRS", envid=envid, notify=("SUCCESS",), orcpt=True)

    async def collect(servers: Servers) -> dict[str, object]:
        await _submit(servers, token, request)
        (data,) = [d for d in await _reports(servers, envid) if envid.encode() in d]
        return _facts(data)

    postfix = asyncio.run(collect(interop_servers))
    with FakeMailServers() as fake:
        ours = asyncio.run(collect(fake))
    bob = interop_servers.accounts[1].user
    assert postfix["action"] == "relayed" and ours["action"] == "delivered"
    for facts in (postfix, ours):
        del facts["action"]
        assert facts["envid"] == envid  # the ENVID decoded from xtext (RFC 3464 2.2.1)
        assert facts["original"] == facts["final"] == f"rfc822;{bob}"
    assert postfix == ours


def test_no_report_for_never_or_the_null_path_on_either(interop_servers: InteropServers) -> None:
    token = secrets.token_hex(6)
    never, null, marker = f"never {token}", f"null {token}", f"marker {token}"

    async def collect(servers: Servers) -> list[bytes]:
        await _submit(servers, token, DeliveryStatusRequest(envid=never, notify=("NEVER",)))
        await _submit(
            servers, token, DeliveryStatusRequest(envid=null, notify=("SUCCESS",)), sender=""
        )
        # A report that is asked for, sent last: once it is there, the others would be too.
        await _submit(servers, token, DeliveryStatusRequest(envid=marker, notify=("SUCCESS",)))
        return await _reports(servers, marker)

    with FakeMailServers() as fake:
        ours = asyncio.run(collect(fake))
    for reports in (asyncio.run(collect(interop_servers)), ours):
        assert not any(never.encode() in r or null.encode() in r for r in reports)
        assert any(marker.encode() in r for r in reports)
