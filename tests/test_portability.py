"""The packages use no platform-specific API unguarded.

mailcompat runs on Linux, Windows and macOS (DESIGN.md, "Cross-platform").
A POSIX-only call (``os.fork``, ``signal.SIGALRM``, ``fcntl``,
``loop.add_signal_handler``, a hard-coded ``/tmp``) passes every test on
Linux and breaks only on Windows, and a Windows-only one (``signal.SIGBREAK``,
``msvcrt``) the other way round. This test reads the source of ``refclient``
and ``fakeservers`` with :mod:`ast` and names every such use that is not
guarded by a platform check (``sys.platform``, ``os.name``, ``hasattr``) or
by a ``try`` that catches what the other platform raises.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import fakeservers
import refclient

# Modules that exist on one family of platforms only.
PLATFORM_MODULES = frozenset(
    {
        # POSIX only.
        "fcntl",
        "grp",
        "posix",
        "pty",
        "pwd",
        "resource",
        "syslog",
        "termios",
        "tty",
        # Windows only.
        "_winapi",
        "msvcrt",
        "winreg",
        "winsound",
    }
)

# Attributes of standard modules that exist on one family of platforms only.
PLATFORM_ATTRIBUTES: dict[str, frozenset[str]] = {
    "os": frozenset(
        {
            "chown",
            "fork",
            "forkpty",
            "getgid",
            "getpgid",
            "getuid",
            "geteuid",
            "killpg",
            "mkfifo",
            "setpgrp",
            "setsid",
            "startfile",
            "uname",
            "wait3",
            "wait4",
            "WNOHANG",
        }
    ),
    "signal": frozenset(
        {
            "alarm",
            "getitimer",
            "pause",
            "pthread_kill",
            "pthread_sigmask",
            "setitimer",
            "siginterrupt",
            "sigwait",
            "SIGALRM",
            "SIGCHLD",
            "SIGCONT",
            "SIGHUP",
            "SIGKILL",
            "SIGPIPE",
            "SIGQUIT",
            "SIGSTOP",
            "SIGUSR1",
            "SIGUSR2",
            # Windows only.
            "CTRL_BREAK_EVENT",
            "CTRL_C_EVENT",
            "SIGBREAK",
        }
    ),
    "socket": frozenset({"AF_UNIX"}),
    "select": frozenset({"epoll", "kqueue", "poll"}),
    "asyncio": frozenset(
        {
            "open_unix_connection",
            "start_unix_server",
            "ProactorEventLoop",
            "WindowsProactorEventLoopPolicy",
            "WindowsSelectorEventLoopPolicy",
        }
    ),
    "subprocess": frozenset({"CREATE_NEW_PROCESS_GROUP"}),
}

# Event loop methods that raise NotImplementedError on Windows' Proactor loop.
PLATFORM_METHODS = frozenset({"add_reader", "add_signal_handler", "remove_signal_handler"})

# A fixed POSIX path as a whole string: use tempfile, tmp_path or os.devnull.
FIXED_PATH = re.compile(r"/(tmp|var/tmp|dev)(/|$)")

# Exceptions that a guarding ``try`` catches when the API is missing.
GUARD_EXCEPTIONS = frozenset(
    {"AttributeError", "ImportError", "ModuleNotFoundError", "NotImplementedError"}
)
GUARD_NAMES = frozenset({"hasattr", "getattr"})


@dataclass(frozen=True)
class Use:
    """One unguarded platform-specific use in a source file."""

    path: Path
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def _is_platform_test(test: ast.expr) -> bool:
    """Whether an ``if`` test looks at the platform or probes for the API."""
    for node in ast.walk(test):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in {"platform", "name", "system"}
            and isinstance(node.value, ast.Name)
            and node.value.id in {"sys", "os", "platform"}
        ):
            return True
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in GUARD_NAMES
        ):
            return True
    return False


def _catches_missing_api(handler: ast.ExceptHandler) -> bool:
    """Whether an ``except`` clause catches what a missing API raises."""
    if handler.type is None:
        return True
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(name, ast.Name) and name.id in GUARD_EXCEPTIONS for name in names)


def _guarded(ancestors: list[ast.AST]) -> bool:
    """Whether a node with these ancestors runs only where its API exists."""
    for node in ancestors:
        if isinstance(node, ast.If | ast.IfExp) and _is_platform_test(node.test):
            return True
        if isinstance(node, ast.Try) and any(_catches_missing_api(h) for h in node.handlers):
            return True
    return False


def _docstrings(tree: ast.Module) -> set[int]:
    """Ids of the docstring constants, which may quote paths freely."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _module_aliases(tree: ast.Module) -> dict[str, str]:
    """Local names bound to the standard modules of PLATFORM_ATTRIBUTES."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in PLATFORM_ATTRIBUTES:
                    aliases[alias.asname or alias.name] = alias.name
    return aliases


def _describe(node: ast.AST, aliases: dict[str, str], docstrings: set[int]) -> str | None:
    """What is platform-specific about this node, or None."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names if alias.name in PLATFORM_MODULES]
        return f"import {', '.join(names)}" if names else None
    if isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
        if node.module in PLATFORM_MODULES:
            return f"from {node.module} import ..."
        attributes = PLATFORM_ATTRIBUTES.get(node.module, frozenset())
        names = [alias.name for alias in node.names if alias.name in attributes]
        return f"from {node.module} import {', '.join(names)}" if names else None
    if isinstance(node, ast.Attribute):
        if isinstance(node.value, ast.Name) and node.value.id in aliases:
            module = aliases[node.value.id]
            if node.attr in PLATFORM_ATTRIBUTES[module]:
                return f"{module}.{node.attr}"
        if node.attr in PLATFORM_METHODS:
            return f".{node.attr}()"
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and FIXED_PATH.match(node.value)
    ):
        return f"fixed path {node.value!r}"
    return None


def unguarded_uses(source: str, path: Path) -> list[Use]:
    """Every platform-specific use in ``source`` that no platform check guards."""
    tree = ast.parse(source, filename=str(path))
    aliases = _module_aliases(tree)
    docstrings = _docstrings(tree)
    found: list[Use] = []

    def visit(node: ast.AST, ancestors: list[ast.AST]) -> None:
        what = _describe(node, aliases, docstrings)
        if what is not None and not _guarded(ancestors):
            found.append(Use(path, getattr(node, "lineno", 0), what))
        for child in ast.iter_child_nodes(node):
            visit(child, [*ancestors, node])

    visit(tree, [])
    return found


def package_sources() -> Iterator[Path]:
    """The Python files of the two packages, as imported by these tests."""
    for package in (refclient, fakeservers):
        yield from sorted(Path(package.__path__[0]).rglob("*.py"))


def test_the_packages_use_no_platform_specific_api_unguarded() -> None:
    sources = list(package_sources())
    assert len(sources) > 10, "the scan must see the packages' modules"
    uses = [use for path in sources for use in unguarded_uses(path.read_bytes().decode(), path)]
    listing = "\n".join(map(str, uses))
    assert not uses, f"platform-specific API without a platform check:\n{listing}"


UNGUARDED = {
    "fork": "import os\npid = os.fork()\n",
    "alarm": "import signal\nsignal.alarm(5)\n",
    "sigalrm alias": "import signal as s\nhandler = s.SIGALRM\n",
    "sigbreak": "import signal\nsignum = signal.SIGBREAK\n",
    "fcntl": "import fcntl\n",
    "msvcrt": "import msvcrt\n",
    "from os": "from os import fork\n",
    "signal handler": (
        "import signal\nasync def main(loop, stop):\n"
        "    loop.add_signal_handler(signal.SIGTERM, stop)\n"
    ),
    "unix server": "import asyncio\nasync def main(cb):\n    await asyncio.start_unix_server(cb)\n",
    "tmp": "from pathlib import Path\nstate = Path('/tmp/mailcompat')\n",
    "devnull": "sink = open('/dev/null', 'wb')\n",
    "wrong except": "import signal\ntry:\n    signal.alarm(1)\nexcept ValueError:\n    pass\n",
}

GUARDED = {
    "platform if": "import os, sys\nif sys.platform != 'win32':\n    os.fork()\n",
    "else branch": "import os\nif os.name == 'nt':\n    pass\nelse:\n    os.setsid()\n",
    "ternary": (
        "import signal, sys\n"
        "signum = signal.SIGBREAK if sys.platform == 'win32' else signal.SIGTERM\n"
    ),
    "hasattr": "import signal\nif hasattr(signal, 'SIGALRM'):\n    signal.alarm(1)\n",
    "getattr": "import signal\nsignum = getattr(signal, 'SIGBREAK', None)\n",
    "not implemented": (
        "import signal\nasync def main(loop, stop):\n    try:\n"
        "        loop.add_signal_handler(signal.SIGTERM, stop)\n"
        "    except NotImplementedError:\n        pass\n"
    ),
    "optional import": "try:\n    import fcntl\nexcept ImportError:\n    fcntl = None\n",
    "portable": "import signal, tempfile, os\nsignal.signal(signal.SIGTERM, print)\nos.devnull\n",
    "docstring": '"""State goes to /tmp/x on Linux only if the user says so."""\n',
    "text mentioning tmp": "help_text = 'a folder such as /tmp/state'\n",
}


@pytest.mark.parametrize("source", UNGUARDED.values(), ids=UNGUARDED.keys())
def test_an_unguarded_platform_specific_use_is_named(source: str) -> None:
    uses = unguarded_uses(source, Path("example.py"))
    assert len(uses) == 1, uses
    assert uses[0].line >= 1


@pytest.mark.parametrize("source", GUARDED.values(), ids=GUARDED.keys())
def test_a_guarded_or_portable_use_is_accepted(source: str) -> None:
    assert unguarded_uses(source, Path("example.py")) == []
