"""Frame rate, per-stage latency and memory, cheap enough to update on every frame."""

from __future__ import annotations

import os
import time
from collections import deque

import numpy as np

STAGES = ("decode", "preprocess", "infer", "postprocess", "overlay")


class RateMeter:
    """Frames per second over a sliding time window (steady, yet follows a slowdown in ~1 s)."""

    def __init__(self, window_s: float = 1.0) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque()

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._times.append(now)
        while len(self._times) > 2 and now - self._times[0] > self.window_s:
            self._times.popleft()

    @property
    def fps(self) -> float:
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


class StageTimes:
    """The last ``keep`` durations (ms) of each stage: means for the overlay, percentiles for
    ``bench``."""

    def __init__(self, keep: int = 2000) -> None:
        self.keep = keep
        self._ms: dict[str, deque[float]] = {}

    def add(self, stage: str, ms: float) -> None:
        buf = self._ms.get(stage)
        if buf is None:
            buf = self._ms[stage] = deque(maxlen=self.keep)
        buf.append(ms)

    def stages(self) -> list[str]:
        return list(self._ms)

    def last(self, stage: str) -> float:
        buf = self._ms.get(stage)
        return buf[-1] if buf else 0.0

    def mean(self, stage: str, last: int | None = None) -> float:
        buf = self._ms.get(stage)
        if not buf:
            return 0.0
        values = list(buf)[-last:] if last else buf
        return float(np.mean(values))

    def percentile(self, stage: str, q: float) -> float:
        buf = self._ms.get(stage)
        return float(np.percentile(np.asarray(buf), q)) if buf else 0.0

    def means(self, last: int | None = None) -> dict[str, float]:
        return {s: round(self.mean(s, last), 3) for s in self._ms}


def rss_mb() -> float:
    """Resident memory of this process now (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 1024 if os.uname().sysname != "Darwin" else peak / 2**20
