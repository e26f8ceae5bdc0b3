"""Every fuzz target on its saved inputs (regression cases) and on a few fixed shapes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.targets import TARGETS

CORPUS = Path(__file__).with_name("corpus")
SHAPES = [
    b"",
    b"\x00",
    b"\x05* 1 FETCH (BODY[] {5}\r\nhello)\r\nA0001 OK done\r\n",
    b"\x00" + b"(" * 300 + b"\r\n",
    b"\xff250-a\r\n250 b\r\n",
    b"\x01+OK\r\n.\r\n",
    b"a1 LOGIN {3}\r\n",
    b"id: x\ntitle: y\nsteps: [{imap.connect: {}}]\n",
]


def _cases() -> list[tuple[str, bytes]]:
    saved = [
        (path.parent.name, path.read_bytes())
        for path in sorted(CORPUS.glob("*/*"))
        if path.is_file() and path.parent.name in TARGETS
    ]
    return saved + [(name, shape) for name in TARGETS for shape in SHAPES]


@pytest.mark.parametrize(("target", "data"), _cases())
def test_only_documented_errors_escape(target: str, data: bytes) -> None:
    TARGETS[target](data)
