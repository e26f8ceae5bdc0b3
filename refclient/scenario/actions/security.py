"""Security steps: the reference client faces a malicious server, and the server judges it.

``security.attempt`` does what a mail client does with an endpoint: connect
(implicit TLS or STARTTLS, as the endpoint says), log in, touch the mailbox
(IMAP SELECT, POP3 STAT, SMTP a small message) and log out, stopping at the
first error as a careful client must. ``security.verdict`` asks the fake
servers of the scenario's ``server.attack`` case what they saw: the same
judge ``mailcompat audit-client`` applies to any external client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from refclient import errors
from refclient.scenario.context import StepContext, StepFailed, error_kind
from refclient.scenario.steps import Action
from refclient.session.base import Session
from refclient.session.imap import IMAPSession
from refclient.session.pop3 import POP3Session
from refclient.session.smtp import SMTPSession

_NOTE = b"From: {a}\r\nTo: {a}\r\nSubject: mailcompat security check\r\n\r\nhello\r\n"


async def attempt(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    """Connect, log in, use and leave one endpoint; the result says how it ended."""
    endpoint = args["endpoint"]
    url = context.url(endpoint)
    credentials = context.credentials(args)
    name = f"security-{len(context.opened)}"
    session: Session
    try:
        if endpoint.startswith("imap"):
            imap = context.open(name, IMAPSession(url, options=context.options))
            session = imap
            await imap.connect()
            await imap.login(credentials)
            await imap.select("INBOX")
            await imap.logout()
        elif endpoint.startswith("pop3"):
            pop3 = context.open(name, POP3Session(url, options=context.options))
            session = pop3
            await pop3.connect()
            await pop3.login(credentials)
            await pop3.stat()
            await pop3.quit()
        else:
            smtp = context.open(name, SMTPSession(url, options=context.options))
            session = smtp
            await smtp.connect()
            await smtp.login(credentials)
            address = context.target.accounts[0].address
            await smtp.send(
                _NOTE.replace(b"{a}", address.encode()), sender=address, recipients=[address]
            )
            await smtp.quit()
    except errors.ClientError as exc:
        return {"error": error_kind(exc), "message": exc.message, "completed": False}
    del session
    return {"error": None, "message": "", "completed": True}


async def verdict(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    """The fake servers' verdict on what the client did: ``verdict``, ``reason``, ``evidence``."""
    audit = context.target.audit
    if audit is None:
        raise StepFailed("security.verdict needs a scenario with server: {attack: CASE}")
    return audit()


ACTIONS: Mapping[str, Action] = {
    "security.attempt": attempt,
    "security.verdict": verdict,
}
