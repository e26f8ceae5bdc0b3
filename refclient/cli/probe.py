"""``mailcompat probe URL...``: what a server shows before login.

Greeting, capabilities before and after TLS, TLS version and cipher, the
certificate and its verdict, the authentication mechanisms and the
findings; ``--json`` for machines. No credentials are needed or sent.
"""

from __future__ import annotations

import argparse
import json
import ssl
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from refclient import errors
from refclient.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    add_connection_options,
    client_options,
    parse_url,
    run_command,
)
from refclient.session.imap import IMAPSession
from refclient.session.options import ClientOptions
from refclient.session.pop3 import POP3Session
from refclient.session.smtp import SMTPSession
from refclient.transport.stream import TLSInfo
from refclient.urls import ServerURL

Session = IMAPSession | POP3Session | SMTPSession


def register(subparsers: Any) -> None:
    """Add ``probe`` to the command line."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "probe",
        help="inspect servers without logging in",
        description="Connect to each server URL and report greeting, capabilities before "
        "and after TLS, TLS facts, certificate verdict, auth mechanisms and findings.",
    )
    parser.add_argument("urls", nargs="+", metavar="URL")
    parser.add_argument("--json", action="store_true", help="print JSON")
    add_connection_options(parser)
    parser.set_defaults(handler=run)


def _names(value: Iterable[Any] | None) -> list[str] | None:
    return None if value is None else sorted(str(v) for v in value)


def _certificate(tls: TLSInfo | None, options: ClientOptions) -> dict[str, Any]:
    if tls is None:
        return {"verdict": "none (clear text)"}
    cert = tls.certificate
    subject = ", ".join("=".join(pair) for rdn in cert.get("subject", ()) for pair in rdn)
    issuer = ", ".join("=".join(pair) for rdn in cert.get("issuer", ()) for pair in rdn)
    not_after = cert.get("notAfter")
    days = None
    if not_after:
        expiry = datetime.fromtimestamp(ssl.cert_time_to_seconds(not_after), UTC)
        days = (expiry - datetime.now(UTC)).days
    return {
        "verdict": "verified" if options.verify else "unverified (verification off)",
        "subject": subject,
        "issuer": issuer,
        "not_after": not_after,
        "days_left": days,
        "names": [
            value for kind, value in cert.get("subjectAltName", ()) if kind in ("DNS", "IP Address")
        ],
    }


async def probe_one(url: ServerURL, options: ClientOptions) -> dict[str, Any]:
    """Everything observable before login, as a JSON-ready dict."""
    session: Session
    if url.protocol == "imap":
        session = IMAPSession(url, options=options)
    elif url.protocol == "pop3":
        session = POP3Session(url, options=options)
    else:
        session = SMTPSession(url, options=options)
    report: dict[str, Any] = {"url": url.label, "ok": False}
    try:
        await session.connect()
        report["ok"] = True
    except errors.ClientError as exc:
        report["error"] = {"kind": type(exc).__name__, "step": exc.step, "message": exc.message}
        if isinstance(exc, errors.TLSFailed):
            report["certificate"] = {"verdict": f"failed: {exc.message}"}
    tls = session.tls
    if report["ok"] or "certificate" not in report:
        report["certificate"] = _certificate(tls, options)
    await session.close()
    report["greeting"] = session.greeting
    if isinstance(session, SMTPSession):
        before, after = session.extensions_before_tls, session.extensions
        report["capabilities_before_tls"] = _names(before)
        report["capabilities"] = _names(after)
    else:
        report["capabilities_before_tls"] = _names(session.capabilities_before_tls)
        report["capabilities"] = _names(session.capabilities)
    report["auth_mechanisms"] = list(session.auth_mechanisms)
    report["tls"] = tls.to_dict() if tls else None
    report["findings"] = [finding.to_dict() for finding in session.findings]
    return report


def _render(report: dict[str, Any]) -> str:
    lines = [f"{report['url']}: {'ok' if report['ok'] else 'FAILED'}"]
    if "error" in report:
        error = report["error"]
        lines.append(f"  error: {error['kind']} at {error['step']}: {error['message']}")
    lines.append(f"  greeting: {report['greeting']}")
    if report["capabilities_before_tls"] is not None:
        lines.append(f"  before TLS: {' '.join(report['capabilities_before_tls'])}")
    lines.append(f"  capabilities: {' '.join(report['capabilities'] or [])}")
    tls = report["tls"]
    if tls:
        mode = "STARTTLS" if tls["starttls"] else "implicit TLS"
        lines.append(f"  TLS: {tls['version']} {tls['cipher']} ({mode})")
    certificate = report["certificate"]
    lines.append(f"  certificate: {certificate['verdict']}")
    if certificate.get("subject"):
        lines.append(f"    subject {certificate['subject']}; issuer {certificate['issuer']}")
        lines.append(f"    expires {certificate['not_after']} ({certificate['days_left']} days)")
    lines.append(f"  auth: {' '.join(report['auth_mechanisms']) or '(none offered)'}")
    for finding in report["findings"]:
        lines.append(f"  finding {finding['severity']}: {finding['id']}: {finding['message']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Probe every URL; 0 when every probe connected."""

    async def body(sink: Callable[[str], None] | None) -> int:
        urls = [parse_url(text) for text in args.urls]
        options = client_options(args, sink)
        reports = [await probe_one(url, options) for url in urls]
        if args.json:
            print(json.dumps({"probes": reports}, indent=2))
        else:
            print("\n".join(_render(report) for report in reports))
        return EXIT_OK if all(report["ok"] for report in reports) else EXIT_FAILED

    return run_command(args, body)
