"""Reading a sans-IO engine to the end: what hostile-stream tests compare, whole and cut."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from refclient.protocol.errors import RemoteProtocolError


class Engine(Protocol):
    """What the IMAP, POP3 and SMTP engines share: octets in, events out."""

    def receive_data(self, data: bytes) -> None: ...

    def next_event(self) -> object: ...


def read_to_the_end(
    engine: Engine,
    chunks: Iterable[bytes],
    *,
    need_data: object,
    more: Callable[[object], Iterable[str]] = lambda event: (),
) -> tuple[list[str], str | None]:
    """Every event ``engine`` gives for ``chunks`` and then the close, and the error that ended it.

    Each event is kept as its ``repr``, followed by whatever ``more(event)``
    adds (the typed form of a FETCH, say); the error is the message of the
    :class:`RemoteProtocolError` that stopped the reading, or None.
    """
    seen: list[str] = []
    try:
        for chunk in [*chunks, b""]:
            engine.receive_data(chunk)
            while (event := engine.next_event()) is not need_data:
                seen.append(repr(event))
                seen.extend(more(event))
    except RemoteProtocolError as error:
        return seen, str(error)
    return seen, None
