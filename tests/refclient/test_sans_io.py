"""The protocol engines stay sans-IO: no sockets, TLS, event loop, clock or logging."""

from __future__ import annotations

import ast
from pathlib import Path

import refclient.protocol

FORBIDDEN = {"socket", "ssl", "asyncio", "time", "select", "selectors", "logging", "threading"}


def test_engines_import_no_io() -> None:
    root = Path(refclient.protocol.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []
    assert len(list(root.rglob("*.py"))) > 3  # the walk really saw the engines
