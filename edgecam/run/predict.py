"""``edgecam.predict``: the pipeline as a Python iterator, for scripts that want the results
themselves rather than files (like Ultralytics' ``predict(stream=True)`` or a
jetson-inference loop)::

    import edgecam

    for result in edgecam.predict("clip.mp4"):
        print(result.frame.index, result.label, result.top[0].score, result.stats.fps)

Each ``Result`` is what every sink gets: the frame, its top-k, its answer (``label``: the top-1
or "unknown"), its stage times and the run's stats. Leaving the loop early closes the source
and stops the decode thread. It is a run like any command's (``edgecam.run.driver.Run``) with no
sinks, and it leaves the script's signal handlers alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from edgecam.pipeline.model import HOLD_S
from edgecam.pipeline.regions import Region, check_regions, parse_region
from edgecam.pipeline.result import Result
from edgecam.run.driver import ModelSpec, Run
from edgecam.runtime.engine import Engine
from edgecam.runtime.unknown import ThresholdLike
from edgecam.sources.factory import open_source
from edgecam.sources.frames import Source


def predict(source: str | int | Path | Source, model: str | Path | Engine | None = None, *,
            top_k: int = 5, threshold: ThresholdLike = None, smoothing: float = 0.0,
            threads: int | None = None, provider: str | None = None,
            max_frames: int | None = None, overlay: bool = False, batch: int = 1,
            workers: int = 1, regions: Sequence[str | Region] = (),
            hold: float = HOLD_S) -> Iterator[Result]:
    """Classify ``source`` (a URI as ``live --source`` takes it, a file, or a ``Source``) with
    ``model`` (an .onnx file, a model name, a ready ``Engine``, or the default pretrained one)
    and yield one ``Result`` per frame: every frame of a file in order, the newest frame of a
    camera. ``result.label`` is the answer: the top-1, or "unknown" when the model's calibrated
    rule (models made by ``edgecam train``) rejects the frame; ``threshold`` overrides the rule
    as ``--threshold`` does (0.8, ``"gate open=0.8"``, ``{"gate open": 0.8}``, 0 = never
    unknown). ``overlay`` draws the labels on ``result.frame.image``; ``batch`` and ``workers``
    speed up files as in ``classify``. ``regions`` (``"gate=480,360,160,120"`` as
    ``--region`` takes it, or ``Region`` objects) classifies those places instead of the whole
    frame: ``result.regions`` has each one's answer and its state, which changes when a new
    label has held for ``hold`` seconds of the source's time."""
    spec = ModelSpec(model=model, threads=threads, provider=provider, top_k=top_k,
                     threshold=threshold, smoothing=smoothing,
                     regions=check_regions(r if isinstance(r, Region) else parse_region(r)
                                           for r in regions), hold=hold)
    opened = (contextlib.nullcontext(source) if isinstance(source, Source)
              else open_source(str(source)))
    with Run(spec, signals=False) as run, opened as frames:
        yield from run.results(frames, max_frames=max_frames, overlay=overlay, batch=batch,
                               workers=workers)
