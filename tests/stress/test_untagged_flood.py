"""A server flooding one command with untagged responses, against the default ClientLimits.

Every untagged response is kept until its command completes, so a flood is
bounded by what those responses hold (``ClientLimits.max_untagged_octets``,
each counted as its octets plus its Python objects) as well as by their
number (``max_untagged``). With the defaults a million ``* OK`` lines stop
with a clear error and a tracemalloc peak under 64 MiB (it was about 290 MB
with the count bound alone); the same shape, smaller (100,000 ``* OK`` lines, 30,000 FETCH
responses), is read.
"""

from __future__ import annotations

import asyncio

import pytest

from refclient import errors
from refclient.session.options import ClientLimits, ClientOptions
from tests.stress.test_hostile_servers import (
    PEAK,
    TIMEOUT,
    Play,
    _command,
    _finish,
    _imap_client,
)
from tests.stress.test_hostile_servers import _bounded as _bounded_with
from tests.stress.test_hostile_servers import _options as _hostile_options

pytestmark = pytest.mark.stress

DEFAULTS = ClientLimits()
#: A ``* OK`` flood line and a FETCH flood response, as Exchange-sized updates.
FLOOD_LINE = b"* OK still going\r\n"
FETCH_LINE = b"* 1 FETCH (UID 1 FLAGS (\\Seen \\Answered $Forwarded) MODSEQ (12345))\r\n"


def _options() -> ClientOptions:
    options = _hostile_options()
    return ClientOptions(
        read_timeout=options.read_timeout,
        connect_timeout=options.connect_timeout,
        allow_plaintext_auth=True,
        limits=DEFAULTS,
    )


def _flood(line: bytes, count: int, *, complete: bool) -> Play:
    async def play(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tag = await _command(reader, writer)
        chunk = line * 10_000
        for _ in range(count // 10_000):
            writer.write(chunk)
            await writer.drain()
        if complete:
            await _finish(writer, tag)
        else:
            await asyncio.sleep(TIMEOUT * 3)

    return play


@pytest.mark.parametrize("line", [FLOOD_LINE, FETCH_LINE], ids=["ok", "fetch"])
def test_a_million_untagged_responses_stop_on_the_octet_bound(
    monkeypatch: pytest.MonkeyPatch, line: bytes
) -> None:
    import tests.stress.test_hostile_servers as hostile  # noqa: PLC0415

    monkeypatch.setattr(hostile, "_options", lambda ca=None: _options())
    monkeypatch.setattr(hostile, "BOUND", 120.0)
    error, peak = _bounded_with(_imap_client, _flood(line, 1_000_000, complete=False))
    assert isinstance(error, errors.ProtocolViolation), f"{type(error).__name__}: {error}"
    assert "max_untagged_octets" in str(error)
    seen = "still going" if line == FLOOD_LINE else "FETCH (UID 1"
    assert any(seen in tail for tail in error.tail), error.tail
    assert peak < PEAK, f"tracemalloc peak {peak} octets"


@pytest.mark.parametrize("line", [FLOOD_LINE, FETCH_LINE], ids=["ok", "fetch"])
def test_fewer_untagged_responses_are_read(monkeypatch: pytest.MonkeyPatch, line: bytes) -> None:
    import tests.stress.test_hostile_servers as hostile  # noqa: PLC0415

    monkeypatch.setattr(hostile, "_options", lambda ca=None: _options())
    monkeypatch.setattr(hostile, "BOUND", 120.0)
    count = 100_000 if line == FLOOD_LINE else 30_000
    error, peak = _bounded_with(_imap_client, _flood(line, count, complete=True))
    assert error is None, str(error)
    assert peak < PEAK, f"tracemalloc peak {peak} octets"
