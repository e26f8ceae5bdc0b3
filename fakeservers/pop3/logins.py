"""When each user last logged in over POP3, for LOGIN-DELAY (RFC 2449 section 6.5).

A server announcing ``LOGIN-DELAY n`` refuses a login less than ``n``
seconds after the same user's previous one, with the ``[LOGIN-DELAY]``
response code (RFC 2449 section 8.1.1). The times hang off the
:class:`~fakeservers.store.MailStore`, so that both POP3 listeners over one
store (STLS and implicit TLS) share them. A monotonic clock is used: a
wall-clock change neither blocks nor frees a user.
"""

from __future__ import annotations

import threading
import time
import weakref

from fakeservers.store import MailStore


class LoginTimes:
    """The last successful login of each user of one store."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}

    def admit(self, user: str, delay: int) -> bool:
        """Record a login of ``user`` now, unless one happened less than ``delay`` s ago."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(user)
            if delay > 0 and last is not None and now - last < delay:
                return False
            self._last[user] = now
            return True


_TIMES: weakref.WeakKeyDictionary[MailStore, LoginTimes] = weakref.WeakKeyDictionary()
_TIMES_LOCK = threading.Lock()


def login_times(store: MailStore) -> LoginTimes:
    """The login times of ``store``'s users (created on first use)."""
    with _TIMES_LOCK:
        times = _TIMES.get(store)
        if times is None:
            times = _TIMES[store] = LoginTimes()
        return times
