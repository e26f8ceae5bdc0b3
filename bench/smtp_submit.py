"""SMTP submission throughput: N small messages over one smtplib connection.

Peers, interleaved in the same run:

* ``fake``: our fake submission server (implicit TLS, AUTH, delivery into the store);
* ``aiosmtpd``: a bare aiosmtpd ``Controller`` with a no-op handler, same TLS and
  AUTH (the floor our server is built on: the ratio is our overhead);
* ``postfix``: the private Postfix of the interop environment (STARTTLS on 587
  style submission with AUTH through Dovecot) where it is installed.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from bench.harness import Result, interleave
from fakeservers.controller import FakeMailServers
from fakeservers.pki import TestPKI

USER, PASSWORD = "alice@example.test", "alice-pass"
#: implicit TLS, user, password, recipient
_ALICE = (True, USER, PASSWORD, USER)
#: The issue's targets: our overhead over bare aiosmtpd, and faster than Postfix.
TARGET_FAKE_VS_AIOSMTPD = 1.3
TARGET_FAKE_VS_POSTFIX = 1.0


@dataclass(frozen=True)
class Submission:
    """Where to submit and how."""

    name: str
    host: str
    port: int
    context: ssl.SSLContext
    implicit_tls: bool
    user: str
    password: str
    recipient: str


def submit(target: Submission, count: int) -> int:
    """Send ``count`` messages on one connection; returns how many were accepted."""
    message = b"Subject: bench\r\n\r\n" + (b"x" * 76 + b"\r\n") * 13  # about 1 KB
    factory: Any = smtplib.SMTP_SSL if target.implicit_tls else smtplib.SMTP
    kwargs = {"context": target.context} if target.implicit_tls else {}
    with factory(target.host, target.port, timeout=60, **kwargs) as smtp:
        if not target.implicit_tls:
            smtp.starttls(context=target.context)
        smtp.login(target.user, target.password)
        for _ in range(count):
            smtp.sendmail(target.user, [target.recipient], message)
    return count


class _Discard:
    """A no-op aiosmtpd handler: accept and drop."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and data.password == PASSWORD.encode()
    return AuthResult(success=ok)


@contextmanager
def bare_aiosmtpd(pki: TestPKI) -> Iterator[Submission]:
    """aiosmtpd's own Controller, implicit TLS, AUTH, a handler that drops every message."""
    # aiosmtpd's Controller checks readiness by connecting to its port, so port 0
    # will not do: take a free port from the OS first (a benchmark can live with the race).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    controller = Controller(
        _Discard(),
        hostname="127.0.0.1",
        port=free_port,
        ssl_context=pki.server_context(),
        authenticator=_authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield Submission("aiosmtpd", "127.0.0.1", free_port, pki.client_context(), *_ALICE)
    finally:
        controller.stop()


@contextmanager
def fake(pki: TestPKI) -> Iterator[Submission]:
    with FakeMailServers(pki=pki, ports={"submissions": 0}) as servers:
        port = servers.endpoints["submissions"].port
        yield Submission("fake", servers.host, port, servers.client_context(), *_ALICE)


@contextmanager
def postfix() -> Iterator[Submission | None]:
    try:
        from tests.interop.environment import running_servers, server_pki  # noqa: PLC0415
        from tests.interop.system import missing_requirement, server_directory  # noqa: PLC0415
    except ImportError:
        yield None
        return
    if missing_requirement() is not None:
        yield None
        return
    with server_directory() as root, running_servers(root, pki=server_pki()) as servers:
        account = servers.accounts[0]
        yield Submission(
            "postfix",
            servers.host,
            servers.port("submissions"),
            servers.client_context(),
            True,
            account.user,
            account.password,
            account.user,
        )


def run(*, count: int, rounds: int) -> list[Result]:
    """Messages per round through each peer."""
    pki = TestPKI.create()
    with ExitStack() as stack:
        targets = [stack.enter_context(fake(pki)), stack.enter_context(bare_aiosmtpd(pki))]
        real = stack.enter_context(postfix())
        notes = [] if real is not None else ["Postfix not installed: no comparison with it"]
        if real is not None:
            targets.append(real)
        peers: dict[str, Callable[[], object]] = {
            f"smtplib -> {t.name}": partial(submit, t, count) for t in targets
        }
        result = interleave(
            f"SMTP submission of {count} messages on one connection (implicit TLS, AUTH)",
            peers,
            baseline="smtplib -> aiosmtpd",
            rounds=rounds,
        )
        result.notes.extend(notes)
    result.target(
        "fake / bare aiosmtpd time",
        result.median("smtplib -> fake") / result.median("smtplib -> aiosmtpd"),
        TARGET_FAKE_VS_AIOSMTPD,
    )
    if "smtplib -> postfix" in result.rounds:
        result.target(
            "fake / Postfix time",
            result.median("smtplib -> fake") / result.median("smtplib -> postfix"),
            TARGET_FAKE_VS_POSTFIX,
        )
    return [result]
