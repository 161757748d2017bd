"""``edgecam bench``: the whole pipeline (decode, preprocess, infer, postprocess, overlay) on
a source, with FPS, latency percentiles, per-stage times and memory."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from edgecam.commands.options import BenchOptions
from edgecam.models.store import resolve_model
from edgecam.pipeline.loop import Pipeline
from edgecam.pipeline.metrics import STAGES, rss_mb
from edgecam.pipeline.model import Model
from edgecam.runtime.engine import Engine
from edgecam.sources.factory import check_source_options, open_source
from edgecam.util.errors import EdgecamError
from edgecam.util.progress import Progress
from edgecam.util.signals import StopFlag

__all__ = ["BenchOptions", "BenchReport", "run_bench"]

SYNTHETIC = "synthetic://640x480"


@dataclass
class BenchReport:
    model: str
    model_path: str
    source: str
    frames: int
    threads: int
    provider: str
    fps: float
    latency_ms: dict[str, float]  # p50, p90
    stages_ms: dict[str, float]
    rss_mb: float

    def to_json(self) -> dict:
        return asdict(self)


def run_bench(opts: BenchOptions) -> BenchReport:
    """Measure ``frames`` frames after ``warmup``; the source loops if it is shorter."""
    uri = opts.source or SYNTHETIC
    check_source_options(uri)
    engine = Engine(resolve_model(opts.model), opts.threads, opts.provider, labels=opts.labels)
    wanted = opts.warmup + opts.frames
    frames: list[tuple[dict[str, float], float]] = []  # each result's stage ms, wall s since
    with Progress(wanted, "frames", desc="bench", enabled=opts.progress) as bar, \
            StopFlag() as stop:
        pipeline = Pipeline(Model(engine, top_k=5), stop=stop, overlay=opts.overlay)
        last = time.perf_counter()
        while len(frames) < wanted and not stop.is_set():  # a short source loops
            with open_source(uri) as source:
                before = len(frames)
                for result in pipeline.results(source, wanted - len(frames),
                                               prefetch=opts.prefetch):
                    now = time.perf_counter()
                    frames.append((result.ms, now - last))
                    last = now
                    bar.update(1)
                if len(frames) == before:
                    raise EdgecamError(f"{uri} gave no frames")
    measured = frames[opts.warmup:]
    if not measured:
        raise EdgecamError("interrupted before any frame was measured")
    wall = sum(r[1] for r in measured)
    latency = np.array([sum(r[0].values()) for r in measured])
    return BenchReport(
        model=engine.meta.name, model_path=str(engine.path), source=uri,
        frames=len(measured), threads=engine.threads, provider=engine.provider,
        fps=round(len(measured) / wall, 2) if wall > 0 else 0.0,
        latency_ms={"p50": round(float(np.percentile(latency, 50)), 3),
                    "p90": round(float(np.percentile(latency, 90)), 3)},
        stages_ms={s: round(float(np.mean([r[0].get(s, 0.0) for r in measured])), 3)
                   for s in STAGES},
        rss_mb=round(rss_mb(), 1))
