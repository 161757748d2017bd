"""Several cameras in one process on one engine (``live --source A --source B ...``).

Each camera keeps what a single-camera run has: its own newest-frame capture with reconnect
(its source), and its own smoothing and stats (its own ``Pipeline`` on a ``Model`` sharing the
engine). One loop waits for any camera's next frame; the frames ready at that moment are
preprocessed into one tensor and inferred in one call (``batch``), which on a small CPU costs
less than one call per camera, and each camera's pipeline then delivers its own result (cameras
watching regions classify their regions in one call per frame of their own).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

from edgecam.pipeline.loop import Pipeline
from edgecam.pipeline.result import Result
from edgecam.sources.frames import Frame, Source


def camera_results(pipelines: Sequence[Pipeline], sources: Sequence[Source],
                   max_frames: int | None = None, batch: bool = True,
                   poll_s: float = 0.25, done: list[int] | None = None) -> Iterator[Result]:
    """Every camera's results until stopped, every camera ended or each had ``max_frames``;
    ``done`` (one count per camera) counts the frames of each.

    Sources that are not live (a video file standing in for a camera) always have a next
    frame, so they run as fast as the model; live ones give their newest frame."""
    arrived = threading.Event()
    for source in sources:
        if hasattr(source, "arrived"):
            source.arrived = arrived
    stop = pipelines[0].stop
    done = done if done is not None else [0] * len(sources)
    active = [True] * len(sources)
    while not stop.is_set() and any(active):
        if all(s.live for s, a in zip(sources, active) if a):
            arrived.wait(poll_s)
        arrived.clear()
        ready: list[tuple[int, Frame, float]] = []
        for i, source in enumerate(sources):
            if not active[i]:
                continue
            t0 = time.perf_counter()
            frame = source.read(0)
            read_ms = (time.perf_counter() - t0) * 1e3
            if frame is not None:
                ready.append((i, frame, read_ms))
            elif source.state == "ended":
                active[i] = False
            elif source.state == "reconnecting":
                pipelines[i].idle()
        if not ready:
            continue
        if batch and len(ready) > 1 and not any(p.model.regions for p in pipelines):
            yield from _infer_together(pipelines, ready)
        else:
            for i, frame, read_ms in ready:
                yield from pipelines[i].frame_results(frame, read_ms)
        for i, _, _ in ready:
            done[i] += 1
            if max_frames is not None and done[i] >= max_frames:
                active[i] = False


def _infer_together(pipelines: Sequence[Pipeline], ready: list[tuple[int, Frame, float]]
                    ) -> Iterator[Result]:
    """One session call for the frames of several cameras; each pipeline postprocesses and
    delivers its own row (its smoothing, its stats, its sinks)."""
    first = pipelines[ready[0][0]]
    engine = first.model.engine
    tensor = first.model.pre.new_buffer(len(ready))
    prepared = [pipelines[i].prepare([frame], read_ms, out=[tensor[row:row + 1]])
                for row, (i, frame, read_ms) in enumerate(ready)]
    t0 = time.perf_counter()
    logits = engine.run(tensor)
    infer_ms = (time.perf_counter() - t0) * 1e3 / len(ready)
    for row, ((i, frame, _), batch) in enumerate(zip(ready, prepared)):
        yield from pipelines[i].deliver([frame], [logits[row:row + 1]], {
            "decode": batch.decode_ms, "preprocess": batch.preprocess_ms, "infer": infer_ms})
