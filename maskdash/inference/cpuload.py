"""How busy this machine's CPU is, right now: the share of all cores' time spent working over the
last seconds (Linux /proc/stat, sampled by one background thread per process; elsewhere the
1-minute load average per core). The Live page reads it when a camera starts, to ask the browser
for a frame size and rate that the CPU left can serve."""

from __future__ import annotations

import os
import threading
import time

SAMPLE_S = 1.0
SMOOTHING = 0.5  # weight of the newest sample: a busy spell shows within ~2 s and fades as fast


def _stat() -> tuple[int, int] | None:
    """(busy, total) jiffies of all cores since boot, or None where /proc/stat is not there."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


class CpuLoad:
    def __init__(self, sample_s: float = SAMPLE_S):
        self._sample_s = sample_s
        self._lock = threading.Lock()
        self._share: float | None = None
        self._thread: threading.Thread | None = None

    def _measure(self, seconds: float) -> float | None:
        a = _stat()
        time.sleep(seconds)
        b = _stat()
        if a is None or b is None or b[1] <= a[1]:
            return None
        return (b[0] - a[0]) / (b[1] - a[1])

    def _run(self) -> None:
        while True:
            share = self._measure(self._sample_s)
            if share is None:
                return
            with self._lock:
                self._share = share if self._share is None else SMOOTHING * share + (1 - SMOOTHING) * self._share

    def busy_share(self) -> float:
        """0 (idle) … 1 (every core busy)."""
        with self._lock:
            if self._share is None and self._thread is None:
                self._share = self._measure(0.2)  # a first figure now; the thread refines it
                if self._share is not None:
                    self._thread = threading.Thread(target=self._run, name="maskdash-cpuload", daemon=True)
                    self._thread.start()
            if self._share is not None:
                return max(0.0, min(1.0, self._share))
        try:
            return max(0.0, min(1.0, os.getloadavg()[0] / (os.cpu_count() or 1)))
        except OSError:
            return 0.0


_machine = CpuLoad()


def busy_share() -> float:
    return _machine.busy_share()
