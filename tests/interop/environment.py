"""The interop environment: a private Dovecot and Postfix, described like the fake servers.

:func:`running_servers` starts both under one directory and stops both on
exit; :class:`InteropServers` tells tests where they are, with the same
endpoint names (``imap``, ``imaps``, ``pop3``, ``pop3s``, ``submission``,
``submissions``), :class:`~fakeservers.controller.Endpoint` type and
``servers.json`` shape as :class:`~fakeservers.controller.FakeMailServers`,
so a test or a targets file can point at either.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakeservers.controller import DEFAULT_ACCOUNTS, ENDPOINTS, AccountSpec, Endpoint
from fakeservers.pki import SERVER_NAMES, TestPKI
from fakeservers.tls_variants import tls_variant

from .dovecot import DOVECOT_PORT_NAMES, DovecotFiles, DovecotProcess, start_dovecot
from .postfix import POSTFIX_PORT_NAMES, PostfixFiles, start_postfix
from .process import free_ports_by_name
from .system import MailOwner, find_binary

#: The loopback address the servers listen on, when the system has it (Linux routes 127/8).
#: Dovecot counts a connection whose client and server addresses are equal as secured
#: and then allows clear-text logins; with the servers on 127.0.0.2, clients connect
#: from 127.0.0.1 and see what a remote client sees (LOGINDISABLED, no AUTH before TLS).
PREFERRED_HOST = "127.0.0.2"
FALLBACK_HOST = "127.0.0.1"


def loopback_host() -> str:
    """:data:`PREFERRED_HOST` if it can be bound here, else :data:`FALLBACK_HOST`."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((PREFERRED_HOST, 0))
    except OSError:
        return FALLBACK_HOST
    return PREFERRED_HOST


def server_pki() -> TestPKI:
    """A test CA whose server certificate also names both loopback addresses used here."""
    names = tuple(dict.fromkeys((*SERVER_NAMES, PREFERRED_HOST, FALLBACK_HOST)))
    return TestPKI.create(names=names)


@dataclass(frozen=True, kw_only=True)
class InteropServers:
    """Where the private Dovecot and Postfix listen, how to trust them, who can log in."""

    host: str
    endpoints: Mapping[str, Endpoint]
    ca_file: Path
    accounts: tuple[AccountSpec, ...]
    pki: TestPKI
    #: The servers' log files, for diagnosing a failing test.
    logs: tuple[Path, ...]

    def port(self, endpoint: str) -> int:
        """The port of ``endpoint`` (``imap``, ``imaps``, ..., ``submissions``)."""
        return self.endpoints[endpoint].port

    def url(self, endpoint: str) -> str:
        """The server URL of ``endpoint``, e.g. ``imaps://127.0.0.2:40123``."""
        return self.endpoints[endpoint].url(self.host)

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context (TLS 1.2 floor) that trusts the test CA."""
        return self.pki.client_context()

    def describe(self) -> dict[str, Any]:
        """The ``servers.json`` document of ``mailcompat serve`` (DESIGN.md), for these servers."""
        return {
            "host": self.host,
            "ca_cert": str(self.ca_file),
            "profile": "dovecot+postfix",
            "endpoints": {
                name: {"port": endpoint.port, "security": endpoint.security}
                for name, endpoint in self.endpoints.items()
            },
            "accounts": [
                {"user": spec.user, "password": spec.password, "address": spec.address or spec.user}
                for spec in self.accounts
            ],
            # Dovecot and Postfix present the test CA's valid certificate.
            "tls": tls_variant("valid").describe() | {"trust": str(self.ca_file)},
        }


def write_tls_files(pki: TestPKI, root: Path) -> tuple[Path, Path, Path]:
    """The CA, the server's certificate chain and its key, as PEM files under ``root``."""
    ca_file = pki.write_ca(root / "ca.pem")
    cert_file = root / "server-cert.pem"
    cert_file.write_bytes(b"".join(blob.bytes() for blob in pki.server_cert.cert_chain_pems))
    key_file = root / "server-key.pem"
    key_file.write_bytes(pki.server_cert.private_key_pem.bytes())
    key_file.chmod(0o600)
    return ca_file, cert_file, key_file


def start_private_dovecot(
    root: Path,
    *,
    binary: Path,
    pki: TestPKI,
    cert_file: Path,
    key_file: Path,
    ports: dict[str, int],
    host: str,
    accounts: Sequence[AccountSpec] = DEFAULT_ACCOUNTS,
    extra_config: str = "",
) -> DovecotProcess:
    """Dovecot under ``root / "dovecot"``, serving ``cert_file`` of ``pki``, mail owned as root's.

    The one way the interop tests and the benchmarks start it; ``extra_config``
    is appended to its configuration (see :func:`~tests.interop.dovecot.start_dovecot`).
    """
    return start_dovecot(
        binary=binary,
        files=DovecotFiles(root=root / "dovecot"),
        ports=ports,
        accounts=accounts,
        cert_file=cert_file,
        key_file=key_file,
        owner=MailOwner.for_root(),
        tls_client=pki.client_context(),
        host=host,
        extra_config=extra_config,
    )


@contextmanager
def running_servers(
    root: Path,
    *,
    pki: TestPKI,
    accounts: Sequence[AccountSpec] = DEFAULT_ACCOUNTS,
) -> Iterator[InteropServers]:
    """Start Dovecot, then Postfix, under ``root``; stop both (Postfix first) on exit.

    Raises :class:`~tests.interop.process.ServerStartError` with the log tail
    when a server does not come up. Must run as root (see ``system.py``).
    ``root`` and its parents must be searchable by the servers' accounts
    (see :func:`~tests.interop.system.server_directory`).
    """
    dovecot_binary = find_binary("dovecot")
    postfix_binary = find_binary("postfix")
    if dovecot_binary is None or postfix_binary is None:
        raise RuntimeError("dovecot and postfix must be installed")
    host = loopback_host()
    root.mkdir(parents=True, exist_ok=True)
    ca_file, cert_file, key_file = write_tls_files(pki, root)

    names = (*DOVECOT_PORT_NAMES, *POSTFIX_PORT_NAMES)
    ports = free_ports_by_name(names, host=host)
    postfix_files = PostfixFiles(root=root / "postfix")
    dovecot = start_private_dovecot(
        root,
        binary=dovecot_binary,
        pki=pki,
        cert_file=cert_file,
        key_file=key_file,
        ports=ports,
        host=host,
        accounts=accounts,
    )
    dovecot_files = dovecot.files
    try:
        postfix = start_postfix(
            binary=postfix_binary,
            files=postfix_files,
            ports=ports,
            lmtp_port=ports["lmtp"],
            auth_port=ports["auth"],
            accounts=accounts,
            cert_file=cert_file,
            key_file=key_file,
            tls_client=pki.client_context(),
            host=host,
        )
        try:
            yield InteropServers(
                host=host,
                endpoints={
                    spec.name: Endpoint(spec.name, spec.protocol, ports[spec.name], spec.security)
                    for spec in ENDPOINTS
                },
                ca_file=ca_file,
                accounts=tuple(accounts),
                pki=pki,
                logs=(dovecot_files.log, dovecot_files.console, postfix_files.log),
            )
        finally:
            postfix.stop()
    finally:
        dovecot.stop()
