"""A region's state: the label it settled on, which changes only when a new label (including
"unknown") has held for ``hold`` seconds of the source's own time. A video file's clock is its
timestamps, so a file gives the same states at any speed (``--fast`` included); a camera's is
the wall clock; pictures count one second each. Every frame's answer may flicker; the state
does not, and only its changes become events.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from edgecam.pipeline.result import Change, RegionResult
from edgecam.runtime.unknown import UNKNOWN
from edgecam.sources.frames import Frame, Stream

if TYPE_CHECKING:
    from edgecam.pipeline.model import Answer, View


class StateTracker:
    """``tracker.update(label, t)`` once per frame, in order; a ``Change`` when the state
    changed with this frame."""

    def __init__(self, hold: float) -> None:
        self.hold = hold
        self.state: str | None = None
        self.since: float | None = None  # when the current state's label first appeared
        self._pending: str | None = None
        self._pending_since = 0.0

    def update(self, label: str, t: float) -> Change | None:
        if label == self.state:
            self._pending = None
            return None
        if label != self._pending:
            self._pending, self._pending_since = label, t
        if t - self._pending_since < self.hold:
            return None
        change = Change(self.state, label, self._pending_since)
        self.state, self.since = label, self._pending_since
        self._pending = None
        return change


def source_time(frame: Frame, stream: Stream | None) -> float:
    """The frame's time on its source's own clock, in seconds: a video file's position, a
    camera's wall-clock time (Unix seconds) of capture, a picture's place in the series."""
    if frame.time_ms is not None:
        return frame.time_ms / 1000.0
    if stream is not None and stream.kind == "live":
        return time.time() - (time.monotonic() - frame.timestamp)
    return float(frame.index)


class RegionStates:
    """The states of one stream's regions, by name (kept when the run swaps its model)."""

    def __init__(self) -> None:
        self.trackers: dict[str, StateTracker] = {}

    def update(self, views: Sequence[View], answers: Mapping[str, Answer], frame: Frame,
               stream: Stream | None) -> list[RegionResult]:
        """Each view's answer on ``frame`` with its state, in the views' order."""
        t = source_time(frame, stream)
        out = []
        for view in views:
            top, unknown = answers[view.name]
            tracker = self.trackers.get(view.name)
            if tracker is None:
                tracker = self.trackers[view.name] = StateTracker(view.hold)
            change = tracker.update(UNKNOWN if unknown else top[0].label, t)
            out.append(RegionResult(view.name, view.box, top, unknown, tracker.state,
                                    tracker.since, change))
        return out
