"""IMAP steps, on :class:`refclient.session.imap.IMAPSession`."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from refclient.scenario.actions.results import connection_facts, fetch_facts
from refclient.scenario.context import StepContext, StepFailed
from refclient.scenario.steps import Action
from refclient.session.imap import IMAPSession


def _imap(context: StepContext, args: dict[str, Any]) -> IMAPSession:
    return context.session(args["session"], IMAPSession)


async def connect(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    session = context.open(
        args["session"], IMAPSession(context.url(args["endpoint"]), options=context.options)
    )
    await session.connect()
    return connection_facts(session, session.capabilities, session.capabilities_before_tls)


async def login(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    session = _imap(context, args)
    await session.login(context.credentials(args), mechanism=args.get("mechanism"))
    return {"capabilities": sorted(session.capabilities)}


async def list_mailboxes(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    boxes = await _imap(context, args).list_mailboxes()
    return {
        "names": [box.name for box in boxes],
        "special_use": {box.special_use: box.name for box in boxes if box.special_use},
        "count": len(boxes),
    }


async def select(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    state = await _imap(context, args).select(args["mailbox"], readonly=args["readonly"])
    return {
        "exists": state.exists,
        "recent": state.recent,
        "uidvalidity": state.uidvalidity,
        "uidnext": state.uidnext,
        "flags": list(state.flags),
        "permanent_flags": list(state.permanent_flags),
        "read_only": state.read_only,
    }


async def status(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    items = ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN"]
    found = await _imap(context, args).status(args["mailbox"], items)
    return {key.lower(): value for key, value in found.items()}


async def mailbox_command(context: StepContext, args: dict[str, Any], verb: str) -> dict[str, Any]:
    session = _imap(context, args)
    await getattr(session, verb)(args["mailbox"])
    return {}


async def rename(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    await _imap(context, args).rename(args["mailbox"], args["to"])
    return {}


async def append(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    data = args["message"]
    if isinstance(data, str):
        data = data.encode("utf-8")
    uid = await _imap(context, args).append(args["mailbox"], data, flags=args.get("flags") or ())
    return {"uid": uid}


async def search(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    uids = await _imap(context, args).search(*[str(c) for c in args["criteria"]])
    return {"uids": uids, "count": len(uids), "last": uids[-1] if uids else None}


def _uids(value: Any) -> list[int] | str:
    if isinstance(value, int):
        return [value]
    if isinstance(value, str):
        return value
    return [int(v) for v in value]


async def fetch(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    fetched = await _imap(context, args).fetch(_uids(args["uids"]), args["items"])
    messages = {uid: fetch_facts(data) for uid, data in fetched.items()}
    first = messages[min(messages)] if messages else None
    return {"messages": messages, "count": len(messages), "uids": sorted(messages), "first": first}


async def fetch_message(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    data = await _imap(context, args).fetch_message(int(args["uid"]))
    return {"bytes": data, "size": len(data)}


_MODES = {"add": "+", "remove": "-", "replace": ""}


async def store(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    await _imap(context, args).store(_uids(args["uids"]), args["flags"], mode=_MODES[args["mode"]])
    return {}


async def copy(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    await _imap(context, args).copy(_uids(args["uids"]), args["mailbox"])
    return {}


async def expunge(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    numbers = await _imap(context, args).expunge()
    return {"expunged": numbers, "count": len(numbers)}


async def noop(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    updates = await _imap(context, args).noop()
    return {"updates": [f"{u.number or ''} {u.name}".strip() for u in updates]}


async def raw(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    result = await _imap(context, args).raw(args["command"])
    return {
        "status": result.status,
        "code": result.code,
        "text": result.text,
        "untagged": [u.name for u in result.untagged],
    }


async def wait_for(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    session = _imap(context, args)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + float(args["timeout"])
    while True:
        await session.select(args["mailbox"], readonly=True)
        uids = await session.search(*[str(c) for c in args["criteria"]])
        if uids:
            return {"uids": uids, "count": len(uids), "last": uids[-1]}
        if loop.time() > deadline:
            raise StepFailed(f"no message matching {args['criteria']} within {args['timeout']} s")
        await asyncio.sleep(0.2)


async def idle(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    updates = await _imap(context, args).idle(float(args["seconds"]))
    return {"updates": [f"{u.number or ''} {u.name}".strip() for u in updates]}


async def logout(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    session = _imap(context, args)
    await session.logout()
    del context.sessions[args["session"]]
    return {"findings": [f.id for f in session.findings]}


def _mailbox_verb(verb: str) -> Action:
    async def action(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
        return await mailbox_command(context, args, verb)

    return action


ACTIONS: Mapping[str, Action] = {
    "imap.connect": connect,
    "imap.login": login,
    "imap.list": list_mailboxes,
    "imap.select": select,
    "imap.status": status,
    "imap.create": _mailbox_verb("create"),
    "imap.delete": _mailbox_verb("delete"),
    "imap.subscribe": _mailbox_verb("subscribe"),
    "imap.rename": rename,
    "imap.append": append,
    "imap.search": search,
    "imap.fetch": fetch,
    "imap.fetch_message": fetch_message,
    "imap.store": store,
    "imap.copy": copy,
    "imap.expunge": expunge,
    "imap.noop": noop,
    "imap.raw": raw,
    "imap.wait_for": wait_for,
    "imap.idle": idle,
    "imap.logout": logout,
}
