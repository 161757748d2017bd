"""What the pipeline yields for each frame (a ``Result``) and the run's figures it carries (a
``Stats`` snapshot): the one contract between the loop, its users and every sink, so a sink
or a ``for result in edgecam.predict(...)`` loop never needs to ask the pipeline anything."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from edgecam.runtime.postprocess import Prediction
from edgecam.runtime.unknown import UNKNOWN
from edgecam.sources.frames import Frame, Stream

STATS_WINDOW = 30  # frames the stage-time means cover


@dataclass(frozen=True)
class Stats:
    """The run as of one result: what the overlay, the preview, MQTT and a controller read.

    ``stages_ms`` are means over the current model's last ``STATS_WINDOW`` frames only (never
    a model swapped out), ``model_frames`` counts that model's frames since it started.
    """

    fps: float = 0.0
    frames: int = 0
    model: str = ""
    model_frames: int = 0
    state: str = "starting"
    dropped: int = 0
    latency_ms: float = 0.0
    stages_ms: dict[str, float] = field(default_factory=dict)
    rss_mb: float = 0.0
    status: tuple[str, ...] = ()  # overlay lines: reconnecting, the running config...
    attempts: int = 0  # the source's ended attempts to reopen: moves while it reconnects
    camera: int = 0  # the stream's place in the run: a controller of several tells them apart

    def to_dict(self, top: Sequence[Prediction] = (), label: str | None = None) -> dict:
        """The JSON the preview's /stats.json and the MQTT heartbeat publish: ``label`` is the
        frame's answer (``Result.label``: the top-1 or "unknown")."""
        return {"fps": self.fps, "label": label, "top": [p.to_dict() for p in top],
                "model": self.model, "frames": self.frames, "dropped": self.dropped,
                "state": self.state, "latency_ms": self.latency_ms,
                "stages_ms": self.stages_ms, "rss_mb": self.rss_mb}


@dataclass(frozen=True)
class Change:
    """A region's state change: ``before`` is None for its first state; ``since`` is the
    source time the new label first appeared (it held from then on)."""

    before: str | None
    after: str
    since: float


@dataclass
class RegionResult:
    """One region's answer on one frame (the whole frame's, named "frame", when the run has
    no regions): its box in pixels (None: the whole frame as the model crops it), top-k, whether
    it is "unknown", and its state (the label that held for the hold time; None until one has),
    since when (the source's time, seconds) and the change this frame made, if any."""

    name: str
    box: tuple[int, int, int, int] | None
    top: list[Prediction]
    unknown: bool = False
    state: str | None = None
    since: float | None = None
    change: Change | None = None

    @property
    def label(self) -> str:
        return UNKNOWN if self.unknown else self.top[0].label

    def record(self) -> dict:
        return {"label": self.label, "top": [p.to_dict() for p in self.top],
                "state": self.state,
                "since": round(self.since, 3) if self.since is not None else None}


@dataclass
class Result:
    """One classified frame: the frame (annotated when the run draws the overlay), its top-k,
    this frame's stage times in ms, the run's stats, the stream it belongs to, ``raw``, the
    frame before the overlay when the run was asked to keep it, and ``unknown``: the model's
    rejection rule (or ``--threshold``) answered "unknown" (the top-k is kept whole)."""

    frame: Frame
    top: list[Prediction]
    ms: dict[str, float] = field(default_factory=dict)
    stats: Stats = field(default_factory=Stats)
    stream: Stream | None = None
    raw: np.ndarray | None = None
    unknown: bool = False
    # each region's answer and state, in the order given; the whole frame's alone when
    # ``whole`` (the run has no regions: then ``top`` and ``unknown`` are its answer, and
    # with regions the first region's)
    regions: list[RegionResult] = field(default_factory=list)
    whole: bool = True

    @property
    def changes(self) -> list[RegionResult]:
        """The regions whose state changed with this frame."""
        return [r for r in self.regions if r.change is not None]

    @property
    def label(self) -> str | None:
        """The answer: the top-1 label, or "unknown" (None only without predictions)."""
        if not self.top:
            return None
        return UNKNOWN if self.unknown else self.top[0].label

    def record(self) -> dict:
        """The JSON line every command writes: frame, source, its time in a video file
        (``time_ms``, kept as the file has it, so a variable frame rate survives), the model
        that made it (a run may switch models), the answer (``label``: the top-1 or
        "unknown", the best classes still in ``top``) and the top-k."""
        record: dict = {"frame": self.frame.index, "source": self.frame.source}
        if self.frame.time_ms is not None:
            record["time_ms"] = self.frame.time_ms
        record["model"] = self.stats.model
        if not self.whole:  # a run of regions has no answer for the whole frame
            record["regions"] = {r.name: r.record() for r in self.regions}
            return record
        record["label"] = self.label
        record["top"] = [p.to_dict() for p in self.top]
        return record
