"""Coverage-guided fuzzing with atheris, where it is installed (``tox -e fuzz``).

``python -m tests.fuzz TARGET [libFuzzer options]``, e.g.
``python -m tests.fuzz imap-responses -runs=200000``; ``python -m tests.fuzz
all -runs=N`` runs each target in turn. A crash leaves its input as
``crash-*``: copy it into ``tests/fuzz/corpus/TARGET/`` so that it stays a
regression case.
"""

from __future__ import annotations

import subprocess
import sys

from tests.fuzz.targets import TARGETS


def main(argv: list[str]) -> int:
    """Fuzz one target (in this process) or all of them (one process each)."""
    if not argv or argv[0] not in (*TARGETS, "all"):
        print(f"usage: python -m tests.fuzz {{{'|'.join(TARGETS)}|all}} [libFuzzer options]")
        return 2
    name, options = argv[0], argv[1:]
    if name == "all":
        codes = [
            subprocess.call([sys.executable, "-m", "tests.fuzz", target, *options])
            for target in TARGETS
        ]
        return max(codes)
    try:
        import atheris  # noqa: PLC0415  (optional: only this entry point needs it)
    except ImportError:
        print("atheris is not installed (pip install atheris); hypothesis covers the same")
        return 0
    atheris.instrument_all()  # coverage of every module loaded so far: the parsers
    atheris.Setup([sys.argv[0], *options], TARGETS[name])
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
