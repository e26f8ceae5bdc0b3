"""A small blocking facade over the asyncio sessions, for simple scripts.

Each client owns an :class:`asyncio.Runner` (one event loop for its whole
life) and runs every call to completion on it::

    from refclient.blocking import IMAPClient

    with IMAPClient("imaps://mail.example.test", Credentials(user=..., password=...)) as imap:
        imap.select("INBOX")
        for uid in imap.search("UNSEEN"):
            data = imap.fetch_message(uid)

Errors are the same :class:`~refclient.errors.ClientError` subclasses the
asyncio API raises. The facade adds no behaviour: every method forwards to
the session method of the same name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Generic, TypeVar

from refclient.credentials import Credentials
from refclient.session.imap import IMAPSession
from refclient.session.options import ClientOptions
from refclient.session.pop3 import POP3Session
from refclient.session.smtp import SMTPSession
from refclient.urls import ServerURL

S = TypeVar("S", IMAPSession, POP3Session, SMTPSession)
T = TypeVar("T")


class _Client(Generic[S]):
    """Connect (and log in, when credentials are given) on enter; close on exit."""

    _session_type: Callable[..., S]

    def __init__(
        self,
        url: str | ServerURL,
        credentials: Credentials | None = None,
        *,
        options: ClientOptions | None = None,
        mechanism: str | None = None,
    ) -> None:
        parsed = url if isinstance(url, ServerURL) else ServerURL.parse(url)
        self.session: S = self._session_type(parsed, options=options)
        self._credentials = credentials
        self._mechanism = mechanism
        self._runner = asyncio.Runner()

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run one of the session's coroutines to completion."""
        return self._runner.run(coroutine)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.session, name)
        if not callable(attribute):
            return attribute

        def blocking(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            return self.call(result) if asyncio.iscoroutine(result) else result

        return blocking

    def __enter__(self) -> _Client[S]:
        try:
            self.call(self.session.connect())
            if self._credentials is not None:
                self.call(self.session.login(self._credentials, mechanism=self._mechanism))
        except BaseException:
            self.call(self.session.close())
            self._runner.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self.call(self.session.__aexit__(exc_type, exc, traceback))
        finally:
            self._runner.close()


class IMAPClient(_Client[IMAPSession]):
    """Blocking :class:`~refclient.session.imap.IMAPSession`."""

    _session_type = IMAPSession


class POP3Client(_Client[POP3Session]):
    """Blocking :class:`~refclient.session.pop3.POP3Session`."""

    _session_type = POP3Session


class SMTPClient(_Client[SMTPSession]):
    """Blocking :class:`~refclient.session.smtp.SMTPSession`."""

    _session_type = SMTPSession
