"""``live --profile``: run the config ``tune`` chose for this device and keep the frame rate
when the device slows down (heat, another load) by stepping along the profile's ladder of
measured configs.

Decisions rest on the delivered frame rate (results handed to the sinks per second, over the
last couple of seconds). Down: delivered below target for ``down_s`` while the work per frame
is what limits it (when the pipeline could do the target and waits for frames, the source is
slower than the target: said once, never stepped down for).
Up: only by a measured probe: after ``dwell_s`` on a lower rung, when the next slower rung is
expected to reach the target with a margin, it runs for ``probe_s``; it stays when it delivers
the target, else the run goes back and waits twice as long before the next probe, so it never
oscillates.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from edgecam.pipeline.model import Model
from edgecam.pipeline.result import Stats
from edgecam.runtime.unknown import ThresholdLike
from edgecam.tune.profiles import Rung
from edgecam.util.errors import EdgecamError

log = logging.getLogger(__name__)

SETTLE_S = 1.0  # after a switch: warm-up frames of the new model are not counted
WINDOW_S = 2.0  # the delivered frame rate is measured over this much time
STAGES = ("preprocess", "infer", "postprocess", "overlay")


class Adapter:
    """The pipeline's controller (``edgecam.pipeline.loop.Controller``): ``adapter(stats, model)``
    once per frame returns a new model when it is time to switch. ``ladder`` is sorted
    fastest first; ``index`` is the rung running now, never above the chosen one."""

    def __init__(self, ladder: list[Rung], index: int, target_fps: float,
                 build: Callable[[Rung], Model], notes: list[str] | None = None,
                 say: Callable[[str], None] = log.info, down_s: float = 3.0,
                 dwell_s: float = 10.0, probe_s: float = 3.0, up_margin: float = 1.1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not ladder:
            raise EdgecamError("the profile's ladder is empty")
        self.ladder = ladder
        self.index = index
        self.top = index
        self.target = target_fps
        self.build = build
        self.notes = notes if notes is not None else []
        self.note_at = len(self.notes)
        self.notes.append(self.note())
        self.say = say
        self.down_s, self.dwell_s, self.probe_s = down_s, dwell_s, probe_s
        self.up_margin = up_margin
        self.clock = clock
        self.switched_at = clock()
        self.below_since: float | None = None
        self.above_since: float | None = None
        self.probe_from: int | None = None  # the rung to go back to if the probe fails
        self.backoff = 1.0
        self.source_said = False
        self.source_since: float | None = None
        self.samples: deque[tuple[float, int]] = deque()
        self.switches: list[dict] = []  # {"at", "to", "reason"}
        self.usage: list[list] = [[self.current.describe(), 0.0]]  # [config, seconds]
        self._models: dict[int, Model] = {}

    @property
    def current(self) -> Rung:
        return self.ladder[self.index]

    def note(self) -> str:
        return f"config {self.current.describe()} (target {self.target:g} FPS)"

    # -- measuring ---------------------------------------------------------------------------

    def delivered(self, now: float, frames: int) -> float | None:
        """Results per second over the last ``WINDOW_S`` of the current rung (None until the
        window is full)."""
        self.samples.append((now, frames))
        while len(self.samples) > 2 and now - self.samples[1][0] >= WINDOW_S:
            self.samples.popleft()
        t0, f0 = self.samples[0]
        if now - t0 < WINDOW_S * 0.9:
            return None
        return (frames - f0) / (now - t0)

    def capacity(self, stats: Stats) -> float:
        """What the pipeline could deliver if frames came at once: 1000 / busy ms per frame.
        Only says why the delivered rate is low (the source, or the work); never decides."""
        busy_ms = sum(stats.stages_ms.get(s, 0.0) for s in STAGES)
        return 1000.0 / busy_ms if busy_ms > 0 else float("inf")

    # -- deciding ----------------------------------------------------------------------------

    def __call__(self, stats: Stats, model: Model) -> Model | None:
        now = self.clock()
        self.usage[-1][1] = now - self.switched_at
        if now - self.switched_at < SETTLE_S or stats.model_frames < 3:
            self.samples.clear()
            return None
        fps = self.delivered(now, stats.frames)
        if fps is None:
            return None
        if self.probe_from is not None:
            return self._end_probe(now, fps, model)
        if fps < self.target:
            self.above_since = None
            self.below_since = self.below_since if self.below_since is not None else now
            if self.capacity(stats) >= self.target:  # the pipeline waits for frames
                self.source_since = self.source_since if self.source_since is not None else now
                if not self.source_said and now - self.source_since >= self.down_s:
                    self.source_said = True
                    self.say(f"the source delivers {fps:.1f} FPS, below the target "
                             f"{self.target:g}: not stepping down for it")
                return None
            self.source_since = None
            if now - self.below_since >= self.down_s and self.index > 0:
                return self.switch(self.index - 1, model, f"delivered {fps:.1f} FPS < target "
                                   f"{self.target:g} for {now - self.below_since:.0f} s")
            return None
        self.below_since = self.source_since = None
        if self.index >= self.top or now - self.switched_at < self.dwell_s * self.backoff:
            return None
        here = self.current.fps or fps
        slower = self.ladder[self.index + 1].fps or 0.0
        expected = fps * slower / here  # the slower rung at this rung's share of its tuned FPS
        if expected < self.target * self.up_margin:
            self.above_since = None
            return None
        self.above_since = self.above_since if self.above_since is not None else now
        if now - self.above_since < self.probe_s:
            return None
        self.probe_from = self.index
        return self.switch(self.index + 1, model, f"probe: {fps:.1f} FPS here, expected "
                           f"{expected:.1f} >= {self.up_margin:g} x target {self.target:g}")

    def _end_probe(self, now: float, fps: float, model: Model) -> Model | None:
        if now - self.switched_at < SETTLE_S + self.probe_s:
            return None
        back, self.probe_from = self.probe_from, None
        assert back is not None  # called during a probe
        if fps >= self.target:
            self.backoff = 1.0
            self.say(f"kept {self.current.describe()}: delivered {fps:.1f} FPS >= target "
                     f"{self.target:g} in the probe")
            return None
        self.backoff = min(8.0, self.backoff * 2)
        return self.switch(back, model, f"probe delivered {fps:.1f} FPS < target "
                           f"{self.target:g} over its last {WINDOW_S:g} s; next probe in "
                           f"{self.dwell_s * self.backoff:.0f} s")

    def switch(self, index: int, running: Model, why: str) -> Model:
        model = self._models.get(index)
        if model is None:
            model = self._models[index] = self.build(self.ladder[index])
        self._models[self.index] = running
        self.index = index
        now = self.clock()
        self.switched_at = now
        self.below_since = self.above_since = self.source_since = None
        self.samples.clear()
        self.notes[self.note_at] = self.note()
        self.usage.append([self.current.describe(), 0.0])
        self.switches.append({"to": self.current.describe(), "reason": why})
        self.say(f"switching to {self.current.describe()}: {why}")
        if getattr(running, "regions", ()):  # the places the run watches stay watched
            return running.with_engine(model.engine)
        return model

    def summary(self) -> str:
        """The models used and for how long, in order."""
        return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.usage)


def model_builder(weights: str | None, provider: str | None, top_k: int,
                  threshold: ThresholdLike, smoothing: float) -> Callable[[Rung], Model]:
    """Builds a pipeline Model for a ladder rung (exported on first use via the store), each
    with its own rejection rule under the same ``--threshold``."""

    def build(rung: Rung) -> Model:
        from edgecam.runtime.engine import Engine

        return Model(Engine(rung_model(rung, weights), rung.threads, rung.provider or provider),
                     top_k, threshold, smoothing)

    return build


def rung_model(rung: Rung, weights: str | None) -> Path:
    """A ladder rung's ONNX file: a path, or a store name exported on first use."""
    from edgecam.models.store import resolve_model

    return resolve_model(rung.model_ref(), weights or "imagenet")
