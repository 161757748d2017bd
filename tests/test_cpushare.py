"""Passes disturbed by other processes: the share of the CPUs they used is read from /proc/stat,
and tune's Bench measures such a pass again (real busy processes, a real tiny model)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgecam.tune.measure import RETRIES, Bench
from edgecam.util.cpushare import OthersShare

from tiny_models import tiny_classifier

SPIN = "import time\nend = time.monotonic() + 60\nwhile time.monotonic() < end: pass"


@pytest.fixture
def busy_cpus() -> Iterator[None]:
    """One spinning process per CPU, started and running before the test measures."""
    import os

    procs = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(os.cpu_count() or 1)]
    time.sleep(0.5)
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_the_share_of_other_processes_is_seen(busy_cpus: None) -> None:
    with OthersShare() as others:
        time.sleep(0.5)  # this process idles; the spinners keep every CPU busy
    assert others.share is not None and others.share > 0.5


def test_own_work_is_not_counted_as_others() -> None:
    with OthersShare() as alone:
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            pass
    with OthersShare() as idle:
        time.sleep(0.3)
    assert alone.share is not None and idle.share is not None
    # whatever else the machine runs, spinning here did not add to the others' share
    assert alone.share <= idle.share + 0.3


def test_a_disturbed_pass_is_measured_again(busy_cpus: None, tmp_path: Path) -> None:
    model = tiny_classifier(tmp_path / "m.onnx", 32)
    bench = Bench(min_frames=5, min_s=0.1, max_s=0.5, warmup=1)
    fps = bench.pass_fps(model, 1)
    bench.release()
    assert fps > 0
    assert bench.reruns == RETRIES and bench.disturbed == 1 and bench.passes == 1
