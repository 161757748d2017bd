"""A model as the loop uses it: an onnxruntime engine with its pre- and postprocessing, and
the hook that may swap it for another between frames (``live --profile``)."""

from __future__ import annotations

from typing import Protocol

from edgecam.pipeline.result import Stats
from edgecam.runtime.engine import Engine
from edgecam.runtime.postprocess import Postprocessor
from edgecam.runtime.preprocess import Preprocessor
from edgecam.runtime.unknown import ThresholdLike, rejection_for


class Model:
    """An engine with its pre- and postprocessing: what the loop needs to turn a frame into
    predictions (swapped as a whole when the run adapts to a slower device).

    ``threshold`` is ``--threshold`` (``edgecam.runtime.unknown.Thresholds`` or what it
    parses): None answers "unknown" by the model's own calibrated rule, if it has one."""

    def __init__(self, engine: Engine, top_k: int = 5, threshold: ThresholdLike = None,
                 smoothing: float = 0.0) -> None:
        self.engine = engine
        self.meta = engine.meta
        self.pre = Preprocessor(engine.meta)
        self.rejection = rejection_for(engine.meta, threshold)
        self.post = Postprocessor(engine.meta.labels, top_k, smoothing,
                                  rejection=self.rejection)

    @property
    def name(self) -> str:
        return self.meta.name


class Controller(Protocol):
    """The pipeline's hook for changing models at run time (``live --profile``).

    Called in the pipeline's thread after each result has been taken by the consumer and
    before the next frame is prepared, with that result's stats and the model running now.
    Return a new ``Model`` to run from the next frame on (frames already prepared at another
    resolution are prepared again), or None to keep the current one; raise ``EndOfRun`` to
    end the run. It must be quick: it runs once per frame.
    """

    def __call__(self, stats: Stats, model: Model) -> Model | None: ...
