"""``live --profile``: run the config ``tune`` chose for this device and keep the frame rate
when the device slows down (heat, another load) by stepping along the profile's frontier.

Down is quick (FPS below target for ``down_s``), up is slow and needs a margin (the slower
config, scaled by how fast the device runs now, must be predicted above target * ``up_margin``
for ``up_s``): hysteresis, so a run does not oscillate between two configs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from edgecam.errors import EdgecamError
from edgecam.options import LiveOptions
from edgecam.pipeline import Model, Stats

log = logging.getLogger(__name__)

SETTLE_S = 1.5  # after a switch, let the rate meter and caches forget the old model


def describe(config: dict) -> str:
    from edgecam.catalog import model_name

    name = config.get("name") or model_name(config["arch"], config["alpha"],
                                            config["resolution"], config.get("precision", "fp32"))
    return f"{name} x{config['threads']} thr"


class Adapter:
    """The pipeline's controller (``edgecam.pipeline.Controller``): ``adapter(stats, model)``
    once per frame returns a new model when it is time to switch. ``frontier`` is sorted
    fastest first; ``index`` is the config running now."""

    def __init__(self, frontier: list[dict], index: int, target_fps: float,
                 build: Callable[[dict], Model], notes: list[str] | None = None,
                 say: Callable[[str], None] = log.info, down_s: float = 3.0,
                 up_s: float = 10.0, up_margin: float = 1.2,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not frontier:
            raise EdgecamError("the profile's frontier is empty")
        self.frontier = frontier
        self.index = index
        self.top = index  # never above what tune chose
        self.target = target_fps
        self.build = build
        self.notes = notes if notes is not None else []
        self.note_at = len(self.notes)
        self.notes.append(self.note())
        self.say = say
        self.down_s, self.up_s, self.up_margin = down_s, up_s, up_margin
        self.clock = clock
        self.switched_at = clock()
        self.below_since: float | None = None
        self.above_since: float | None = None
        self.switches: list[str] = []
        self._models: dict[int, Model] = {}

    @property
    def current(self) -> dict:
        return self.frontier[self.index]

    def note(self) -> str:
        c = self.frontier[self.index]
        return f"config {describe(c)} (target {self.target:g} FPS)"

    def observed_fps(self, stats: Stats) -> float:
        """The frame rate the model sustains: the pipeline's rate, or when a paced source is
        slower than the model, what pre + infer + post per frame allows (a 15 FPS camera is
        not a reason to step down). The stage means cover the current model only."""
        ms = sum(stats.stages_ms.get(s, 0.0) for s in ("preprocess", "infer", "postprocess"))
        capacity = 1000.0 / ms if ms > 0 else 0.0
        return max(stats.fps, capacity)

    def __call__(self, stats: Stats, model: Model) -> Model | None:
        now = self.clock()
        if now - self.switched_at < SETTLE_S or stats.model_frames < 5:
            return None
        fps = self.observed_fps(stats)
        if fps < self.target and self.index > 0:
            self.above_since = None
            if self.below_since is None:
                self.below_since = now
            elif now - self.below_since >= self.down_s:
                why = (f"FPS {fps:.1f} < target {self.target:g} for "
                       f"{now - self.below_since:.0f} s")
                return self.switch(self.index - 1, why, model)
            return None
        self.below_since = None
        if self.index < self.top:
            # how the slower config would run now: its profile FPS, scaled by this slowdown
            here = self.current.get("fps") or fps
            slower = self.frontier[self.index + 1].get("fps") or 0.0
            expected = slower * fps / here
            if expected > self.target * self.up_margin:
                if self.above_since is None:
                    self.above_since = now
                elif now - self.above_since >= self.up_s:
                    why = (f"expected {expected:.1f} FPS > {self.up_margin:g} x target "
                           f"{self.target:g} for {now - self.above_since:.0f} s")
                    return self.switch(self.index + 1, why, model)
            else:
                self.above_since = None
        return None

    def switch(self, index: int, why: str, running: Model) -> Model:
        model = self._models.get(index)
        if model is None:
            model = self._models[index] = self.build(self.frontier[index])
        self._models[self.index] = running
        self.index = index
        self.switched_at = self.clock()
        self.below_since = self.above_since = None
        self.notes[self.note_at] = self.note()
        message = f"switching to {describe(self.current)}: {why}"
        self.switches.append(message)
        self.say(message)
        return model


def model_builder(opts: LiveOptions, weights: str | None) -> Callable[[dict], Model]:
    """Builds a pipeline Model for a frontier entry (exported on first use via the store)."""

    def build(config: dict) -> Model:
        from edgecam.runtime.engine import Engine

        return Model(Engine(resolve_config_model(config, weights), config["threads"],
                            config.get("provider") or opts.provider),
                     opts.top_k, opts.threshold, opts.smoothing)

    return build


def resolve_config_model(config: dict, weights: str | None) -> Path:
    """A frontier entry's ONNX file: a path, or a store name exported on first use."""
    from edgecam.store import resolve_model
    from edgecam.tune import config_model_ref

    return resolve_model(config_model_ref(config), weights or "imagenet")


def apply_profile(opts: LiveOptions, profile: str,
                  say: Callable[[str], None] = log.info) -> Adapter:
    """``--profile auto`` (this device's profile) or ``--profile FILE``: set the model and
    threads to the chosen config, show it, and install the adapter."""
    from edgecam.profiles import load_profile, this_device_profile

    if opts.model is not None:
        raise EdgecamError("--model and --profile both choose the model; give only one")
    if profile == "auto":
        path, data = this_device_profile()
    else:
        path, data = Path(profile), load_profile(Path(profile))
    # fastest first: index 0 is the fastest, the last one the most accurate
    frontier = sorted(data["frontier"], key=lambda c: -(c.get("fps") or 0.0))
    target = float(data["target_fps"])
    chosen = data.get("chosen")
    if chosen is None:
        index = 0
        say(f"profile {path.name}: no config reached {target:g} FPS when tuned; running the "
            "fastest")
    else:
        index = next((i for i, c in enumerate(frontier) if _same(c, chosen)),
                     len(frontier) - 1)
    config = frontier[index]
    opts.model = str(resolve_config_model(config, data.get("weights")))
    if opts.threads is None:
        opts.threads = config["threads"]
    if opts.provider is None:
        opts.provider = config.get("provider")
    adapter = Adapter(frontier, index, target, model_builder(opts, data.get("weights")),
                      notes=opts.notes, say=say)
    fps = config.get("fps")
    say(f"profile {path.name}: running {describe(config)}"
        + (f" ({fps:.1f} FPS when tuned" if fps else "")
        + (f", top-1 {config['top1']})" if fps and config.get("top1") else ")" if fps else "")
        + f", target {target:g} FPS, {len(frontier) - 1} faster fallback(s)")
    opts.controller = adapter
    return adapter


def _same(a: dict, b: dict) -> bool:
    keys = ("arch", "alpha", "resolution", "precision", "threads", "provider")
    return all(a.get(k) == b.get(k) for k in keys)
