"""SMTP steps, on :class:`refclient.session.smtp.SMTPSession`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from refclient.protocol.smtp import DeliveryStatusRequest
from refclient.scenario.actions.results import connection_facts
from refclient.scenario.context import StepContext
from refclient.scenario.steps import Action
from refclient.session.smtp import SMTPSession


def _smtp(context: StepContext, args: dict[str, Any]) -> SMTPSession:
    return context.session(args["session"], SMTPSession)


async def connect(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    session = context.open(
        args["session"], SMTPSession(context.url(args["endpoint"]), options=context.options)
    )
    await session.connect()
    return connection_facts(session, session.extensions, session.extensions_before_tls)


async def login(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    await _smtp(context, args).login(context.credentials(args), mechanism=args.get("mechanism"))
    return {}


async def send(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    first = context.target.accounts[0].address if context.target.accounts else ""
    data = args["message"]
    if isinstance(data, str):
        data = data.encode("utf-8")
    dsn = args.get("dsn")
    result = await _smtp(context, args).send(
        data,
        sender=args.get("sender") or first,
        recipients=args.get("recipients") or [first],
        dsn=None
        if dsn is None
        else DeliveryStatusRequest(
            ret=dsn.get("ret"),
            envid=dsn.get("envid"),
            notify=None if dsn.get("notify") is None else tuple(dsn["notify"]),
            orcpt=bool(dsn.get("orcpt")),
        ),
        requiretls=bool(args.get("requiretls")),
        chunking=args.get("chunking"),
    )
    return {
        "chunked": result.chunked,
        "parameters": result.parameters,
        "accepted": result.accepted,
        "rejected": {rcpt: reply.code for rcpt, reply in result.rejected.items()},
        "code": result.reply.code if result.reply else None,
        "enhanced": result.reply.enhanced if result.reply else None,
    }


async def raw(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    reply = await _smtp(context, args).raw(args["line"])
    return {"code": reply.code, "enhanced": reply.enhanced, "text": reply.text}


async def quit_session(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    await _smtp(context, args).quit()
    del context.sessions[args["session"]]
    return {}


ACTIONS: Mapping[str, Action] = {
    "smtp.connect": connect,
    "smtp.login": login,
    "smtp.send": send,
    "smtp.raw": raw,
    "smtp.quit": quit_session,
}
