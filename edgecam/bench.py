"""``edgecam bench``: the whole pipeline (decode, preprocess, infer, postprocess, overlay) on
a source, with FPS, latency percentiles, per-stage times and memory."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from edgecam.errors import EdgecamError
from edgecam.handlers import overlay_handler
from edgecam.io.sources import check_source_options, open_source
from edgecam.metrics import STAGES, rss_mb
from edgecam.pipeline import Model, Pipeline, Result
from edgecam.progress import Progress
from edgecam.runtime.engine import Engine, check_threads
from edgecam.store import resolve_model

SYNTHETIC = "synthetic://640x480"


@dataclass
class BenchOptions:
    model: str | None = None
    source: str | None = None
    frames: int = 300
    warmup: int = 20
    threads: int | None = None
    overlay: bool = True
    prefetch: int = 3
    progress: bool | None = None
    provider: str | None = None  # --provider (None: auto)


def bench(opts: BenchOptions) -> dict:
    """Measure ``frames`` frames after ``warmup``; the source loops if it is shorter."""
    if opts.frames < 1:
        raise EdgecamError(f"--frames must be >= 1, got {opts.frames}")
    check_source_options(opts.source or SYNTHETIC)
    check_threads(opts.threads)
    engine = Engine(resolve_model(opts.model), opts.threads, opts.provider)
    model = Model(engine, top_k=5)
    uri = opts.source or SYNTHETIC
    pipeline = Pipeline(model)
    if opts.overlay:
        pipeline.handlers.append(overlay_handler(pipeline))
    per_frame: list[tuple[dict[str, float], float]] = []
    with Progress(opts.warmup + opts.frames, "frames", desc="bench",
                  enabled=opts.progress) as bar:
        last = [time.perf_counter()]

        def collect(result: Result) -> None:
            """This frame's stage times and the wall time since the previous result."""
            now = time.perf_counter()
            per_frame.append((dict(result.ms), now - last[0]))
            last[0] = now
            bar.update(1)

        pipeline.handlers.append(collect)
        done = 0
        while done < opts.warmup + opts.frames:
            with open_source(uri) as source:
                n = pipeline.run(source, opts.warmup + opts.frames - done, opts.prefetch)
            if n == 0:
                raise EdgecamError(f"{uri} gave no frames")
            done += n
    measured = per_frame[opts.warmup:]
    wall = sum(r[1] for r in measured)
    stages = {s: round(float(np.mean([r[0].get(s, 0.0) for r in measured])), 3)
              for s in STAGES}
    latency = np.array([sum(r[0].values()) for r in measured])
    return {
        "model": model.name,
        "model_path": str(engine.path),
        "source": uri,
        "frames": len(measured),
        "threads": engine.threads,
        "provider": engine.provider,
        "fps": round(len(measured) / wall, 2) if wall > 0 else 0.0,
        "latency_ms": {"p50": round(float(np.percentile(latency, 50)), 3),
                       "p90": round(float(np.percentile(latency, 90)), 3)},
        "stages_ms": stages,
        "rss_mb": round(rss_mb(), 1),
    }

