"""Turning session facts into step results (plain data that expectations address)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from refclient.protocol.imap import FetchData
from refclient.session.base import Session


def connection_facts(
    session: Session, capabilities: Iterable[str], before_tls: Iterable[str] | None
) -> dict[str, Any]:
    """What ``*.connect`` steps return."""
    tls = session.tls
    return {
        "greeting": getattr(session, "greeting", ""),
        "capabilities": sorted(capabilities),
        "capabilities_before_tls": None if before_tls is None else sorted(before_tls),
        "auth_mechanisms": list(getattr(session, "auth_mechanisms", ())),
        "tls": None
        if tls is None
        else {
            "version": tls.version,
            "cipher": tls.cipher,
            "starttls": tls.starttls,
            "alpn": tls.alpn,
            "certificate": "verified" if session.options.verify else "unverified",
        },
    }


def fetch_facts(data: FetchData) -> dict[str, Any]:
    """One message of a FETCH result."""
    facts: dict[str, Any] = {"uid": data.uid, "number": data.number}
    if data.flags is not None:
        facts["flags"] = list(data.flags)
    if data.size is not None:
        facts["size"] = data.size
    if data.envelope is not None:
        facts["subject"] = data.envelope.subject
        facts["from"] = [a.email for a in data.envelope.from_]
        facts["to"] = [a.email for a in data.envelope.to]
        facts["message_id"] = data.envelope.message_id
    if data.bodystructure is not None:
        facts["mime_type"] = f"{data.bodystructure.type}/{data.bodystructure.subtype}"
        facts["parts"] = len(data.bodystructure.parts)
    for name, body in data.sections.items():
        facts[name.lower()] = body
    return facts
