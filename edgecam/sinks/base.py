"""The sink protocol: what every output (file, window, preview, MQTT) is to a run.

A run calls ``open(stream)`` when a source starts, ``write(result)`` for each of its results
(in order per stream; with ``classify --jobs`` several streams write at once, so a sink guards
what they share), ``end(stream, ok)`` when that source is done, and ``close(ok)`` once at the
end, however the run ends (``ok`` is False when it ended by an error). A sink only receives:
it never calls the pipeline; what it needs to know travels in the result (frame, top-k, stats,
stream).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgecam.pipeline.loop import Result, Stats
    from edgecam.sinks.preview_api import Studio
    from edgecam.sources.frames import Stream


class Sink:
    """Base class with do-nothing hooks: a sink overrides what it needs (at least ``write``).

    ``needs_image`` asks the pipeline to draw the overlay on frames before they arrive;
    ``needs_raw`` asks it to keep a copy of the frame as the camera gave it (``result.raw``);
    ``written`` lists the paths or addresses the sink produced, for the run's summary.
    """

    uri: str = ""
    needs_image: bool = False
    needs_raw: bool = False  # True: results carry ``raw``, the frame before the overlay

    def __init__(self) -> None:
        self.written: list[str] = []

    def targets(self) -> list[str]:
        """Files this sink will write, known before the run (two sinks must not share one)."""
        return []

    def open(self, stream: Stream) -> None:
        """A source starts sending results."""

    def write(self, result: Result) -> None:
        """Take one result; raise ``edgecam.util.signals.EndOfRun`` to end the run after it."""
        raise NotImplementedError

    def idle(self, stats: Stats, stream: Stream | None = None) -> None:
        """No new frame for a while from ``stream`` (a live source reconnecting); ``stats``
        says so."""

    def end(self, stream: Stream, ok: bool) -> None:
        """A source has sent its last result (``ok`` False: it failed)."""

    def close(self, ok: bool) -> None:
        """The run is over: finalize. Files end whole (a video finalized, JSON lines on a
        whole line) and appear at their final path; an error of this sink's own writing
        raises an EdgecamError after removing its temporary."""


@dataclass
class SinkOptions:
    """What the sink factory needs beyond a URI, built by keyword.

    ``inputs`` are the files the run reads: an output that is one of them is refused, and
    a directory output names its files after them. ``model_file`` is read too (an output
    there is refused the same way) but names nothing. ``live`` makes JSON lines files grow line
    by line so they can be tailed (and lets a video file take any source).
    """

    inputs: list[str] | None = None
    live: bool = False
    fps: float | None = None  # a video's rate when the source does not say
    model_file: str | None = None  # the ONNX file the run reads: never an output
    serve_token: str | None = None
    serve_names: list[str] | None = None  # Host names the preview answers to besides its own
    capture_dir: str | None = None  # the preview's capture button saves frames here
    studio: Studio | None = None  # the preview's region editor and train button
    events_keep: int = 1000  # snapshots an events folder keeps
    camera_names: list[str] | None = None  # MQTT topics per camera, in the sources' order
    ha_prefix: str | None = None  # Home Assistant's discovery prefix (None: no discovery)


class NullSink(Sink):
    """``/dev/null``: results go nowhere (timing a run without writing)."""

    def __init__(self, uri: str = "/dev/null") -> None:
        super().__init__()
        self.uri = uri

    def write(self, result: Result) -> None:
        """Nothing to keep."""
