"""One fetch loop per IMAP client library, the same for every benchmark that compares them.

Each function logs in over implicit TLS, opens INBOX read-only, runs ``UID
FETCH`` over every batch of :data:`~bench.imap_fetch.BATCH` messages with the
given items, and returns how many FETCH responses it got, so that a
benchmark can check that every peer did the whole job.

* ``imaplib``: the standard library; responses stay raw bytes (no parsing);
* ``refclient``: the reference client; every item parsed into typed values
  (:class:`~refclient.protocol.imap.structures.FetchData`);
* ``imapclient``: parses every item into Python values (``Envelope``,
  ``BodyData``, ...) on top of imaplib;
* ``aioimaplib``: asyncio; responses stay raw lines (no parsing).

imapclient and aioimaplib come with the ``bench`` extra; where one is not
installed, :func:`optional_clients` leaves it out and says why.
"""

from __future__ import annotations

import asyncio
import imaplib
import importlib.util
from collections.abc import Callable

from bench.imap_fetch import PASSWORD, USER, Server, _batches
from refclient.credentials import Credentials
from refclient.session.imap import IMAPSession
from refclient.session.options import ClientOptions
from refclient.urls import ServerURL

#: (server, count, items) -> number of FETCH responses
Fetcher = Callable[[Server, int, list[str]], int]


def with_imaplib(server: Server, count: int, items: list[str]) -> int:
    """imaplib, no parsing beyond splitting literals out."""
    responses = 0
    with imaplib.IMAP4_SSL(server.host, server.port, ssl_context=server.context()) as imap:
        imap.login(USER, PASSWORD)
        imap.select("INBOX", readonly=True)
        for batch in _batches(count):
            _status, data = imap.uid("FETCH", batch, f"({' '.join(items)})")
            # A response with literals comes as (prefix, literal) tuples closed by b")".
            responses += sum(1 for item in data if isinstance(item, tuple) or item != b")")
    return responses


def with_refclient(server: Server, count: int, items: list[str]) -> int:
    """The reference client: every item parsed into typed values."""

    async def run() -> int:
        url = ServerURL.parse(f"imaps://{server.host}:{server.port}")
        responses = 0
        async with IMAPSession(url, options=ClientOptions(ca_file=server.ca_file)) as session:
            await session.login(Credentials(user=USER, password=PASSWORD))
            await session.select("INBOX", readonly=True)
            for batch in _batches(count):
                responses += len(await session.fetch(batch, items))
        return responses

    return asyncio.run(run())


def with_imapclient(server: Server, count: int, items: list[str]) -> int:
    """imapclient: every item parsed into Python values."""
    from imapclient import IMAPClient  # noqa: PLC0415  (optional: the bench extra)

    responses = 0
    with IMAPClient(server.host, port=server.port, ssl=True, ssl_context=server.context()) as imap:
        imap.login(USER, PASSWORD)
        imap.select_folder("INBOX", readonly=True)
        for batch in _batches(count):
            first, _, last = batch.partition(":")
            # imapclient takes a list of UIDs (it sends them comma-separated), not a range.
            responses += len(imap.fetch(list(range(int(first), int(last) + 1)), items))
    return responses


def with_aioimaplib(server: Server, count: int, items: list[str]) -> int:
    """aioimaplib: raw response lines, no parsing."""
    import aioimaplib  # noqa: PLC0415  (optional: the bench extra)

    async def run() -> int:
        imap = aioimaplib.IMAP4_SSL(
            host=server.host, port=server.port, ssl_context=server.context(), timeout=120
        )
        await imap.wait_hello_from_server()
        await imap.login(USER, PASSWORD)
        # aioimaplib 2 stays in AUTH state after EXAMINE; SELECT is harmless here (PEEK only).
        await imap.select("INBOX")
        responses = 0
        for batch in _batches(count):
            response = await imap.uid("fetch", batch, f"({' '.join(items)})")
            if response.result != "OK":
                raise RuntimeError(f"aioimaplib FETCH failed: {response.lines[-1]!r}")
            responses += sum(1 for line in response.lines if b" FETCH (" in bytes(line))
        await imap.logout()
        return responses

    return asyncio.run(run())


def optional_clients() -> tuple[dict[str, Fetcher], list[str]]:
    """The installed optional peers, and a note for each one that is missing."""
    clients: dict[str, Fetcher] = {}
    notes: list[str] = []
    for name, fetcher in (("imapclient", with_imapclient), ("aioimaplib", with_aioimaplib)):
        if importlib.util.find_spec(name) is None:
            notes.append(f"{name} not installed (pip install -e '.[bench]'): left out")
        else:
            clients[name] = fetcher
    return clients, notes
