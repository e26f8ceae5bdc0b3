"""Run the fake servers: six listeners over one store, on a loop in a background thread.

:class:`FakeMailServers` is the in-process API (as aiosmtpd's ``Controller``):
``start()`` starts an event loop in a thread, binds the listeners and re-raises
any startup error in the caller's thread; ``stop()`` closes every listener and
every session, then the loop. Tests, the pytest plugin, ``mailcompat serve``
and the scenario runner all use it.

The six endpoints (DESIGN.md): ``imap`` (STARTTLS), ``imaps`` (implicit TLS),
``pop3``, ``pop3s``, ``submission`` and ``submissions``.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import ssl
import tempfile
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from fakeservers.config import ServerConfig
from fakeservers.listener import Listener
from fakeservers.pki import TestPKI
from fakeservers.rules import RuleSet
from fakeservers.store import MailStore
from fakeservers.tls_variants import PreparedTLS, TLSVariant, tls_variant

StartServer = Callable[..., Awaitable[Listener]]


@dataclass(frozen=True)
class AccountSpec:
    """An account to create at start: login name, password, address (defaults to the user)."""

    user: str
    password: str
    address: str | None = None

    @classmethod
    def parse(cls, text: str) -> AccountSpec:
        """``USER:PASSWORD`` as given to ``mailcompat serve --account``."""
        user, sep, password = text.partition(":")
        if not sep or not user or not password:
            raise ValueError(f"account must be USER:PASSWORD, got {text!r}")
        return cls(user, password)


DEFAULT_ACCOUNTS: tuple[AccountSpec, ...] = (
    AccountSpec("alice@example.test", "alice-pass"),
    AccountSpec("bob@example.test", "bob-pass"),
)


@dataclass(frozen=True)
class EndpointSpec:
    """One of the six endpoints: protocol, TLS mode and the port ``serve`` uses by default."""

    name: str
    protocol: str
    implicit_tls: bool
    default_port: int

    @property
    def security(self) -> str:
        """``tls`` (implicit) or ``starttls``, as written in ``servers.json``."""
        return "tls" if self.implicit_tls else "starttls"


ENDPOINTS: tuple[EndpointSpec, ...] = (
    EndpointSpec("imap", "imap", False, 1143),
    EndpointSpec("imaps", "imap", True, 1993),
    EndpointSpec("pop3", "pop3", False, 1110),
    EndpointSpec("pop3s", "pop3", True, 1995),
    EndpointSpec("submission", "smtp", False, 1587),
    EndpointSpec("submissions", "smtp", True, 1465),
)


@dataclass(frozen=True)
class Endpoint:
    """A bound endpoint."""

    name: str
    protocol: str
    port: int
    security: str

    def url(self, host: str) -> str:
        """The server URL of this endpoint (DESIGN.md schemes)."""
        scheme = {
            ("imap", "tls"): "imaps",
            ("imap", "starttls"): "imap",
            ("pop3", "tls"): "pop3s",
            ("pop3", "starttls"): "pop3",
            ("smtp", "tls"): "smtps",
            ("smtp", "starttls"): "smtp",
        }[(self.protocol, self.security)]
        shown = f"[{host}]" if ":" in host else host
        return f"{scheme}://{shown}:{self.port}"


def _server_starter(protocol: str) -> StartServer:
    """``start_<protocol>_server`` of ``fakeservers.<protocol>``, imported on first use."""
    module = importlib.import_module(f"fakeservers.{protocol}")
    starter: StartServer = getattr(module, f"start_{protocol}_server")
    return starter


@dataclass(kw_only=True)
class _Running:
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    listeners: list[Listener] = field(default_factory=list)


class FakeMailServers:
    """The fake IMAP, POP3 and SMTP servers over one store, with a test CA.

    ``ports`` maps endpoint names to ports (0, the default, picks a free
    one); an endpoint mapped to ``None`` is not started. ``tls`` names the
    TLS variant every endpoint presents (:mod:`fakeservers.tls_variants`).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        ports: Mapping[str, int | None] | None = None,
        accounts: Sequence[AccountSpec] = DEFAULT_ACCOUNTS,
        config: ServerConfig | None = None,
        state_dir: Path | None = None,
        pki: TestPKI | None = None,
        tls: str | TLSVariant = "valid",
    ) -> None:
        self.host = host
        self.config = config or ServerConfig()
        self.accounts = tuple(accounts)
        folders = self.config.profile.imap.folders
        self.store = MailStore(folders=folders) if folders is not None else MailStore()
        for spec in self.accounts:
            self.store.add_account(spec.user, spec.password, address=spec.address)
        self._ports: dict[str, int | None] = {spec.name: 0 for spec in ENDPOINTS}
        self._ports.update(ports or {})
        self._state_dir = state_dir
        self._pki = pki
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._running: _Running | None = None
        self.endpoints: dict[str, Endpoint] = {}
        self.ca_file = Path()
        self.tls_variant = tls_variant(tls) if isinstance(tls, str) else tls
        #: The variant's certificate, server context and client material, once started.
        self.tls: PreparedTLS | None = None

    # -- facts ----------------------------------------------------------------------

    @property
    def pki(self) -> TestPKI:
        """The test CA and server certificate (created on first use)."""
        if self._pki is None:
            self._pki = TestPKI.create()
        return self._pki

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts the servers' CA."""
        return self.pki.client_context()

    def url(self, endpoint: str) -> str:
        """The server URL of a running endpoint, e.g. ``imaps://127.0.0.1:40123``."""
        return self.endpoints[endpoint].url(self.host)

    def use_rules(self, ruleset: RuleSet) -> None:
        """Apply ``ruleset`` to sessions that start from now on (also while running)."""
        self.config.rules.replace(ruleset)

    def rule_hits(self) -> dict[str, int]:
        """How many times each rule in force has fired, by name."""
        return self.config.rules.current.hits()

    def describe(self) -> dict[str, Any]:
        """The ``servers.json`` document (DESIGN.md, ``mailcompat serve``)."""
        return {
            "host": self.host,
            "ca_cert": str(self.ca_file),
            "profile": self.config.profile.name,
            "endpoints": {
                name: {"port": endpoint.port, "security": endpoint.security}
                for name, endpoint in self.endpoints.items()
            },
            "accounts": [
                {"user": spec.user, "password": spec.password, "address": spec.address or spec.user}
                for spec in self.accounts
            ],
            "tls": (
                self.tls.describe(self.ca_file)
                if self.tls is not None
                else self.tls_variant.describe()
            ),
        }

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> FakeMailServers:
        """Start every listener; re-raises a startup error (e.g. port in use) here."""
        if self._running is not None:
            raise RuntimeError("already started")
        state_dir = self._state_dir
        if state_dir is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="mailcompat-")
            state_dir = Path(self._tempdir.name)
        state_dir.mkdir(parents=True, exist_ok=True)
        self.ca_file = self.pki.write_ca(state_dir / "ca.pem")
        try:
            self.tls = self.tls_variant.prepare(self.pki, state_dir)
        except BaseException:
            self.stop()  # removes the temporary directory
            raise

        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="mailcompat-servers", daemon=True)
        thread.start()
        self._running = _Running(loop=loop, thread=thread)
        try:
            asyncio.run_coroutine_threadsafe(self._start_listeners(), loop).result(timeout=30)
        except BaseException:
            self.stop()
            raise
        if self._state_dir is not None:
            self.write_state(self._state_dir)
        return self

    async def _start_listeners(self) -> None:
        running = self._running
        assert running is not None
        context = self.tls.server_context if self.tls is not None else self.pki.server_context()
        journal = self.config.rules.current.journal
        if journal is not None:
            # OpenSSL calls this for every ClientHello, SNI or not: the audit tells a
            # client that aborted a handshake from one that never connected.
            context.sni_callback = lambda *_: journal.hello()
        for spec in ENDPOINTS:
            port = self._ports.get(spec.name)
            if port is None:
                continue
            listener = await _server_starter(spec.protocol)(
                self.store,
                self.config,
                host=self.host,
                port=port,
                tls_context=context,
                implicit_tls=spec.implicit_tls,
            )
            running.listeners.append(listener)
            self.endpoints[spec.name] = Endpoint(
                spec.name, spec.protocol, listener.port, spec.security
            )

    def write_state(self, directory: Path) -> Path:
        """Write ``servers.json`` atomically (readers never see half a file)."""
        target = directory / "servers.json"
        partial = directory / f".servers.json.{os.getpid()}.tmp"
        partial.write_text(json.dumps(self.describe(), indent=2) + "\n", encoding="utf-8")
        partial.replace(target)
        return target

    def stop(self) -> None:
        """Close every listener and session, then the loop and its thread."""
        running, self._running = self._running, None
        if running is not None:
            if running.loop.is_running():
                closing = asyncio.run_coroutine_threadsafe(self._close(running), running.loop)
                try:
                    closing.result(timeout=10)
                finally:
                    running.loop.call_soon_threadsafe(running.loop.stop)
                    running.thread.join(timeout=10)
            running.loop.close()
        self.endpoints = {}
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    @staticmethod
    async def _close(running: _Running) -> None:
        await asyncio.gather(*(listener.close() for listener in running.listeners))
        # Let the sessions' tasks see their connections closed and finish.
        current = asyncio.current_task()
        pending = [task for task in asyncio.all_tasks() if task is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def __enter__(self) -> FakeMailServers:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
