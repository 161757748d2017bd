"""The pipeline's controller in a studio run: between frames it swaps in what the browser asked
for (a camera's new regions, a newly trained model). Everything slow (loading the new model,
checking its labels against the run's settings) happens before, off the pipeline's thread; the
switch itself only builds the new ``Model`` around ready engines, and a build that fails keeps
the running model (said in the log and to the asker), so an edit never ends a run.
"""

from __future__ import annotations

import logging
import threading
import time

from edgecam.pipeline.model import Controller, Model
from edgecam.pipeline.regions import Region
from edgecam.pipeline.result import Stats
from edgecam.runtime.engine import Engine
from edgecam.util.errors import EdgecamError

log = logging.getLogger(__name__)


class ModelSwitch:
    """``switch(stats, model)`` once per frame of each camera (``stats.camera``); returns a new
    model when the browser's wish differs from what runs. Until a trained model is switched
    in, ``inner`` (``live --profile``'s adapter) keeps stepping along its ladder; after, the
    trained model is what the user chose, and the ladder is left alone."""

    def __init__(self, inner: Controller | None = None) -> None:
        self.inner = inner
        self._lock = threading.Condition()
        self._engine: Engine | None = None  # the trained model every camera should run
        self._regions: dict[int, tuple[Region, ...]] = {}  # each camera's wanted regions
        self._running: dict[int, Model] = {}
        self._stats: dict[int, Stats] = {}
        self.failed: str | None = None  # why the last switch could not be made

    def __call__(self, stats: Stats, model: Model) -> Model | None:
        camera = stats.camera
        with self._lock:
            self._running[camera], self._stats[camera] = model, stats
            engine, regions = self._engine, self._regions.get(camera)
        new = model
        try:
            if engine is not None and model.engine is not engine:
                new = new.with_engine(engine)
            if regions is not None and new.regions != regions:
                new = new.with_regions(regions)
        except EdgecamError as exc:  # checked before it was asked for: a bug, not the user's
            log.warning("kept %s: %s", model.name, exc)
            with self._lock:
                self.failed = str(exc)
                self._engine = None if engine is not None else self._engine
                self._regions.pop(camera, None)
            return None
        if new is not model:
            with self._lock:
                self._running[camera] = new
                self._lock.notify_all()
            return new
        if self.inner is not None and engine is None:
            return self.inner(stats, model)
        return None

    # -- what the browser asks for (request threads) ------------------------------------------

    def running(self, camera: int) -> Model | None:
        """The model camera ``camera`` ran its newest frame with (None before its first)."""
        with self._lock:
            return self._running.get(camera)

    def fps(self, camera: int = 0) -> float | None:
        """The frame rate camera ``camera`` delivers now (None before its first frame)."""
        with self._lock:
            stats = self._stats.get(camera)
        return stats.fps if stats is not None else None

    def wanted_regions(self, camera: int) -> tuple[Region, ...] | None:
        with self._lock:
            return self._regions.get(camera)

    def set_regions(self, camera: int, regions: tuple[Region, ...]) -> None:
        """Camera ``camera`` watches ``regions`` from its next frame on. The new model is built
        here once, so what a swap checks is checked now and a region's own model is loaded
        here (once per run), not on the camera's thread."""
        with self._lock:
            model = self._running.get(camera)
        if model is not None:
            model.with_regions(regions)  # every check a swap would make, made here
        with self._lock:
            self._regions[camera] = regions

    def set_engine(self, engine: Engine) -> None:
        """Every camera runs ``engine`` from its next frame on (its own regions kept); refused
        here, with the old model kept, when it cannot run with the run's settings (a
        ``--threshold`` naming labels it lacks)."""
        with self._lock:
            models = list(self._running.values())
        for model in models:
            model.with_engine(engine)
        with self._lock:
            self._engine = engine
            self.failed = None

    def wait_for(self, engine: Engine, timeout: float) -> bool:
        """Whether every camera that ran a frame runs ``engine`` within ``timeout`` seconds
        (a camera sends no frame while it reconnects: then it switches with its next)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            return self._lock.wait_for(
                lambda: self._engine is not engine or all(
                    m.engine is engine for m in self._running.values()),
                timeout=max(0.0, deadline - time.monotonic())) and self._engine is engine
