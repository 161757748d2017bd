"""``edgecam capture``: frames of a source saved as ``DIR/LABEL/*.jpg``, the layout ``edgecam
train`` reads, headless, one every ``--every`` seconds (``edgecam.sinks.labelled`` writes them;
the browser preview's capture button goes through the same folder writer)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecam.pipeline.regions import Region, parse_region, place
from edgecam.sinks.labelled import LabelFolder
from edgecam.sources.factory import open_source
from edgecam.util.errors import EdgecamError
from edgecam.util.signals import StopFlag


@dataclass(kw_only=True)
class CaptureOptions:
    """What ``capture`` takes, checked when made (the discipline of
    ``edgecam.commands.options``)."""

    source: str
    label: str
    out: Path
    count: int | None = 50  # None (or 0 on the command line): until the source ends or Ctrl-C
    every: float = 0.5  # seconds between saved frames (of the video's own time for files)
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    # --region NAME=X,Y,W,H: save that place of each frame, exactly as `live --region` will
    # crop it, so `train` learns what `live` sees
    region: Region | str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.region, str):
            self.region = parse_region(self.region)
        if self.count is not None and self.count < 1:
            raise EdgecamError(f"--count must be at least 1, got {self.count}")
        if self.every < 0:
            raise EdgecamError(f"--every must be 0 or more seconds, got {self.every}")


@dataclass
class CaptureSummary:
    saved: int
    folder: Path
    in_folder: int
    seconds: float
    interrupted: int = 0
    wanted: int | None = None

    def lines(self) -> list[str]:
        short = (f"; the source ended before {self.wanted}"
                 if self.wanted and self.saved < self.wanted and not self.interrupted else "")
        return [f"saved {self.saved} pictures to {self.folder} in {self.seconds:.1f} s "
                f"({self.in_folder} there now{short})"]


def _clock(src, index: int, timestamp: float, every: float) -> float:
    """When a frame was seen: now for live sources, the video's own clock for files (a 10 s
    clip gives 20 frames at 0.5 s), and for pictures one ``every`` each (all are saved)."""
    if src.live:
        return timestamp
    return index / src.fps if src.fps else index * every


def _crop(image: np.ndarray, region: Region | None) -> np.ndarray:
    if region is None:
        return image
    x, y, w, h = place([region], (image.shape[1], image.shape[0]))[0]
    return image[y:y + h, x:x + w]


def capture_frames(opts: CaptureOptions, advance: Callable[[int], None] = lambda n: None
            ) -> CaptureSummary:
    """Save frames of ``opts.source`` into ``opts.out/opts.label/``."""
    folder = LabelFolder(opts.out, opts.label)
    saved, due = 0, None
    start = time.monotonic()
    region = opts.region if isinstance(opts.region, Region) else None
    with StopFlag() as stop, open_source(opts.source, opts.width, opts.height, opts.fps) as src:
        if region is not None and src.size:  # a box that leaves the frame: said at once
            place([region], src.size)
        for frame in src:
            t = _clock(src, frame.index, frame.timestamp, opts.every)
            if due is None or t >= due:
                folder.save(_crop(frame.image, region))
                saved += 1
                advance(1)
                due = t + opts.every
            if stop.is_set() or (opts.count is not None and saved >= opts.count):
                break
    return CaptureSummary(saved, folder.folder, folder.existing(),
                          time.monotonic() - start, stop.exit_code, opts.count)
