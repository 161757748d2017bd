"""How many frames a file run gives onnxruntime per call: measured on this device, once per
model file, thread plan and machine, then remembered in ``~/.cache/edgecam/batch-sizes.json``.

Whether larger calls pay depends on the model, the CPU and how the threads are spread: on a
2-core x86 with one thread per inference, 4 frames per call cut MobileNetV2's time per frame and
did nothing for EfficientNet-Lite0. So it is measured, as the run will use it (``workers``
calls at once), on a random tensor: sizes interleaved over a few rounds, the median decides,
and a larger size must win by ``GAIN`` to be taken (it holds more frames in memory).
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecam.models.catalog import cache_dir
from edgecam.runtime.engine import Engine
from edgecam.util.atomic import write_whole
from edgecam.util.errors import EdgecamError

SIZES = (1, 2, 4, 8)
FRAMES = 16  # frames per size and round
ROUNDS = 2
GAIN = 0.05  # a larger size is taken only when it is this much faster per frame
MIN_FRAMES = 300  # a run this short does not pay for a first measurement (about 1-2 s)
MEASURED_NOW = "measured here now"


@dataclass
class BatchChoice:
    size: int
    how: str  # "measured", "remembered" or why it was not measured
    ms_per_frame: dict[int, float] = field(default_factory=dict)

    def describe(self) -> str:
        figures = ", ".join(f"{b}: {ms:.2f}" for b, ms in sorted(self.ms_per_frame.items()))
        detail = f" (ms/frame {figures})" if figures else ""
        return f"--batch {self.size}, {self.how}{detail}"


def cache_file() -> Path:
    return cache_dir() / "batch-sizes.json"


def cache_key(engine: Engine, workers: int) -> str:
    """The model file's content (by size and time) and path, the thread plan, the machine and
    the onnxruntime that measured it: a change in any of them measures again."""
    import onnxruntime as ort

    from edgecam.util.device import cpu_model

    st = engine.path.stat()
    model = f"{engine.path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
    parts = [model, engine.provider, str(engine.threads), str(workers), cpu_model(),
             ort.__version__]
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]


def measure(engine: Engine, workers: int, sizes: tuple[int, ...] = SIZES,
            frames: int = FRAMES, rounds: int = ROUNDS) -> dict[int, float]:
    """Median ms per frame of each size with ``workers`` calls at once, sizes interleaved
    (reversed every round, so a drift in the machine's speed favours none)."""
    if engine.fixed_batch is not None:  # only the size the model's input allows
        sizes = (engine.fixed_batch,)
    r = engine.meta.resolution
    rng = np.random.default_rng(0)
    tensors = {b: rng.standard_normal((b, 3, r, r), dtype=np.float32) for b in sizes}
    times: dict[int, list[float]] = {b: [] for b in sizes}
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(engine.run, [tensors[sizes[0]]] * workers))  # warm-up: arenas, caches
        for i in range(rounds):
            for b in (sizes if i % 2 == 0 else tuple(reversed(sizes))):
                calls = max(workers, -(-frames // b))
                t0 = time.perf_counter()
                list(pool.map(engine.run, [tensors[b]] * calls))
                times[b].append((time.perf_counter() - t0) * 1e3 / (calls * b))
    return {b: statistics.median(v) for b, v in times.items()}


def pick(ms_per_frame: dict[int, float], gain: float = GAIN) -> int:
    """The smallest size no other beats by more than ``gain``."""
    best = min(ms_per_frame.values())
    return min(b for b, ms in ms_per_frame.items() if ms * (1 - gain) <= best)


def _load() -> dict:
    try:
        data = json.loads(cache_file().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _save(cached: dict, key: str, entry: dict) -> None:
    """``cached`` (what ``_load`` read) with ``entry`` added, written whole. Best effort: a
    read-only cache only means measuring again next time."""
    try:
        write_whole(cache_file(), json.dumps({**cached, key: entry}, indent=1))
    except EdgecamError:
        pass


def choose_batch(engine: Engine, workers: int, frames: int | None) -> BatchChoice:
    """The remembered size for this model and plan, else a measurement when the run is long
    enough (``frames`` known and at least ``MIN_FRAMES``), else 1."""
    if engine.fixed_batch is not None:  # nothing to measure: the model allows one size
        return BatchChoice(engine.fixed_batch,
                           f"the model's input takes {engine.fixed_batch} frame(s) per call")
    key = cache_key(engine, workers)
    cached = _load()
    entry = cached.get(key)
    if isinstance(entry, dict) and entry.get("size") in SIZES:
        return BatchChoice(entry["size"], "measured here before",
                           {int(b): ms for b, ms in entry.get("ms_per_frame", {}).items()})
    if frames is None or frames < MIN_FRAMES:
        return BatchChoice(1, f"not measured yet (runs from {MIN_FRAMES} frames measure it)")
    ms = measure(engine, workers)
    size = pick(ms)
    _save(cached, key, {
        "size": size, "ms_per_frame": {str(b): round(v, 3) for b, v in ms.items()},
        "model": str(engine.path), "threads": engine.threads, "workers": workers,
        "measured": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return BatchChoice(size, MEASURED_NOW, ms)
