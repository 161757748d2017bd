"""``edgecam bench``: the whole pipeline (decode, preprocess, infer, postprocess, overlay) on
a source, with FPS, latency percentiles, per-stage times and memory."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from edgecam.commands.options import BenchOptions
from edgecam.pipeline.metrics import STAGES, rss_mb
from edgecam.run.driver import ModelSpec, Run
from edgecam.sources.factory import check_source_options, open_source
from edgecam.util.errors import EdgecamError
from edgecam.util.progress import Progress

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

    def lines(self) -> list[str]:
        stages = "  ".join(f"{k} {v:.2f}" for k, v in self.stages_ms.items())
        return [f"{self.model} on {self.source}, {self.provider}, {self.threads} threads: "
                f"{self.fps:.1f} FPS, latency p50 {self.latency_ms['p50']:.2f} ms "
                f"p90 {self.latency_ms['p90']:.2f} ms, RSS {self.rss_mb:.0f} MB",
                f"stages (ms): {stages}"]


def run_bench(opts: BenchOptions) -> BenchReport:
    """Measure ``frames`` frames after ``warmup``; the source loops if it is shorter."""
    uri = opts.source or SYNTHETIC
    check_source_options(uri)
    run = Run(ModelSpec(model=opts.model, threads=opts.threads, provider=opts.provider,
                        labels=opts.labels))
    engine = run.engine
    wanted = opts.warmup + opts.frames
    frames: list[tuple[dict[str, float], float]] = []  # each result's stage ms, wall s since
    with Progress(wanted, "frames", desc="bench", enabled=opts.progress) as bar, run:
        pipeline = run.pipeline(overlay=opts.overlay)
        last = time.perf_counter()
        while len(frames) < wanted and not run.stop.is_set():  # a short source loops
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
