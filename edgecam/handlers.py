"""What happens to a result: the overlay and the sinks, as small handlers the pipeline calls
in order (overlay first, so sinks that show or store the picture get it annotated)."""

from __future__ import annotations

import time
from collections.abc import Callable

from edgecam.io.overlay import draw_overlay
from edgecam.pipeline import Pipeline, Result


def overlay_handler(pipeline: Pipeline, status: Callable[[], list[str]] | None = None
                    ) -> Callable[[Result], None]:
    """Draw top-k, FPS and inference ms (and status lines) on the frame, timing itself."""

    def annotate(result: Result) -> None:
        t0 = time.perf_counter()
        lines = status() if status is not None else pipeline.status
        draw_overlay(result.frame.image, result.top, fps=pipeline.rate.fps or None,
                     infer_ms=result.ms.get("infer"), status=lines)
        result.ms["overlay"] = (time.perf_counter() - t0) * 1e3

    return annotate


def jsonl_handler(sink) -> Callable[[Result], None]:
    """One JSON line per result (``{"frame", "source", "top"}``)."""

    def write(result: Result) -> None:
        sink.write(result.record())

    return write


def mqtt_handler(publisher, pipeline: Pipeline, dropped: Callable[[], int] = lambda: 0
                 ) -> Callable[[Result], None]:
    """Prediction events when top-1 changes, plus the publisher's own rate-limited heartbeat."""

    def publish(result: Result) -> None:
        publisher.prediction([p.to_dict() for p in result.top], result.frame.index)
        publisher.stats(pipeline.stats(result.top, dropped()))

    return publish
