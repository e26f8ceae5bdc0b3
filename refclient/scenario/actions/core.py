"""Protocol-independent steps: ``set``, ``expect`` and ``message``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from refclient.scenario.context import StepContext, StepFailed
from refclient.scenario.matchers import MATCHERS
from refclient.scenario.steps import Action
from refclient.scenario.variables import lookup


async def set_variables(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    """Define variables."""
    context.variables.update(args)
    return dict(args)


async def expect(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    """Check variables: each key a variable path, each value a matcher mapping or a value."""
    for path, check in args.items():
        value = lookup(context.variables, path.removeprefix("$"))
        matchers = check if isinstance(check, dict) else {"equals": check}
        for name, operand in matchers.items():
            problem = MATCHERS[name](value, operand)
            if problem is not None:
                raise StepFailed(f"${path.removeprefix('$')} {problem}")
    return {}


async def message(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    """Build a message and keep its exact bytes in a variable."""
    first = context.target.accounts[0].address if context.target.accounts else "a@example.test"
    if args.get("raw") is not None:
        raw = str(args["raw"]).replace("\r\n", "\n").replace("\n", "\r\n")
        data = raw.encode("utf-8", "surrogateescape")
    else:
        built = EmailMessage(policy=policy.SMTP)
        built["From"] = args.get("sender") or first
        built["To"] = ", ".join(args.get("to") or [first])
        if args.get("cc"):
            built["Cc"] = ", ".join(args["cc"])
        built["Subject"] = args["subject"]
        built["Date"] = formatdate(localtime=True)
        built["Message-ID"] = make_msgid(domain="mailcompat.example.test")
        for name, value in (args.get("headers") or {}).items():
            built[name] = str(value)
        content: dict[str, Any] = {"charset": args.get("charset") or "utf-8"}
        if args.get("transfer_encoding"):
            content["cte"] = args["transfer_encoding"]
        built.set_content(args["body"], **content)
        for attachment in args.get("attachments") or []:
            payload = (
                str(attachment["text"]).encode()
                if "text" in attachment
                else bytes(range(256)) * (int(attachment.get("size", 1024)) // 256 + 1)
            )
            if "size" in attachment:
                payload = payload[: int(attachment["size"])]
            maintype, _, subtype = str(
                attachment.get("content_type", "application/octet-stream")
            ).partition("/")
            built.add_attachment(
                payload, maintype=maintype, subtype=subtype, filename=attachment.get("filename")
            )
        utf8 = any(not str(built.get(h, "")).isascii() for h in ("From", "To", "Cc"))
        data = built.as_bytes(policy=policy.SMTPUTF8 if utf8 else policy.SMTP)
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
    context.variables[str(args["name"])] = data
    found = re.search(rb"^Message-ID:\s*(<[^>\r\n]+>)", data, re.IGNORECASE | re.MULTILINE)
    message_id = found.group(1).decode("ascii", "replace") if found else None
    return {"bytes": data, "size": len(data), "message_id": message_id}


async def findings(context: StepContext, args: dict[str, Any]) -> Mapping[str, Any]:
    """What the servers did wrong so far, for ``expect: {ids: {not_contains: ...}}``."""
    found = [finding for session in context.opened for finding in session.findings]
    return {
        "ids": sorted({finding.id for finding in found}),
        "count": len(found),
        "errors": sum(finding.severity.value == "error" for finding in found),
    }


ACTIONS: Mapping[str, Action] = {
    "set": set_variables,
    "expect": expect,
    "message": message,
    "findings": findings,
}
