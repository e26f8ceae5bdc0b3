"""IMAP steps, on :class:`refclient.session.imap.IMAPSession`."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from refclient.protocol.imap.extensions import QuotaResource, parse_uid_set
from refclient.protocol.imap.parser import Untagged
from refclient.protocol.imap.structures import FetchData
from refclient.scenario.actions.results import connection_facts, fetch_facts
from refclient.scenario.context import StepContext, StepFailed
from refclient.scenario.steps import Action
from refclient.session.imap import IMAPSession, MailboxInfo, Namespace, QResync


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


def _qresync(value: Any) -> QResync | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not {"uidvalidity", "modseq"} <= set(value):
        raise StepFailed("qresync needs uidvalidity and modseq")
    uids = _uids(value.get("uids") or [])
    known = tuple(parse_uid_set(uids)) if isinstance(uids, str) else tuple(uids)
    match = value.get("match") or {}
    numbers = tuple(int(n) for n in match.get("numbers", ()))
    match_uids = tuple(int(u) for u in match.get("uids", ()))
    if len(numbers) != len(match_uids):
        raise StepFailed("qresync match needs as many numbers as uids (RFC 7162 3.2.5.2)")
    return QResync(int(value["uidvalidity"]), int(value["modseq"]), known, numbers, match_uids)


async def select(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    state = await _imap(context, args).select(
        args["mailbox"],
        readonly=args["readonly"],
        condstore=args["condstore"],
        qresync=_qresync(args.get("qresync")),
    )
    return {
        "highest_modseq": state.highest_modseq,
        "mailbox_id": state.mailbox_id,
        "vanished_earlier": list(state.vanished_earlier),
        "changed": sorted(state.changed),
        "exists": state.exists,
        "recent": state.recent,
        "uidvalidity": state.uidvalidity,
        "uidnext": state.uidnext,
        "flags": list(state.flags),
        "permanent_flags": list(state.permanent_flags),
        "read_only": state.read_only,
    }


async def status(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    session = _imap(context, args)
    items = [str(item).upper() for item in args["items"]]
    found: dict[str, Any] = dict(await session.status(args["mailbox"], items))
    if "MAILBOXID" in items:
        found["MAILBOXID"] = await session.mailbox_id(args["mailbox"])
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
    uid = await _imap(context, args).append(
        args["mailbox"],
        data,
        flags=args.get("flags") or (),
        utf8=args["utf8"],
        binary=args["binary"],
    )
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


def _extension_facts(data: FetchData) -> dict[str, Any]:
    """The extensions' FETCH items: ``modseq``, ``email_id``, ``thread_id``, ``gm_msgid``,
    ``gm_thrid``, ``gm_labels`` and ``binary_sizes`` (part -> size), when fetched."""
    facts = fetch_facts(data)
    named = {
        "modseq": data.modseq,
        "email_id": data.email_id,
        "thread_id": data.thread_id,
        "gm_msgid": data.gm_msgid,
        "gm_thrid": data.gm_thrid,
        "gm_labels": None if data.gm_labels is None else list(data.gm_labels),
        "binary_sizes": data.binary_sizes or None,
    }
    facts.update({name: value for name, value in named.items() if value is not None})
    return facts


async def fetch(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    session = _imap(context, args)
    box = session.mailbox
    already = len(box.vanished_earlier) if box is not None else 0
    fetched = await session.fetch(
        _uids(args["uids"]),
        args["items"],
        changedsince=args.get("changedsince"),
        vanished=args["vanished"],
    )
    messages = {uid: _extension_facts(data) for uid, data in fetched.items()}
    first = messages[min(messages)] if messages else None
    vanished = list(box.vanished_earlier[already:]) if box is not None else []
    return {
        "messages": messages,
        "count": len(messages),
        "uids": sorted(messages),
        "first": first,
        "vanished": vanished,
    }


async def fetch_message(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    data = await _imap(context, args).fetch_message(int(args["uid"]))
    return {"bytes": data, "size": len(data)}


_MODES = {"add": "+", "remove": "-", "replace": ""}


async def store(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    modified = await _imap(context, args).store(
        _uids(args["uids"]),
        args["flags"],
        mode=_MODES[args["mode"]],
        unchangedsince=args.get("unchangedsince"),
    )
    return {"modified": modified}


async def copy(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    await _imap(context, args).copy(_uids(args["uids"]), args["mailbox"])
    return {}


async def expunge(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    numbers = await _imap(context, args).expunge()
    return {"expunged": numbers, "count": len(numbers)}


def _updates(session: IMAPSession, updates: list[Untagged], vanished_before: int) -> dict[str, Any]:
    """``updates`` as ``"3 EXISTS"``, ``"VANISHED"``; ``vanished``: the UIDs of VANISHED."""
    box = session.mailbox
    return {
        "updates": [f"{u.number or ''} {u.name}".strip() for u in updates],
        "vanished": list(box.vanished[vanished_before:]) if box is not None else [],
    }


def _vanished_count(session: IMAPSession) -> int:
    return len(session.mailbox.vanished) if session.mailbox is not None else 0


async def noop(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    session = _imap(context, args)
    before = _vanished_count(session)
    return _updates(session, await session.noop(), before)


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
    session = _imap(context, args)
    before = _vanished_count(session)
    interval = session.reidle_after
    if args.get("reidle") is not None:
        if float(args["reidle"]) <= 0:
            raise StepFailed("reidle must be positive")
        session.reidle_after = float(args["reidle"])
    try:
        updates = await session.idle(float(args["seconds"]))
    finally:
        session.reidle_after = interval
    return {**_updates(session, updates, before), "rounds": session.idle_rounds}


async def enable(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    session = _imap(context, args)
    enabled = await session.enable(*[str(name) for name in args["extensions"]])
    return {"enabled": sorted(enabled), "all": sorted(session.enabled)}


async def move(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    copied = await _imap(context, args).move(_uids(args["uids"]), args["mailbox"])
    if copied is None:
        return {"uidvalidity": None, "source": [], "destination": []}
    return {
        "uidvalidity": copied.uidvalidity,
        "source": list(copied.source),
        "destination": list(copied.destination),
    }


async def uid_expunge(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    await _imap(context, args).uid_expunge(_uids(args["uids"]))
    return {}


async def esearch(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    found = await _imap(context, args).esearch(
        *[str(c) for c in args["criteria"]], returns=[str(r) for r in args["returns"]]
    )
    return {
        "min": found.min,
        "max": found.max,
        "count": found.count,
        "all": None if found.all is None else list(found.all),
    }


async def list_extended(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    boxes = await _imap(context, args).list_extended(
        [str(p) for p in args["patterns"]],
        selection=[str(s) for s in args.get("selection") or ()],
        returns=[str(r) for r in args.get("returns") or ()],
        status=[str(s) for s in args.get("status") or ()],
    )
    return {
        "names": [box.name for box in boxes],
        "count": len(boxes),
        "special_use": {box.special_use: box.name for box in boxes if box.special_use},
        "subscribed": [box.name for box in boxes if box.subscribed],
        "status": {box.name: {k.lower(): v for k, v in box.status.items()} for box in boxes},
        "childinfo": {box.name: list(box.childinfo) for box in boxes if box.childinfo},
        "first": _box_facts(boxes[0]) if boxes else None,
    }


def _box_facts(box: MailboxInfo) -> dict[str, Any]:
    return {
        "name": box.name,
        "attributes": sorted(box.attributes),
        "special_use": box.special_use,
        "subscribed": box.subscribed,
        "status": {k.lower(): v for k, v in box.status.items()},
        "childinfo": list(box.childinfo),
    }


async def create(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    mailbox_id = await _imap(context, args).create(
        args["mailbox"], special_use=args.get("special_use")
    )
    return {"mailbox_id": mailbox_id}


async def fetch_binary(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    data = await _imap(context, args).fetch_binary(int(args["uid"]), str(args["part"]))
    return {"bytes": data, "size": len(data)}


async def compress(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    session = _imap(context, args)
    await session.compress()
    return {"compressed": session.compressed}


def _resources(resources: Mapping[str, QuotaResource]) -> dict[str, dict[str, int]]:
    return {
        name.lower(): {"usage": value.usage, "limit": value.limit}
        for name, value in resources.items()
    }


async def quota(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    roots = await _imap(context, args).quota_root(args["mailbox"])
    return {"roots": sorted(roots), "quota": {root: _resources(r) for root, r in roots.items()}}


async def setquota(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    limits = {str(name): int(value) for name, value in dict(args["limits"]).items()}
    resources = await _imap(context, args).set_quota(str(args["root"]), limits)
    return {"quota": _resources(resources)}


async def logout(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    session = _imap(context, args)
    await session.logout()
    del context.sessions[args["session"]]
    return {"findings": [f.id for f in session.findings]}


async def namespace(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    found = await _imap(context, args).namespace()

    def group(entries: tuple[Namespace, ...]) -> list[dict[str, Any]]:
        return [{"prefix": each.prefix, "delimiter": each.delimiter} for each in entries]

    return {
        "personal": group(found.personal),
        "other": group(found.other),
        "shared": group(found.shared),
    }


async def identify(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    fields = args.get("fields")
    sent = (
        None
        if fields is None
        else {str(k): None if v is None else str(v) for k, v in fields.items()}
    )
    answered = await _imap(context, args).identify(sent)
    return {"server": answered, "nil": answered is None}


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
    "imap.create": create,
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
    "imap.enable": enable,
    "imap.move": move,
    "imap.uid_expunge": uid_expunge,
    "imap.esearch": esearch,
    "imap.list_extended": list_extended,
    "imap.fetch_binary": fetch_binary,
    "imap.compress": compress,
    "imap.quota": quota,
    "imap.setquota": setquota,
    "imap.namespace": namespace,
    "imap.id": identify,
}
