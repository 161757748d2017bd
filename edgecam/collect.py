"""Collecting a data set: frames of a source saved as ``DIR/LABEL/*.jpg``, the layout
``edgecam train`` reads. ``edgecam capture`` does it headless; the browser preview's capture
button does it through the same ``LabelFolder``.

Each picture is written under a temporary name and renamed, so a folder never holds half a
JPEG (Ctrl-C, a full disk); names carry the time and a counter, so captures never overwrite.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgecam.atomic import publish
from edgecam.errors import EdgecamError
from edgecam.io.media import is_image_path
from edgecam.io.sources import open_source
from edgecam.signals import StopFlag


def check_label(label: str) -> str:
    """A class name is a folder name: any characters but a path separator, not empty, not
    ``.``/``..``, not hidden (the data set reader skips hidden folders)."""
    name = (label or "").strip()
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise EdgecamError(f"label {label!r} cannot be a folder name; give a class name "
                           "without '/' (it becomes DIR/LABEL/)")
    if name.startswith("."):
        raise EdgecamError(f"label {label!r} starts with '.', which makes a hidden folder")
    return name


class LabelFolder:
    """``LabelFolder(out, label).save(image) -> path``; safe to call from several threads."""

    def __init__(self, out: str | Path, label: str, quality: int = 95) -> None:
        self.label = check_label(label)
        self.folder = Path(out) / self.label
        self.quality = quality
        self._lock = threading.Lock()
        self._count = 0
        self.saved = 0  # pictures this folder object saved
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EdgecamError(f"cannot create {self.folder}: {exc.strerror}") from None
        if not os.access(self.folder, os.W_OK):
            raise EdgecamError(f"cannot write to {self.folder}: permission denied")

    def existing(self) -> int:
        return sum(1 for p in self.folder.iterdir() if p.is_file() and is_image_path(p.name))

    def save(self, image: np.ndarray) -> Path:
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise EdgecamError("cannot encode the frame as JPEG")
        with self._lock:
            self._count += 1
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = self.folder / f"{stamp}-{os.getpid()}-{self._count:05d}.jpg"
        fd, tmp = tempfile.mkstemp(suffix=".jpg.tmp", prefix=".", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(jpeg.tobytes())
            publish(tmp, path)
            with self._lock:
                self.saved += 1
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise EdgecamError(f"cannot write {path}: {exc.strerror or exc}") from None
        return path


@dataclass
class CaptureOptions:
    source: str
    label: str
    out: Path
    count: int | None = 50  # None: until the source ends or Ctrl-C
    every: float = 0.5  # seconds between saved frames (of the video's own time for files)
    width: int | None = None
    height: int | None = None
    fps: float | None = None


@dataclass
class CaptureSummary:
    saved: int
    folder: Path
    in_folder: int
    seconds: float
    interrupted: int = 0


def _clock(src, index: int, timestamp: float, every: float) -> float:
    """When a frame was seen: now for live sources, the video's own clock for files (a 10 s
    clip gives 20 frames at 0.5 s), and for pictures one ``every`` each (all are saved)."""
    if src.live:
        return timestamp
    return index / src.fps if src.fps else index * every


def capture(opts: CaptureOptions, advance: Callable[[int], None] = lambda n: None
            ) -> CaptureSummary:
    """Save frames of ``opts.source`` into ``opts.out/opts.label/``."""
    if opts.count is not None and opts.count < 1:
        raise EdgecamError(f"--count must be at least 1, got {opts.count}")
    if opts.every < 0:
        raise EdgecamError(f"--every must be 0 or more seconds, got {opts.every}")
    folder = LabelFolder(opts.out, opts.label)
    saved, due = 0, None
    start = time.monotonic()
    with StopFlag() as stop, open_source(opts.source, opts.width, opts.height, opts.fps) as src:
        for frame in src:
            t = _clock(src, frame.index, frame.timestamp, opts.every)
            if due is None or t >= due:
                folder.save(frame.image)
                saved += 1
                advance(1)
                due = t + opts.every
            if stop.is_set() or (opts.count is not None and saved >= opts.count):
                break
    return CaptureSummary(saved, folder.folder, folder.existing(),
                          time.monotonic() - start, stop.exit_code)
