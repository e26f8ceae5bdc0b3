"""Interleaved rounds, medians and ratios.

Peers are measured in the same run, alternating round by round (A B A B ...),
so that a machine that slows down part-way penalises every peer alike. The
result of a benchmark is the median time of each peer and each peer's ratio to
the baseline peer.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Peer = Callable[[], object]


@dataclass
class Result:
    """The measured times of one benchmark."""

    name: str
    baseline: str
    rounds: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def median(self, peer: str) -> float:
        """Median seconds of ``peer``."""
        return statistics.median(self.rounds[peer])

    def ratio(self, peer: str) -> float:
        """``peer``'s median over the baseline's median (below 1: faster than the baseline)."""
        return self.median(peer) / self.median(self.baseline)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "baseline": self.baseline,
            "peers": {
                peer: {
                    "median_s": self.median(peer),
                    "ratio_to_baseline": self.ratio(peer),
                    "rounds_s": times,
                }
                for peer, times in self.rounds.items()
            },
            "notes": self.notes,
        }

    def render(self) -> str:
        """A small table for the terminal."""
        lines = [f"{self.name} (baseline: {self.baseline})"]
        for peer in self.rounds:
            lines.append(
                f"  {peer:<28} median {self.median(peer) * 1000:9.1f} ms"
                f"   ratio {self.ratio(peer):5.2f}"
            )
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


def interleave(name: str, peers: Mapping[str, Peer], *, baseline: str, rounds: int) -> Result:
    """Run every peer ``rounds`` times, alternating, and keep each wall time."""
    result = Result(name=name, baseline=baseline, rounds={peer: [] for peer in peers})
    for _ in range(rounds):
        for peer, run in peers.items():
            start = time.perf_counter()
            run()
            result.rounds[peer].append(time.perf_counter() - start)
    return result


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "processor": platform.machine(),
    }


def write_json(results: list[Result], path: Path) -> None:
    """Write every result plus the machine description."""
    document = {"machine": machine(), "results": [result.to_dict() for result in results]}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
