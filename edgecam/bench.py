"""``edgecam bench``: the whole pipeline (decode, preprocess, infer, postprocess, overlay) on
a source, with FPS, latency percentiles, per-stage times and memory."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from edgecam.errors import EdgecamError
from edgecam.io.sources import check_source_options, open_source
from edgecam.metrics import STAGES, rss_mb
from edgecam.options import BenchOptions
from edgecam.pipeline import Model, Result
from edgecam.progress import Progress
from edgecam.run import Run
from edgecam.runtime.engine import Engine, check_threads
from edgecam.sinks import Sink
from edgecam.store import resolve_model

__all__ = ["BenchOptions", "BenchReport", "bench"]

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


class FrameClock(Sink):
    """Each result's stage times and the wall time since the previous result."""

    def __init__(self, bar: Progress) -> None:
        super().__init__()
        self.bar = bar
        self.frames: list[tuple[dict[str, float], float]] = []
        self.last = time.perf_counter()

    def write(self, result: Result) -> None:
        now = time.perf_counter()
        self.frames.append((result.ms, now - self.last))
        self.last = now
        self.bar.update(1)


def bench(opts: BenchOptions) -> BenchReport:
    """Measure ``frames`` frames after ``warmup``; the source loops if it is shorter."""
    if opts.frames < 1:
        raise EdgecamError(f"--frames must be >= 1, got {opts.frames}")
    check_source_options(opts.source or SYNTHETIC)
    check_threads(opts.threads)
    engine = Engine(resolve_model(opts.model), opts.threads, opts.provider)
    uri = opts.source or SYNTHETIC
    wanted = opts.warmup + opts.frames
    with Progress(wanted, "frames", desc="bench", enabled=opts.progress) as bar:
        clock = FrameClock(bar)
        with Run([clock]) as run:
            pipeline = run.pipeline(Model(engine, top_k=5), overlay=opts.overlay)
            while len(clock.frames) < wanted and not run.stop.is_set():
                with open_source(uri) as source:
                    if run.stream(source, pipeline, max_frames=wanted - len(clock.frames),
                                  prefetch=opts.prefetch) == 0:
                        raise EdgecamError(f"{uri} gave no frames")
    measured = clock.frames[opts.warmup:]
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
