"""How much of the machine other processes used over a stretch of time (Linux ``/proc/stat``).

A frame-rate pass on a shared machine measures the machine as much as the model: during one
pass of the regret benchmark another process took half the CPUs and a 2-thread config ran at
144 FPS between passes of 600. Knowing the share, a pass can be measured again.
"""

from __future__ import annotations

import os
import time


def busy_seconds() -> float | None:
    """CPU seconds every CPU spent not idle since boot, or None without ``/proc/stat``."""
    try:
        with open("/proc/stat") as fh:
            values = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system


class OthersShare:
    """``with OthersShare() as s: ...`` then ``s.share``: the share of all CPUs that other
    processes kept busy meanwhile (0.5 = one of two cores), None where it cannot be read."""

    def __init__(self) -> None:
        self.share: float | None = None

    def __enter__(self) -> OthersShare:
        self._busy, self._own, self._t = busy_seconds(), _own_seconds(), time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        busy, own = busy_seconds(), _own_seconds()
        elapsed = time.monotonic() - self._t
        if busy is None or self._busy is None or elapsed <= 0:
            return
        cpus = os.cpu_count() or 1
        others = (busy - self._busy) - (own - self._own)
        self.share = round(min(1.0, max(0.0, others / (cpus * elapsed))), 3)
