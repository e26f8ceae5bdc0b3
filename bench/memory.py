"""Resident memory of a process, on every platform, and its peak over an operation.

Sources, best first:

* psutil (the ``bench`` extra), on Linux, macOS and Windows alike;
* ``/proc/PID/status`` (``VmRSS``), where there is a ``/proc`` (Linux);
* nothing else can read another live process's memory without psutil, so
  :class:`PeakRSS` then reports ``None`` and :data:`FALLBACK_MESSAGE` says
  why; for this process, :func:`resource.getrusage` still gives the lifetime
  peak on POSIX (``ru_maxrss``).

The peak over an operation is sampled by a thread every few milliseconds:
the kernel's own high-water mark (``VmHWM``) cannot be reset per operation
portably, and a sampled peak is close enough for limits stated in megabytes.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from types import TracebackType

FALLBACK_MESSAGE = (
    "RSS not measured: install psutil (pip install -e '.[bench]') or run where /proc exists (Linux)"
)
MB = 1024 * 1024


def rss_source() -> str | None:
    """Which source :func:`rss` uses here: ``psutil``, ``/proc``, or None."""
    try:
        import psutil  # noqa: F401, PLC0415  (optional: the bench extra)
    except ImportError:
        # Linux only: under Wine a Windows process sees the host's /proc through Z:,
        # but Windows process ids are not Linux ones.
        linux = sys.platform.startswith("linux")
        return "/proc" if linux and Path("/proc/self/status").exists() else None
    return "psutil"


def rss(pid: int) -> int | None:
    """Current resident set size of ``pid`` in octets, or None where it cannot be read."""
    try:
        import psutil  # noqa: PLC0415  (optional: the bench extra)
    except ImportError:
        return _proc_rss(pid)
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return None


def _proc_rss(pid: int) -> int | None:
    status = Path(f"/proc/{pid}/status")
    try:
        text = status.read_text(encoding="utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None


def own_lifetime_peak() -> int | None:
    """This process's peak RSS since it started (POSIX ``ru_maxrss``), in octets."""
    try:
        import resource  # noqa: PLC0415  (POSIX only)
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is in kilobytes on Linux and in octets on macOS (getrusage(2)).
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


class PeakRSS:
    """Sample a process's RSS while a ``with`` block runs; ``peak`` and ``growth`` after.

    ``growth`` is the peak minus the RSS when the block began: the memory the
    operation itself needed, whatever the process held before.
    """

    def __init__(self, pid: int | None = None, *, interval: float = 0.005) -> None:
        self.pid = os.getpid() if pid is None else pid
        self.interval = interval
        self.start: int | None = None
        self.peak: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)

    @property
    def growth(self) -> int | None:
        """Peak minus the starting RSS, in octets (None where RSS cannot be read)."""
        if self.start is None or self.peak is None:
            return None
        return max(self.peak - self.start, 0)

    def _take(self) -> None:
        value = rss(self.pid)
        if value is not None and (self.peak is None or value > self.peak):
            self.peak = value

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._take()

    def __enter__(self) -> PeakRSS:
        self.start = rss(self.pid)
        self.peak = self.start
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._take()
