"""File-like sources: every frame of videos and pictures in order, none dropped, and a
synthetic test pattern as fast as it is asked for."""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterator

import cv2
import numpy as np

from edgecam.sources.frames import Frame, Source
from edgecam.sources.media import is_image_path, read_image
from edgecam.util.cvpath import video_capture
from edgecam.util.errors import EdgecamError
from edgecam.util.nativelogs import native_stderr_silenced

log = logging.getLogger(__name__)


class VideoFileSource(Source):
    """Every frame of a video file, in order, each with its own time in the file; or the
    frames [start, stop) only (one task of a long video split across machines), which keep
    their numbers in the file.

    When a whole file ends, what it did not deliver as declared is said once: fewer frames
    than the container announces (a truncated or damaged file), or frame intervals that vary
    (a variable frame rate: every frame is still classified, but an annotated video plays
    them at the average rate).
    """

    def __init__(self, path: str, start: int = 0, stop: int | None = None) -> None:
        self.uri = path
        self.start, self.stop = start, stop
        with native_stderr_silenced():
            self.cap = video_capture(path)
            if start and self.cap.isOpened():
                self._seek(start)
            ok, first = self.cap.read() if self.cap.isOpened() else (False, None)
        if (not ok or first is None) and not start:
            self.cap.release()
            raise EdgecamError(f"cannot decode video {path}: not a readable video file")
        self._first: np.ndarray | None = first if ok else None
        self._first_ms = self._position_ms()
        n = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.total = n if n > 0 else None
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 0 < fps < 1000 else None
        self.size = (first.shape[1], first.shape[0]) if ok and first is not None else None
        self.state = "running"

    def _seek(self, start: int) -> None:
        """Position on frame ``start``: FFmpeg's seek when it lands exactly there, else
        decoding from the beginning (slower, but never a frame off)."""
        self.cap.set(cv2.CAP_PROP_POS_FRAMES, start)
        if int(self.cap.get(cv2.CAP_PROP_POS_FRAMES)) == start:
            return
        self.cap.release()
        self.cap = video_capture(self.uri)
        for _ in range(start):
            if not self.cap.grab():
                break

    def _position_ms(self) -> float | None:
        ms = self.cap.get(cv2.CAP_PROP_POS_MSEC)
        return round(ms, 3) if math.isfinite(ms) and ms >= 0 else None

    def __iter__(self) -> Iterator[Frame]:
        index = self.start
        times = IntervalRange()
        while self.stop is None or index < self.stop:
            if self._first is not None:
                image, self._first = self._first, None
                at = self._first_ms
            else:
                ok, image = self.cap.read()
                if not ok:
                    break
                at = self._position_ms()
            times.add(at)
            yield Frame(image, index, self.uri, time.monotonic(), at)
            index += 1
        self.state = "ended"
        if not self.start and self.stop is None:
            self._report(index, times)

    def _report(self, decoded: int, times: IntervalRange) -> None:
        name = os.path.basename(self.uri)
        if self.total and decoded < self.total * 0.98 - 1:
            log.warning("%s: decoded %d of the %d frames its container declares (the file is "
                        "truncated or damaged)", name, decoded, self.total)
        if times.variable:
            log.warning("%s has a variable frame rate (frames %.0f-%.0f ms apart): all %d "
                        "frames were classified and the JSON lines carry each one's time_ms; "
                        "an annotated video plays them evenly at %.2f FPS",
                        name, times.low, times.high, decoded, self.fps or 30.0)

    def close(self) -> None:
        self.cap.release()


class RepeatedVideo(Source):
    """Every frame of a video file, again and again, numbered on (``live --loop --fast``)."""

    def __init__(self, path: str) -> None:
        self.uri = path
        self._video = VideoFileSource(path)
        self.fps, self.size = self._video.fps, self._video.size
        self.state = "running"

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        while True:
            delivered = 0
            for frame in self._video:
                frame.index = index
                index += 1
                delivered += 1
                yield frame
            self._video.close()
            if not delivered:
                self.state = "ended"
                return
            self._video = VideoFileSource(self.uri)

    def close(self) -> None:
        self._video.close()


class IntervalRange:
    """The shortest and longest gap between successive frame times: a variable frame rate
    when they differ by more than a quarter (timestamps are rounded to the time base)."""

    def __init__(self) -> None:
        self.last: float | None = None
        self.low = math.inf
        self.high = 0.0

    def add(self, at: float | None) -> None:
        if at is not None and self.last is not None and at > self.last:
            gap = at - self.last
            self.low, self.high = min(self.low, gap), max(self.high, gap)
        self.last = at if at is not None else self.last

    @property
    def variable(self) -> bool:
        return self.high > 0 and self.high > 1.25 * self.low + 1.0


Skip = Callable[[str, EdgecamError], None]


class FileListSource(Source):
    """Images and videos one after another (a directory, a glob, one image). Images are
    numbered in order among themselves; a video's frames keep their own numbers.

    With ``on_skip``, a file that cannot be read (a damaged picture, a video that does not
    open) is handed to it and passed over, keeping its number, so one bad file among many
    costs that file only; without, it ends the run as an error."""

    def __init__(self, paths: list[str], uri: str, first_index: int = 0,
                 on_skip: Skip | None = None) -> None:
        self.paths = paths
        self.uri = uri
        self.first_index = first_index  # pictures continue the numbering of earlier ones
        self.on_skip = on_skip
        self.state = "running"
        self.pictures = all(is_image_path(p) for p in paths)
        self._first: tuple[int, np.ndarray] | None = None
        self._skipped: set[int] = set()
        if self.pictures:
            self.total = len(paths)
            for i, path in enumerate(paths):  # the first readable one gives the size
                image = self._read(path)
                if image is not None:
                    self._first = (i, image)
                    self.size = (image.shape[1], image.shape[0])
                    break
                self._skipped.add(i)

    def _read(self, path: str) -> np.ndarray | None:
        try:
            return read_image(path)
        except EdgecamError as exc:
            if self.on_skip is None:
                raise
            self.on_skip(path, exc)
            return None

    def __iter__(self) -> Iterator[Frame]:
        pictures = self.first_index
        for i, path in enumerate(self.paths):
            if is_image_path(path):
                if i in self._skipped:
                    image = None
                elif self._first is not None and self._first[0] == i:
                    image, self._first = self._first[1], None
                else:
                    image = self._read(path)
                if image is not None:
                    yield Frame(image, pictures, path, time.monotonic())
                pictures += 1
            else:
                try:
                    video = VideoFileSource(path)
                except EdgecamError as exc:
                    if self.on_skip is None:
                        raise
                    self.on_skip(path, exc)
                    continue
                try:
                    yield from video
                finally:
                    video.close()
        self.state = "ended"


class SyntheticSource(Source):
    """A moving test pattern: no camera needed for ``bench`` and tests. With ``fps`` it is a
    live source paced like a camera; without, frames come as fast as they are asked for."""

    def __init__(self, uri: str, size: tuple[int, int], count: int = 30) -> None:
        self.uri = uri
        self.size = size
        w, h = size
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        self._frames = []
        for i in range(count):
            phase = 2 * np.pi * i / count
            img = np.empty((h, w, 3), np.uint8)
            img[..., 0] = (127 + 120 * np.sin(xx / 37.0 + phase)).astype(np.uint8)
            img[..., 1] = (127 + 120 * np.sin(yy / 23.0 - phase)).astype(np.uint8)
            img[..., 2] = (127 + 120 * np.sin((xx + yy) / 51.0 + 2 * phase)).astype(np.uint8)
            cx = int(w / 2 + w / 4 * np.cos(phase))
            cy = int(h / 2 + h / 4 * np.sin(phase))
            cv2.circle(img, (cx, cy), max(4, min(w, h) // 8), (20, 40, 230), -1)
            self._frames.append(img)
        self.state = "running"

    def frame(self, index: int) -> np.ndarray:
        """A fresh copy (handlers draw on frames)."""
        return self._frames[index % len(self._frames)].copy()

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        while True:
            yield Frame(self.frame(index), index, self.uri, time.monotonic())
            index += 1
