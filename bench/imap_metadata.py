"""IMAP metadata fetch: FLAGS ENVELOPE BODYSTRUCTURE RFC822.SIZE of N messages, batches of 100.

The same messages as :mod:`bench.imap_fetch`, fetched by four clients from
our fake server and, where it is installed, from a private Dovecot:

* ``imaplib`` (the baseline): raw bytes, no parsing at all;
* ``refclient``: every item parsed into typed values (flags, ``Envelope``
  with ``Address`` tuples, ``BodyStructure``, an ``int`` size);
* ``imapclient``: every item parsed into Python values (the fair peer);
* ``aioimaplib``: raw lines (no parsing).

The issue's target: the reference client, parsing fully, at no more than a
quarter of imapclient's time against the same server.

Every server runs in its own process, the fake one included (see
:mod:`bench.imap_fetch`), so that no client shares an interpreter lock with
the server it measures against.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack

from bench.harness import Result, interleave
from bench.imap_clients import Fetcher, optional_clients, with_imaplib, with_refclient
from bench.imap_fetch import BATCH, Server, dovecot_server, fake_server, make_messages

ITEMS = ["FLAGS", "ENVELOPE", "BODYSTRUCTURE", "RFC822.SIZE"]
#: The issue's target: reference client's time at most this fraction of imapclient's.
TARGET_VS_IMAPCLIENT = 0.25


def run(*, count: int, rounds: int) -> list[Result]:
    """Every available client against every available server, interleaved."""
    messages = make_messages(count)
    optional, notes = optional_clients()
    clients: dict[str, Fetcher] = {"imaplib": with_imaplib, "refclient": with_refclient}
    clients.update(optional)
    with ExitStack() as stack:
        servers = [stack.enter_context(fake_server(messages))]
        dovecot = stack.enter_context(dovecot_server(messages))
        if dovecot is None:
            notes.append("Dovecot not installed: fake server only")
        else:
            servers.append(dovecot)
        peers: dict[str, Callable[[], object]] = {}
        for server in servers:
            for client, fetcher in clients.items():
                peers[f"{client} @ {server.name}"] = _checked(fetcher, server, count)
        result = interleave(
            f"IMAP metadata fetch of {count} messages ({' '.join(ITEMS)}, batches of {BATCH})",
            peers,
            baseline="imaplib @ fake",
            rounds=rounds,
        )
    result.notes.extend(notes)
    for server in servers:
        if f"imapclient @ {server.name}" in result.rounds:
            ratio = result.median(f"refclient @ {server.name}") / result.median(
                f"imapclient @ {server.name}"
            )
            result.target(
                f"refclient / imapclient @ {server.name} (metadata, typed)",
                ratio,
                TARGET_VS_IMAPCLIENT,
            )
    return [result]


def _checked(fetcher: Fetcher, server: Server, count: int) -> Callable[[], object]:
    """``fetcher`` over ``server``, failing loudly if it did not get every message."""

    def run() -> int:
        got = fetcher(server, count, ITEMS)
        if got < count:
            raise RuntimeError(f"{fetcher.__name__} got {got} of {count} FETCH responses")
        return got

    return run
