"""A private Dovecot: IMAP, POP3, LMTP and a SASL auth socket for Postfix.

The instance has its own configuration, run, state, log and mail directories
under one temporary directory, listens on 127.0.0.1 only, and runs in the
foreground (``dovecot -F -c CONF``) as a child process of the test session,
so it never touches a system Dovecot running on the same machine.

Settings that matter for the tests (Dovecot 2.3):

- ``ssl = required`` and ``disable_plaintext_auth = yes``: no login before
  TLS on any port (RFC 3501 section 6.2.3 LOGINDISABLED, RFC 2595 section 4).
- ``auth_mechanisms = plain login``, passdb and userdb from a passwd-file.
- LMTP (RFC 2033) on a TCP port: Postfix delivers into the maildirs with it.
- An auth-client TCP listener: Postfix's ``smtpd_sasl_type = dovecot``.
"""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fakeservers.controller import AccountSpec

from .process import ServerStartError, stop_process, wait_for_ports
from .system import MailOwner

#: Dovecot's ports, by the endpoint names of the fake servers (plus two internal ones).
DOVECOT_PORT_NAMES: tuple[str, ...] = ("imap", "imaps", "pop3", "pop3s", "lmtp", "auth")
#: The ports that start with a TLS handshake (RFC 8314); the others greet in clear text
#: (LMTP's 220, the auth protocol's VERSION line).
IMPLICIT_TLS = frozenset({"imaps", "pop3s"})


@dataclass(frozen=True, kw_only=True)
class DovecotFiles:
    """Where the private Dovecot keeps its files."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def users(self) -> Path:
        return self.root / "users"

    @property
    def log(self) -> Path:
        return self.root / "dovecot.log"

    @property
    def console(self) -> Path:
        """Standard output and error of the master process (errors before logging is set up)."""
        return self.root / "console.log"

    @property
    def base_dir(self) -> Path:
        # Short: it holds UNIX sockets, whose paths are limited to about 100 bytes.
        return self.root / "run"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def mail_root(self) -> Path:
        return self.root / "mail"

    def home(self, user: str) -> Path:
        """Home directory of ``user`` (``local@domain``), holding ``Maildir``."""
        local, _, domain = user.partition("@")
        return self.mail_root / (domain or "localhost") / local


def passwd_file(accounts: Sequence[AccountSpec], *, files: DovecotFiles, owner: MailOwner) -> str:
    """The passwd-file of passdb and userdb: ``user:{PLAIN}password:uid:gid::home::``.

    ``{PLAIN}`` keeps the test passwords readable; Dovecot's passwd-file format
    is documented in its "AuthDatabase/PasswdFile" page.
    """
    lines = [
        f"{spec.user}:{{PLAIN}}{spec.password}:{owner.uid}:{owner.gid}::{files.home(spec.user)}::"
        for spec in accounts
    ]
    return "\n".join(lines) + "\n"


def dovecot_config(
    *,
    files: DovecotFiles,
    ports: dict[str, int],
    cert_file: Path,
    key_file: Path,
    owner: MailOwner,
    host: str = "127.0.0.1",
) -> str:
    """The complete ``dovecot.conf`` of the private instance (no system includes)."""
    return f"""\
# Private Dovecot for the mailcompat interop tests.
instance_name = mailcompat-{ports["imap"]}
base_dir = {files.base_dir}
state_dir = {files.state_dir}
log_path = {files.log}
protocols = imap pop3 lmtp
listen = {host}
default_internal_user = {owner.internal_user}
default_login_user = {owner.login_user}
first_valid_uid = {owner.uid}
first_valid_gid = {owner.gid}
postmaster_address = postmaster@example.test
# Named in the Received field LMTP adds, instead of the machine's name.
hostname = mail.example.test

# TLS everywhere, TLS 1.2 floor (RFC 8996), no clear-text logins.
ssl = required
ssl_cert = <{cert_file}
ssl_key = <{key_file}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login
# Refuse wrong passwords at once: the tests try them on purpose (default: 2 s).
auth_failure_delay = 0

passdb {{
  driver = passwd-file
  args = scheme=PLAIN {files.users}
}}
userdb {{
  driver = passwd-file
  args = {files.users}
}}
mail_location = maildir:~/Maildir

service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {ports["imap"]}
  }}
  inet_listener imaps {{
    address = {host}
    port = {ports["imaps"]}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = {host}
    port = {ports["pop3"]}
  }}
  inet_listener pop3s {{
    address = {host}
    port = {ports["pop3s"]}
    ssl = yes
  }}
}}
# RFC 2033 LMTP: Postfix delivers here.
service lmtp {{
  inet_listener lmtp {{
    address = {host}
    port = {ports["lmtp"]}
  }}
}}
# No growing delay after failed logins from one address (Dovecot's auth penalty):
# the tests fail logins on purpose, all from 127.0.0.1. Mode 0 disables it.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
# Postfix's SASL (smtpd_sasl_type = dovecot) speaks the auth-client protocol;
# the listener name ends in "-client" to select it.
service auth {{
  inet_listener postfix-client {{
    address = {host}
    port = {ports["auth"]}
  }}
}}
"""


@dataclass(frozen=True, kw_only=True)
class DovecotProcess:
    """A running private Dovecot."""

    process: subprocess.Popen[bytes]
    files: DovecotFiles

    def stop(self) -> None:
        """Stop the master (SIGTERM stops every child), bounded; kill if it hangs."""
        stop_process(self.process)


def start_dovecot(
    *,
    binary: Path,
    files: DovecotFiles,
    ports: dict[str, int],
    accounts: Sequence[AccountSpec],
    cert_file: Path,
    key_file: Path,
    owner: MailOwner,
    tls_client: ssl.SSLContext,
    host: str = "127.0.0.1",
    extra_config: str = "",
) -> DovecotProcess:
    """Write the configuration, start Dovecot in the foreground and wait for its ports.

    ``tls_client`` verifies the implicit-TLS ports while waiting for them;
    ``extra_config`` is appended to the configuration (the benchmarks raise
    Dovecot's process and login limits with it).
    """
    files.root.mkdir(parents=True, exist_ok=True)
    files.mail_root.mkdir(exist_ok=True)
    owner.give(files.mail_root)
    files.users.write_text(passwd_file(accounts, files=files, owner=owner), encoding="utf-8")
    files.config.write_text(
        dovecot_config(
            files=files,
            ports=ports,
            cert_file=cert_file,
            key_file=key_file,
            owner=owner,
            host=host,
        )
        + extra_config,
        encoding="utf-8",
    )
    with files.console.open("wb") as console:
        process = subprocess.Popen(
            [str(binary), "-F", "-c", str(files.config)],
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
        )
    running = DovecotProcess(process=process, files=files)
    try:
        wait_for_ports(
            "dovecot",
            host,
            {
                ports[name]: (tls_client if name in IMPLICIT_TLS else None)
                for name in DOVECOT_PORT_NAMES
            },
            alive=lambda: process.poll() is None,
            logs=[files.console, files.log],
        )
    except ServerStartError:
        running.stop()
        raise
    return running
