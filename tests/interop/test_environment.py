"""The environment's own start and stop: ready when started, gone when stopped, loud on failure.

Each test starts one server of its own (not the session's), so that a
failure to start can be provoked: a port already taken by another socket.
"""

from __future__ import annotations

import imaplib
import poplib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakeservers.controller import DEFAULT_ACCOUNTS

from .dovecot import DOVECOT_PORT_NAMES, DovecotProcess
from .environment import loopback_host, server_pki, start_private_dovecot, write_tls_files
from .postfix import POSTFIX_PORT_NAMES, PostfixFiles, start_postfix
from .process import ServerStartError, free_ports_by_name
from .stdlib_clients import CLIENT_TIMEOUT
from .system import find_binary, missing_requirement, server_directory

pytestmark = pytest.mark.interop


@pytest.fixture
def server_root() -> Iterator[Path]:
    """A directory for one test's own server (see ``system.server_directory``)."""
    reason = missing_requirement()
    if reason is not None:
        pytest.skip(f"interop environment unavailable: {reason}")
    with server_directory() as root:
        yield root


def _dovecot(root: Path, ports: dict[str, int]) -> DovecotProcess:
    pki = server_pki()
    _, cert_file, key_file = write_tls_files(pki, root)
    binary = find_binary("dovecot")
    assert binary is not None
    return start_private_dovecot(
        root,
        binary=binary,
        pki=pki,
        cert_file=cert_file,
        key_file=key_file,
        ports=ports,
        host=loopback_host(),
    )


def _answers(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=5.0).close()
    except OSError:
        return False
    return True


def test_dovecot_answers_when_started_and_is_gone_when_stopped(server_root: Path) -> None:
    host = loopback_host()
    ports = free_ports_by_name(DOVECOT_PORT_NAMES, host=host)
    dovecot = _dovecot(server_root, ports)  # returns once every port has greeted
    with imaplib.IMAP4(host, ports["imap"], timeout=CLIENT_TIMEOUT) as imap:
        assert "STARTTLS" in imap.capabilities
    pop3 = poplib.POP3(host, ports["pop3"], timeout=CLIENT_TIMEOUT)
    assert pop3.getwelcome().startswith(b"+OK")
    pop3.quit()

    dovecot.stop()

    assert dovecot.process.returncode is not None
    assert not any(_answers(host, port) for port in ports.values())


def test_dovecot_start_failure_shows_its_log(server_root: Path) -> None:
    host = loopback_host()
    with socket.socket() as taken:
        taken.bind((host, 0))
        taken.listen()
        ports = free_ports_by_name(DOVECOT_PORT_NAMES, host=host)
        ports["imaps"] = taken.getsockname()[1]

        with pytest.raises(ServerStartError, match="Address already in use") as failure:
            _dovecot(server_root, ports)

    assert "dovecot" in str(failure.value)


def test_postfix_start_failure_shows_its_log(server_root: Path) -> None:
    host = loopback_host()
    pki = server_pki()
    _, cert_file, key_file = write_tls_files(pki, server_root)
    binary = find_binary("postfix")
    assert binary is not None
    with socket.socket() as taken:
        taken.bind((host, 0))
        taken.listen()
        ports = free_ports_by_name(POSTFIX_PORT_NAMES, host=host)
        ports["submissions"] = taken.getsockname()[1]

        with pytest.raises(ServerStartError, match="Address already in use"):
            start_postfix(
                binary=binary,
                files=PostfixFiles(root=server_root / "postfix"),
                ports=ports,
                lmtp_port=1,
                auth_port=1,
                accounts=DEFAULT_ACCOUNTS,
                cert_file=cert_file,
                key_file=key_file,
                tls_client=pki.client_context(),
                host=host,
            )
