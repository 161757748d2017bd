"""What this machine offers the run: the CPUs this process may use and the CPU's name.
Light on purpose (no onnxruntime): options are checked with it before anything heavy loads."""

from __future__ import annotations

import os
import platform

from edgecam.util.errors import EdgecamError


def default_threads() -> int:
    """onnxruntime's own default (one per core) is right for one stream; capped by the CPUs
    this process may use (containers, taskset)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def check_threads(threads: int | None) -> int:
    """``--threads`` checked and defaulted (None: one per usable CPU). A count this machine
    cannot run in parallel is refused: onnxruntime's threads spin waiting for each other, so
    100 threads on 2 cores is slower by orders of magnitude (it looks like a hang)."""
    cores = default_threads()
    if threads is None:
        return cores
    if threads < 1:
        raise EdgecamError(f"--threads must be >= 1, got {threads}")
    if threads > cores:
        raise EdgecamError(f"--threads {threads} is more than the {cores} CPU(s) this process "
                           f"can use; give 1-{cores} (or leave it out for {cores})")
    return threads


def cpu_model() -> str:
    """The CPU's marketing name (/proc/cpuinfo on Linux, platform elsewhere)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware", "cpu model"):
                    if value.strip():
                        return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown-cpu"
