"""What the host must provide for the interop environment, and the accounts that own mail.

Dovecot and Postfix are found on ``PATH`` or in the usual ``sbin``
directories (Debian installs both in ``/usr/sbin``, which is not on an
ordinary user's ``PATH``). When one is missing, :func:`missing_requirement`
says which and how to install it, and the tests skip with that reason.

Postfix's master daemon only runs as root, so the environment needs root
(the CI container runs as root). Dovecot refuses to run mail processes as
root, so mail belongs to an ordinary system account (:class:`MailOwner`).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

#: Debian/Ubuntu packages providing everything the environment starts.
DEBIAN_PACKAGES = "dovecot-imapd dovecot-pop3d dovecot-lmtpd postfix"

#: Where system daemons live when they are not on PATH.
_SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin", "/opt/homebrew/sbin")

#: Where Dovecot keeps its protocol programs (Debian, Fedora, /usr/local builds).
_DOVECOT_LIBEXEC_DIRS = ("/usr/lib/dovecot", "/usr/libexec/dovecot", "/usr/local/libexec/dovecot")

#: Dovecot's protocol programs the environment runs, with the Debian package of each.
_DOVECOT_PROGRAMS = {"imap": "dovecot-imapd", "pop3": "dovecot-pop3d", "lmtp": "dovecot-lmtpd"}

#: The system account that owns the test mail (Debian's base-passwd has it), then a fallback.
_MAIL_ACCOUNTS = ("mail", "nobody")


def find_binary(name: str) -> Path | None:
    """The path of the program ``name`` on PATH or in a ``sbin`` directory, if any."""
    found = shutil.which(name) or shutil.which(name, path=os.pathsep.join(_SBIN_DIRS))
    return Path(found) if found else None


def missing_requirement() -> str | None:
    """Why the environment cannot run here (a skip reason), or ``None`` if it can."""
    for name in ("dovecot", "postfix"):
        if find_binary(name) is None:
            return (
                f"{name} is not installed (not on PATH nor in {', '.join(_SBIN_DIRS)}); "
                f"on Debian/Ubuntu: apt-get install {DEBIAN_PACKAGES}"
            )
    for program, package in _DOVECOT_PROGRAMS.items():
        if not any(Path(directory, program).is_file() for directory in _DOVECOT_LIBEXEC_DIRS):
            return (
                f"dovecot's {program} is not installed (in none of "
                f"{', '.join(_DOVECOT_LIBEXEC_DIRS)}); on Debian/Ubuntu: apt-get install {package}"
            )
    if sys.platform == "win32" or os.geteuid() != 0:
        return "the private Postfix needs root (its master daemon refuses to run otherwise)"
    return None


@dataclass(frozen=True, kw_only=True)
class MailOwner:
    """The accounts the servers' processes run as.

    ``uid``/``gid`` own the maildirs (Dovecot's mail processes and LMTP
    deliveries run as them); ``internal_user`` and ``login_user`` are
    Dovecot's ``default_internal_user`` and ``default_login_user``.
    """

    uid: int
    gid: int
    internal_user: str
    login_user: str

    @classmethod
    def for_root(cls) -> MailOwner:
        """Debian's accounts: mail owned by ``mail``, Dovecot's own ``dovecot``/``dovenull``."""
        import pwd  # noqa: PLC0415 (POSIX only; runs only where the servers are installed)

        for name in _MAIL_ACCOUNTS:
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                continue
            return cls(
                uid=entry.pw_uid, gid=entry.pw_gid, internal_user="dovecot", login_user="dovenull"
            )
        raise RuntimeError(f"none of the accounts {_MAIL_ACCOUNTS} exists to own the test mail")

    def give(self, path: Path) -> None:
        """Make ``path`` belong to the mail owner."""
        os.chown(path, self.uid, self.gid)


@contextmanager
def server_directory() -> Iterator[Path]:
    """A fresh directory for the servers' files, removed (with everything in it) on exit.

    It is made in the system's temporary directory, not under pytest's
    ``tmp_path_factory``: the servers' unprivileged processes (``mail``,
    ``dovecot``, ``postfix``) open files below it by absolute path, and
    pytest makes its base directory private (mode 0700) again each time
    another pytest session starts, which would lock them out mid-run. The
    directory itself gets the search bit for everyone (mode 0711), nothing
    more: it cannot be listed.
    """
    root = Path(tempfile.mkdtemp(prefix="mailcompat-interop-"))
    try:
        root.chmod(0o711)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)
