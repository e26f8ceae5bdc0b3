"""A private Postfix: submission with STARTTLS and implicit TLS, delivering into Dovecot.

The instance has its own ``main.cf`` and ``master.cf`` (``postfix -c DIR``),
its own queue and data directories and its own log file, listens on the
loopback address only, and is started with ``postfix -c DIR start`` and
stopped with ``postfix -c DIR stop``; the stop waits (bounded) until the
master daemon has really gone, so nothing outlives the tests.

What it does (Postfix 3.x):

- Two submission services in ``master.cf``: STARTTLS (RFC 6409, RFC 3207)
  and implicit TLS (RFC 8314 section 3.3, ``smtpd_tls_wrappermode``), both
  with ``smtpd_tls_security_level = encrypt`` and ``smtpd_tls_auth_only``,
  so that AUTH is neither offered nor accepted before TLS.
- SASL through the private Dovecot (``smtpd_sasl_type = dovecot``); every
  client must authenticate (``smtpd_client_restrictions``).
- ``example.test`` is a virtual mailbox domain whose mail goes by LMTP
  (RFC 2033) into Dovecot.
- No header rewriting and no MIME conversion, so that what the client sent
  arrives byte for byte behind the trace headers.
"""

from __future__ import annotations

import ssl
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fakeservers.controller import AccountSpec

from .process import STOP_TIMEOUT, ServerStartError, log_tail, wait_for_ports

#: Postfix's ports, by the endpoint names of the fake servers.
POSTFIX_PORT_NAMES: tuple[str, ...] = ("submission", "submissions")

#: The largest message accepted, as the fake servers' default (``Limits.max_message_size``).
MESSAGE_SIZE_LIMIT = 64 * 1024 * 1024

_POLL_INTERVAL = 0.02


@dataclass(frozen=True, kw_only=True)
class PostfixFiles:
    """Where the private Postfix keeps its files."""

    root: Path

    @property
    def config_dir(self) -> Path:
        return self.root / "etc"

    @property
    def queue_dir(self) -> Path:
        return self.root / "spool"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def mailboxes(self) -> Path:
        """The ``virtual_mailbox_maps`` table: which recipients exist."""
        return self.config_dir / "virtual_mailboxes"

    @property
    def log(self) -> Path:
        return self.root / "postfix.log"


def main_cf(
    *,
    files: PostfixFiles,
    host: str,
    lmtp_port: int,
    auth_port: int,
    cert_file: Path,
    key_file: Path,
) -> str:
    """``main.cf``: everything not specific to one listener."""
    return f"""\
# Private Postfix for the mailcompat interop tests.
compatibility_level = 3.6
queue_directory = {files.queue_dir}
data_directory = {files.data_dir}
maillog_file = {files.log}
maillog_file_prefixes = {files.root}
syslog_name = postfix-mailcompat
myhostname = mail.example.test
mydomain = example.test
myorigin = example.test
mydestination =
# Postfix accepts only addresses of an interface here (127.0.0.2 is routed, not
# assigned); the listeners in master.cf carry their own address.
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
relayhost =
biff = no
message_size_limit = {MESSAGE_SIZE_LIMIT}
smtputf8_enable = yes

# Byte-exact delivery: no Date/Message-ID/From added or addresses rewritten for
# local clients, no 8-bit to quoted-printable conversion (RFC 6152).
local_header_rewrite_clients =
disable_mime_output_conversion = yes

# Delivery by LMTP (RFC 2033) into the private Dovecot.
virtual_mailbox_domains = example.test
virtual_mailbox_maps = texthash:{files.mailboxes}
virtual_transport = lmtp:inet:{host}:{lmtp_port}

# TLS (RFC 3207, RFC 8314) with the test certificate, TLS 1.2 floor (RFC 8996).
smtpd_tls_chain_files = {key_file}, {cert_file}
smtpd_tls_security_level = encrypt
smtpd_tls_protocols = >=TLSv1.2
smtpd_tls_mandatory_protocols = >=TLSv1.2
smtpd_tls_auth_only = yes

# SASL (RFC 4954) through Dovecot; submission needs an authenticated client.
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:{host}:{auth_port}
smtpd_sasl_auth_enable = yes
smtpd_client_restrictions = permit_sasl_authenticated, reject
smtpd_relay_restrictions = permit_sasl_authenticated, reject
# Answer refused commands at once: the tests send them on purpose (default: 1 s).
smtpd_error_sleep_time = 0
"""


def master_cf(*, host: str, ports: dict[str, int]) -> str:
    """``master.cf``: the two submission listeners and the daemons Postfix needs.

    Nothing runs chrooted: the queue lives in a temporary directory.
    """
    return f"""\
# service type  private unpriv  chroot  wakeup  maxproc command
{host}:{ports["submission"]} inet n - n - - smtpd
  -o syslog_name=postfix-mailcompat/submission
{host}:{ports["submissions"]} inet n - n - - smtpd
  -o syslog_name=postfix-mailcompat/submissions
  -o smtpd_tls_wrappermode=yes
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


@dataclass(frozen=True, kw_only=True)
class PostfixProcess:
    """A running private Postfix (its master daemon runs detached, as Postfix wants)."""

    binary: Path
    files: PostfixFiles

    def command(self, command: str) -> subprocess.CompletedProcess[bytes]:
        """Run ``postfix -c CONFIG_DIR COMMAND`` (bounded), capturing its output."""
        return subprocess.run(
            [str(self.binary), "-c", str(self.files.config_dir), command],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=STOP_TIMEOUT * 3,
            check=False,
        )

    def running(self) -> bool:
        """Whether the master daemon is up (``postfix status``)."""
        return self.command("status").returncode == 0

    def stop(self, *, timeout: float = STOP_TIMEOUT) -> None:
        """``postfix stop``, then wait until the master has gone; ``postfix abort`` if not."""
        for command in ("stop", "abort"):
            # Asked of a stopped Postfix, these fail after a one-second pause: ask first.
            if not self.running():
                return
            self.command(command)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if not self.running():
                    return
                time.sleep(_POLL_INTERVAL)
        raise RuntimeError(
            f"postfix in {self.files.root} did not stop\n" + log_tail([self.files.log])
        )


def start_postfix(
    *,
    binary: Path,
    files: PostfixFiles,
    ports: dict[str, int],
    lmtp_port: int,
    auth_port: int,
    accounts: Sequence[AccountSpec],
    cert_file: Path,
    key_file: Path,
    tls_client: ssl.SSLContext,
    host: str,
) -> PostfixProcess:
    """Write the configuration, ``postfix start`` and wait for the submission ports.

    ``tls_client`` verifies the implicit-TLS port while waiting for it.
    """
    files.config_dir.mkdir(parents=True, exist_ok=True)
    # The queue directory belongs to root; its subdirectories and the data
    # directory are left to ``postfix start`` (post-install create-missing),
    # which gives them the owners Postfix checks for.
    files.queue_dir.mkdir(exist_ok=True)
    (files.config_dir / "main.cf").write_text(
        main_cf(
            files=files,
            host=host,
            lmtp_port=lmtp_port,
            auth_port=auth_port,
            cert_file=cert_file,
            key_file=key_file,
        ),
        encoding="utf-8",
    )
    (files.config_dir / "master.cf").write_text(master_cf(host=host, ports=ports), encoding="utf-8")
    files.mailboxes.write_text(
        "".join(f"{spec.address or spec.user} OK\n" for spec in accounts), encoding="utf-8"
    )
    running = PostfixProcess(binary=binary, files=files)
    started = running.command("start")
    if started.returncode != 0:
        running.stop()  # in case the master came up before the failure
        raise ServerStartError(
            f"postfix start failed with status {started.returncode}\n"
            + (started.stdout + started.stderr).decode("utf-8", errors="replace")
            + log_tail([files.log])
            # Postfix's commands report configuration errors only to syslog or a terminal.
            + f"\n(run `postfix -c {files.config_dir} check` in a terminal to see why)"
        )
    try:
        wait_for_ports(
            "postfix",
            host,
            {ports["submission"]: None, ports["submissions"]: tls_client},
            alive=running.running,
            logs=[files.log],
        )
    except ServerStartError:
        running.stop()
        raise
    return running
