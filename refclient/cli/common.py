"""What ``send``, ``fetch`` and ``probe`` share: connection options, secrets, errors.

Secrets never come from a plain command-line flag (DESIGN.md): the password
from ``MAILCOMPAT_PASSWORD``, ``--password-command CMD`` or a prompt on a
terminal; an OAuth2 token from ``MAILCOMPAT_OAUTH2_TOKEN`` or
``--oauth2-token-command CMD``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TextIO

from refclient import errors
from refclient.credentials import Credentials
from refclient.session.options import ClientOptions
from refclient.urls import Security, ServerURL

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PASSWORD_VARIABLE = "MAILCOMPAT_PASSWORD"
TOKEN_VARIABLE = "MAILCOMPAT_OAUTH2_TOKEN"


Sink = Callable[[str], None]


class UsageError(Exception):
    """Bad usage or configuration: exit code 2."""


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """Options every client command takes."""
    group = parser.add_argument_group("connection")
    group.add_argument("--ca-file", type=Path, help="extra trust anchor (PEM)")
    group.add_argument(
        "--insecure-skip-verify",
        action="store_true",
        help="do not verify the server's certificate (labs only; warned)",
    )
    group.add_argument("--timeout", type=float, default=30.0, help="seconds per step (default 30)")
    group.add_argument("--strict", action="store_true", help="fail on error-level findings")
    group.add_argument(
        "--transcript", metavar="FILE", help="write the transcript here (- for stderr)"
    )


def add_login_options(parser: argparse.ArgumentParser) -> None:
    """Options of commands that log in."""
    group = parser.add_argument_group("authentication")
    group.add_argument("--user", help="login name (default: the user in the URL)")
    group.add_argument("--auth", metavar="MECH", help="force a SASL mechanism (or USER/APOP)")
    group.add_argument("--password-command", metavar="CMD", help="print the password on stdout")
    group.add_argument(
        "--oauth2-token-command", metavar="CMD", help="print an OAuth2 access token on stdout"
    )
    group.add_argument(
        "--allow-plaintext-auth",
        action="store_true",
        help="allow credentials over clear text (only with +insecure URLs)",
    )


def parse_url(text: str) -> ServerURL:
    """A server URL or a usage error."""
    try:
        return ServerURL.parse(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def client_options(args: argparse.Namespace, sink: Callable[[str], None] | None) -> ClientOptions:
    """ClientOptions from the parsed options."""
    if args.ca_file is not None and not args.ca_file.is_file():
        raise UsageError(f"--ca-file {args.ca_file}: no such file")
    if args.insecure_skip_verify:
        print("mailcompat: WARNING: certificate verification is off", file=sys.stderr)
    return ClientOptions(
        ca_file=args.ca_file,
        verify=not args.insecure_skip_verify,
        connect_timeout=args.timeout,
        read_timeout=args.timeout,
        strict=args.strict,
        allow_plaintext_auth=getattr(args, "allow_plaintext_auth", False),
        transcript_sink=sink,
    )


def _run_secret_command(command: str, what: str) -> str:
    # On Windows a program receives one command line and splits it itself, so
    # the string goes to CreateProcess as it is: shlex's non-POSIX mode keeps
    # the quotes in each word, which subprocess would then quote again.
    try:
        program: str | list[str] = command if os.name == "nt" else shlex.split(command)
        completed = subprocess.run(
            program,
            capture_output=True,
            check=False,
            timeout=60,
        )
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"{what} command failed: {exc}") from None
    if completed.returncode != 0:
        raise UsageError(f"{what} command exited with {completed.returncode}")
    secret = completed.stdout.decode("utf-8", "replace").strip()
    if not secret:
        raise UsageError(f"{what} command printed nothing")
    return secret


def credentials(args: argparse.Namespace, url: ServerURL) -> Credentials:
    """The login name and a secret from the allowed sources."""
    user = args.user or url.user
    if not user:
        raise UsageError("no user: give --user or put it in the URL")
    if args.oauth2_token_command:
        return Credentials(
            user=user, oauth2_token=_run_secret_command(args.oauth2_token_command, "token")
        )
    if os.environ.get(TOKEN_VARIABLE):
        return Credentials(user=user, oauth2_token=os.environ[TOKEN_VARIABLE])
    if args.password_command:
        return Credentials(
            user=user, password=_run_secret_command(args.password_command, "password")
        )
    if os.environ.get(PASSWORD_VARIABLE):
        return Credentials(user=user, password=os.environ[PASSWORD_VARIABLE])
    if sys.stdin is not None and sys.stdin.isatty():
        return Credentials(user=user, password=getpass.getpass(f"Password for {user}: "))
    raise UsageError(
        f"no password: set {PASSWORD_VARIABLE}, use --password-command, or run on a terminal"
    )


def check_plaintext(args: argparse.Namespace, url: ServerURL) -> None:
    """``--allow-plaintext-auth`` only makes sense with an ``+insecure`` URL."""
    if getattr(args, "allow_plaintext_auth", False) and url.security is not Security.INSECURE:
        raise UsageError("--allow-plaintext-auth needs a +insecure URL")


def run_command(
    args: argparse.Namespace,
    body: Callable[[Callable[[str], None] | None], Coroutine[Any, Any, int]],
) -> int:
    """Run ``body`` with the transcript sink; map errors to messages and exit codes."""
    stream: TextIO | None = None
    sink: Sink | None = None
    try:
        if args.transcript == "-":
            sink = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
        elif args.transcript:
            stream = Path(args.transcript).open("w", encoding="utf-8", newline="\n")  # noqa: SIM115
            opened = stream
            sink = lambda line: print(line, file=opened, flush=True)  # noqa: E731
        return asyncio.run(body(sink))
    except UsageError as exc:
        print(f"mailcompat: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except errors.ConfigurationError as exc:
        print(f"mailcompat: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except errors.ClientError as exc:
        print(f"mailcompat: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        print(f"mailcompat: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if stream is not None:
            stream.close()
