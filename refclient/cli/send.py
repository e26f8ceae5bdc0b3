"""``mailcompat send``: compose and submit one message (DESIGN.md contract)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from refclient.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    add_connection_options,
    add_login_options,
    check_plaintext,
    client_options,
    credentials,
    parse_url,
    run_command,
)
from refclient.message import compose
from refclient.session.smtp import SMTPSession


def register(subparsers: Any) -> None:
    """Add ``send`` to the command line."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "send",
        help="send a message over SMTP submission",
        description="Compose a message and submit it (smtps:// or smtp:// with STARTTLS).",
    )
    parser.add_argument("--server", required=True, metavar="URL", help="e.g. smtp://host:587")
    parser.add_argument("--to", action="append", required=True, metavar="ADDR")
    parser.add_argument("--from", dest="sender", metavar="ADDR", help="default: the user")
    parser.add_argument("--subject", default="mailcompat test message")
    body = parser.add_mutually_exclusive_group()
    body.add_argument("--body", help="the text body")
    body.add_argument("--body-file", type=Path, metavar="F", help="read the text body from F")
    parser.add_argument("--attach", action="append", type=Path, default=[], metavar="F")
    add_login_options(parser)
    add_connection_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Send; 0 when every recipient was accepted."""

    async def body(sink: Callable[[str], None] | None) -> int:
        url = parse_url(args.server)
        if url.protocol != "smtp":
            raise UsageError(f"send needs an smtp:// or smtps:// URL, not {url.scheme}://")
        check_plaintext(args, url)
        for path in [args.body_file, *args.attach]:
            if path is not None and not path.is_file():
                raise UsageError(f"{path}: no such file")
        text = args.body if args.body is not None else "This is a mailcompat test message.\n"
        if args.body_file is not None:
            text = args.body_file.read_text(encoding="utf-8")
        who = credentials(args, url)
        message = compose(
            sender=args.sender or who.user,
            to=args.to,
            subject=args.subject,
            body=text,
            attachments=args.attach,
        )
        async with SMTPSession(url, options=client_options(args, sink)) as session:
            await session.login(who, mechanism=args.auth)
            result = await session.send_message(message)
        print(f"sent {message['Message-ID']} to {', '.join(result.accepted)}")
        for recipient, reply in result.rejected.items():
            print(f"refused {recipient}: {reply}")
        return EXIT_FAILED if result.rejected else EXIT_OK

    return run_command(args, body)
