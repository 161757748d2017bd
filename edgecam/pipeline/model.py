"""A model as the loop uses it: what a frame is classified with (one or more onnxruntime
engines, each with its pre- and postprocessing), and the hook that may swap it for another
between frames (``live --profile``).

A run classifies the whole frame, or the regions it was given (``edgecam.pipeline.regions``):
each region is cropped from the original frame, preprocessed like a frame and classified with
its own smoothing and unknown rule; the regions that share an engine go through it in one
batched call per frame (a region with its own model: its own engine and call). The whole frame
is the view that covers it, so one code path serves both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from edgecam.pipeline.regions import Region, place
from edgecam.pipeline.result import Stats
from edgecam.runtime.engine import Engine
from edgecam.runtime.postprocess import Postprocessor, Prediction
from edgecam.runtime.preprocess import Preprocessor
from edgecam.runtime.unknown import ThresholdLike, rejection_for
from edgecam.util.errors import EdgecamError

WHOLE_FRAME = "frame"  # the view's name when the run watches the whole frame
HOLD_S = 1.0  # seconds a new label must last before a state changes (``--hold``)


@dataclass
class View:
    """One region (or the whole frame) as the model classifies it: its box in pixels once
    the frame size is known, its own preprocessing, postprocessing (smoothing, unknown rule)
    and hold time."""

    name: str
    region: Region | None
    pre: Preprocessor
    post: Postprocessor
    hold: float
    box: tuple[int, int, int, int] | None = None


@dataclass
class Group:
    """An engine and the views it classifies, all in one call per frame."""

    engine: Engine
    views: list[View]

    @property
    def rows(self) -> int:
        return len(self.views)


Answer = tuple[list[Prediction], bool]  # a view's top-k and whether it is "unknown"


class Model:
    """What the loop needs to turn a frame into predictions (swapped as a whole when the run
    adapts to a slower device).

    ``threshold`` is ``--threshold`` (``edgecam.runtime.unknown.Thresholds`` or what it
    parses): None answers "unknown" by the model's own calibrated rule, if it has one.
    ``regions`` are the places to classify instead of the whole frame; a region with its own
    model gets its engine from ``engines`` (the run loads each model once)."""

    def __init__(self, engine: Engine, top_k: int = 5, threshold: ThresholdLike = None,
                 smoothing: float = 0.0, *, regions: Sequence[Region] = (),
                 engines: Callable[[str], Engine] | None = None, hold: float = HOLD_S) -> None:
        self.engine = engine
        self.meta = engine.meta
        self.pre = Preprocessor(engine.meta)  # the whole frame's
        self.rejection = rejection_for(engine.meta, threshold)
        self.regions = tuple(regions)
        self.settings = (top_k, threshold, smoothing, hold)
        self._engines = engines
        self._size: tuple[int, int] | None = None  # the frame size the boxes were placed for
        self.groups: list[Group] = []
        if not self.regions:
            post = Postprocessor(engine.meta.labels, top_k, smoothing, rejection=self.rejection)
            self.groups.append(Group(engine, [View(WHOLE_FRAME, None, self.pre, post, hold)]))
            return
        by_engine: dict[int, Group] = {}
        for region in self.regions:
            own = self._engine_for(region)
            view = self._view(region, own, top_k, threshold, smoothing, hold)
            group = by_engine.get(id(own))
            if group is None:
                group = by_engine[id(own)] = Group(own, [])
                self.groups.append(group)
            group.views.append(view)

    def _engine_for(self, region: Region) -> Engine:
        if region.model is None:
            return self.engine
        if self._engines is None:
            raise EdgecamError(f"region {region.name!r} names its own model, which this run "
                               "cannot load")
        return self._engines(region.model)

    @staticmethod
    def _view(region: Region, engine: Engine, top_k: int, threshold: ThresholdLike,
              smoothing: float, hold: float) -> View:
        meta = engine.meta
        rule = region.threshold if region.threshold is not None else threshold
        try:
            rejection = rejection_for(meta, rule)
        except EdgecamError as exc:
            raise EdgecamError(f"region {region.name!r}: {exc}") from None
        # a region's crop is classified whole, unless its model was taught on centre crops
        pre = Preprocessor(meta, whole=None if meta.trained_with_centre_crop else True)
        post = Postprocessor(meta.labels, top_k, smoothing, rejection=rejection)
        return View(region.name, region, pre, post, hold if region.hold is None else region.hold)

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def views(self) -> list[View]:
        """Every view, in the order the regions were given."""
        order = {r.name: i for i, r in enumerate(self.regions)}
        return sorted((v for g in self.groups for v in g.views), key=lambda v: order.get(v.name, 0))

    def with_engine(self, engine: Engine) -> Model:
        """The same regions and settings on another main engine (a profile's rung)."""
        top_k, threshold, smoothing, hold = self.settings
        return Model(engine, top_k, threshold, smoothing, regions=self.regions,
                     engines=self._engines, hold=hold)

    def with_regions(self, regions: Sequence[Region]) -> Model:
        """The same engines and settings watching other places (the browser's region editor);
        an empty ``regions`` watches the whole frame again."""
        top_k, threshold, smoothing, hold = self.settings
        return Model(self.engine, top_k, threshold, smoothing, regions=regions,
                     engines=self._engines, hold=hold)

    # -- a batch of frames ---------------------------------------------------------------------

    def place(self, size: tuple[int, int]) -> None:
        """Each region's box in pixels of frames of ``size`` (width, height); one line naming
        the region when a box leaves the frame."""
        if not self.regions:
            return
        boxes = dict(zip((r.name for r in self.regions), place(self.regions, size)))
        for group in self.groups:
            for view in group.views:
                view.box = boxes[view.name]
        self._size = size

    def new_buffers(self, frames: int) -> list[np.ndarray]:
        """Input tensors for ``frames`` frames: one per engine, a row per view per frame."""
        return [g.views[0].pre.new_buffer(frames * g.rows) for g in self.groups]

    def fits(self, buffers: Sequence[np.ndarray], frames: int) -> bool:
        """Whether ``buffers`` were made for this model and hold ``frames`` frames."""
        return len(buffers) == len(self.groups) and all(
            b.shape[-1] == g.views[0].pre.resolution and b.shape[0] >= frames * g.rows
            for b, g in zip(buffers, self.groups))

    def fill(self, image: np.ndarray, row: int, buffers: Sequence[np.ndarray],
             fresh: bool = False) -> None:
        """Frame ``row`` of the batch: each view's crop, preprocessed, into its rows
        (``fresh``: with preprocessors of this call's own, another thread may use these)."""
        size = (image.shape[1], image.shape[0])
        if self.regions and self._size != size:
            self.place(size)
        for buf, group in zip(buffers, self.groups):
            first = row * group.rows
            for j, view in enumerate(group.views):
                pre = view.pre.copy() if fresh else view.pre
                pre(image, buf[first + j:first + j + 1], box=view.box)

    def run(self, buffers: Sequence[np.ndarray], frames: int) -> list[np.ndarray]:
        """Each engine's logits for the first ``frames`` frames of the batch."""
        return [g.engine.run(b[:frames * g.rows]) for b, g in zip(buffers, self.groups)]

    def answers(self, logits: Sequence[np.ndarray], frames: int) -> list[dict[str, Answer]]:
        """Per frame, each view's answer; each view's smoothing runs over its frames in
        order."""
        out: list[dict[str, Answer]] = [{} for _ in range(frames)]
        for rows, group in zip(logits, self.groups):
            k = group.rows
            for j, view in enumerate(group.views):
                for i, answer in enumerate(view.post.answers(rows[j::k][:frames])):
                    out[i][view.name] = answer
        return out


class Controller(Protocol):
    """The pipeline's hook for changing models at run time (``live --profile``).

    Called in the pipeline's thread after each result has been taken by the consumer and
    before the next frame is prepared, with that result's stats and the model running now.
    Return a new ``Model`` to run from the next frame on (frames already prepared at another
    resolution are prepared again), or None to keep the current one; raise ``EndOfRun`` to
    end the run. It must be quick: it runs once per frame.
    """

    def __call__(self, stats: Stats, model: Model) -> Model | None: ...
