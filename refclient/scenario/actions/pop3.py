"""POP3 steps, on :class:`refclient.session.pop3.POP3Session`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from refclient.scenario.actions.results import connection_facts
from refclient.scenario.context import StepContext
from refclient.scenario.steps import Action
from refclient.session.pop3 import POP3Session


def _pop3(context: StepContext, args: dict[str, Any]) -> POP3Session:
    return context.session(args["session"], POP3Session)


async def connect(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    session = context.open(
        args["session"], POP3Session(context.url(args["endpoint"]), options=context.options)
    )
    await session.connect()
    facts = connection_facts(session, session.capabilities, session.capabilities_before_tls)
    expire = session.expire
    facts.update(
        login_delay=session.login_delay,
        expire=None if expire is None else ("NEVER" if expire.days is None else expire.days),
        response_codes=session.response_codes,
        utf8_user=session.utf8_user,
    )
    return facts


async def login(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    await _pop3(context, args).login(context.credentials(args), mechanism=args.get("mechanism"))
    return {}


async def stat(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    count, size = await _pop3(context, args).stat()
    return {"count": count, "size": size}


async def listing(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    sizes = await _pop3(context, args).list()
    return {"sizes": sizes, "count": len(sizes), "numbers": sorted(sizes)}


async def uidl(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    uids = await _pop3(context, args).uidl()
    return {"uids": uids, "count": len(uids), "numbers": sorted(uids)}


async def top(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    data = await _pop3(context, args).top(int(args["number"]), int(args["lines"]))
    return {"bytes": data, "size": len(data)}


async def retr(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    data = await _pop3(context, args).retr(int(args["number"]))
    return {"bytes": data, "size": len(data)}


async def retr_many(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    found = await _pop3(context, args).retr_many([int(n) for n in args["numbers"]])
    return {"messages": list(found), "count": len(found)}


async def utf8(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    await _pop3(context, args).utf8()
    return {}


async def dele(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    await _pop3(context, args).dele(int(args["number"]))
    return {}


async def rset(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    await _pop3(context, args).rset()
    return {}


async def noop(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    await _pop3(context, args).noop()
    return {}


async def raw(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    status = await _pop3(context, args).raw(args["line"])
    return {"ok": status.ok, "code": status.code, "text": status.text}


async def quit_session(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    await _pop3(context, args).quit()
    del context.sessions[args["session"]]
    return {}


ACTIONS: Mapping[str, Action] = {
    "pop3.connect": connect,
    "pop3.login": login,
    "pop3.stat": stat,
    "pop3.list": listing,
    "pop3.uidl": uidl,
    "pop3.top": top,
    "pop3.retr": retr,
    "pop3.dele": dele,
    "pop3.rset": rset,
    "pop3.noop": noop,
    "pop3.raw": raw,
    "pop3.retr_many": retr_many,
    "pop3.utf8": utf8,
    "pop3.quit": quit_session,
}
