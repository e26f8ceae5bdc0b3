"""``mailcompat fetch``: list messages and save them exactly as received (IMAP or POP3)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from refclient.cli.common import (
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
from refclient.credentials import Credentials
from refclient.session.imap import IMAPSession
from refclient.session.options import ClientOptions
from refclient.session.pop3 import POP3Session
from refclient.urls import ServerURL

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def register(subparsers: Any) -> None:
    """Add ``fetch`` to the command line."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "fetch",
        help="list messages over IMAP or POP3, and save them with --out",
        description="List the newest messages of a mailbox; with --out, save each exactly "
        "as received as a .eml file.",
    )
    parser.add_argument("--server", required=True, metavar="URL", help="e.g. imaps://host")
    parser.add_argument("--mailbox", default="INBOX", help="IMAP mailbox (default INBOX)")
    parser.add_argument("--limit", type=int, default=20, metavar="N", help="newest N (default 20)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="save each message here")
    add_login_options(parser)
    add_connection_options(parser)
    parser.set_defaults(handler=run)


def _subject(header: bytes) -> str:
    parsed = BytesHeaderParser(policy=default_policy).parsebytes(header)
    return str(parsed.get("Subject", ""))


def _target(directory: Path, name: str) -> Path:
    return directory / f"{_UNSAFE.sub('_', name)}.eml"


def _save(directory: Path, name: str, data: bytes) -> Path:
    target = _target(directory, name)
    target.write_bytes(data)  # exactly as received: binary, no newline translation
    return target


async def _fetch_imap(
    url: ServerURL, who: Credentials, options: ClientOptions, args: argparse.Namespace
) -> None:
    async with IMAPSession(url, options=options) as imap:
        await imap.login(who, mechanism=args.auth)
        state = await imap.select(args.mailbox, readonly=True)
        uids = (await imap.search("ALL"))[-args.limit :] if args.limit else []
        print(f"{args.mailbox}: {state.exists} messages, showing {len(uids)}")
        if not uids:
            return
        items = await imap.fetch(uids, ["RFC822.SIZE", "INTERNALDATE", "BODY.PEEK[HEADER]"])
        for uid in uids:
            data = items.get(uid)
            if data is None:
                continue
            subject = _subject(data.body("HEADER")) if data.sections else ""
            print(f"  {uid:>8}  {data.size or 0:>9}  {subject}")
            if args.out is not None:
                # Written from the buffer it was read into: a large message is held once.
                await imap.save_message(uid, _target(args.out, f"{state.uidvalidity}-{uid}"))


async def _fetch_pop3(
    url: ServerURL, who: Credentials, options: ClientOptions, args: argparse.Namespace
) -> None:
    async with POP3Session(url, options=options) as pop:
        await pop.login(who, mechanism=args.auth)
        sizes = await pop.list()
        ids = await pop.uidl() if "UIDL" in pop.capabilities else {}
        numbers = sorted(sizes)[-args.limit :] if args.limit else []
        print(f"maildrop: {len(sizes)} messages, showing {len(numbers)}")
        for number in numbers:
            subject = _subject(await pop.top(number, 0))
            print(f"  {number:>8}  {sizes[number]:>9}  {subject}")
            if args.out is not None:
                _save(args.out, ids.get(number, str(number)), await pop.retr(number))


def run(args: argparse.Namespace) -> int:
    """List (and save) messages; 0 on success."""

    async def body(sink: Callable[[str], None] | None) -> int:
        url = parse_url(args.server)
        if url.protocol not in ("imap", "pop3"):
            raise UsageError(f"fetch needs an IMAP or POP3 URL, not {url.scheme}://")
        if args.limit < 0:
            raise UsageError("--limit must not be negative")
        check_plaintext(args, url)
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
        who = credentials(args, url)
        options = client_options(args, sink)
        if url.protocol == "imap":
            await _fetch_imap(url, who, options, args)
        else:
            await _fetch_pop3(url, who, options, args)
        return EXIT_OK

    return run_command(args, body)
