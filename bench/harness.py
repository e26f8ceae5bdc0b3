"""Interleaved rounds, medians and ratios.

Peers are measured in the same run, alternating round by round (A B A B ...),
so that a machine that slows down part-way penalises every peer alike. The
result of a benchmark is the median time of each peer and each peer's ratio to
the baseline peer.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Peer = Callable[[], object]


@dataclass(frozen=True)
class Target:
    """One performance target of the issue: a measured value that must stay at or under a limit."""

    name: str
    value: float
    limit: float
    unit: str = ""

    @property
    def met(self) -> bool:
        """Whether the value is within the limit."""
        return self.value <= self.limit

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "value": self.value,
            "limit": self.limit,
            "unit": self.unit,
            "met": self.met,
        }

    def render(self) -> str:
        """One line: value, limit, verdict."""
        verdict = "met" if self.met else "NOT met"
        limit = f"limit {self.limit:g}{self.unit}"
        return f"{self.name}: {self.value:.3g}{self.unit} ({limit}) {verdict}"


@dataclass
class Result:
    """The measured times of one benchmark."""

    name: str
    baseline: str
    rounds: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: Measurements other than wall time, per peer (RSS, latency percentiles, throughput).
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)

    def metric(self, peer: str, name: str, value: float) -> None:
        """Record ``name`` of ``peer``, keeping the largest value seen over the rounds."""
        values = self.metrics.setdefault(peer, {})
        values[name] = max(value, values.get(name, value))

    def target(self, name: str, value: float, limit: float, unit: str = "") -> Target:
        """Record a target's verdict (value at or under ``limit``)."""
        target = Target(name, value, limit, unit)
        self.targets.append(target)
        return target

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
                    **({"metrics": self.metrics[peer]} if peer in self.metrics else {}),
                }
                for peer, times in self.rounds.items()
            },
            "notes": self.notes,
            "targets": [target.to_dict() for target in self.targets],
        }

    def render(self) -> str:
        """A small table for the terminal."""
        lines = [f"{self.name} (baseline: {self.baseline})"]
        for peer in self.rounds:
            lines.append(
                f"  {peer:<28} median {self.median(peer) * 1000:9.1f} ms"
                f"   ratio {self.ratio(peer):5.2f}"
                + "".join(
                    f"   {name} {value:.4g}" for name, value in self.metrics.get(peer, {}).items()
                )
            )
        lines.extend(f"  target: {target.render()}" for target in self.targets)
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


def interleave(
    name: str,
    peers: Mapping[str, Peer],
    *,
    baseline: str,
    rounds: int,
    self_timed: bool = False,
) -> Result:
    """Run every peer ``rounds`` times, alternating, and keep each wall time.

    With ``self_timed`` each peer returns the seconds of the part worth
    timing (a transfer without its login and clean-up), which are kept instead.
    """
    result = Result(name=name, baseline=baseline, rounds={peer: [] for peer in peers})
    for _ in range(rounds):
        for peer, run in peers.items():
            start = time.perf_counter()
            returned = run()
            elapsed = time.perf_counter() - start
            if self_timed:
                if not isinstance(returned, float):
                    raise TypeError(f"self-timed peer {peer} returned {returned!r}, not seconds")
                elapsed = returned
            result.rounds[peer].append(elapsed)
    return result


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpu_model": _cpu_model(),
        "cpus": os.cpu_count(),
        "memory_mb": _memory_mb(),
    }


def _cpu_model() -> str:
    """The CPU's marketing name where the system tells it (Linux /proc), else the platform's."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def _memory_mb() -> int | None:
    """Total physical memory in MB: psutil where installed, else Linux /proc, else unknown."""
    try:
        import psutil  # noqa: PLC0415  (optional: the bench extra)
    except ImportError:
        meminfo = Path("/proc/meminfo")
        if not meminfo.exists():
            return None
        for line in meminfo.read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
        return None
    return int(psutil.virtual_memory().total) // (1024 * 1024)


def write_json(results: list[Result], path: Path) -> None:
    """Write every result plus the machine description."""
    document = {"machine": machine(), "results": [result.to_dict() for result in results]}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
