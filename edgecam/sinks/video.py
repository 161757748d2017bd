"""Annotated video files: one per stream, encoded in a thread, renamed into place when whole.

Encoding (a few ms per 640x480 frame with mp4v) runs in its own thread behind a short queue,
so it overlaps inference instead of adding to every frame. OpenCV reports no write errors
(a full disk gives an mp4 without its index), so a finished file is opened again and its
frame count checked before it is renamed into place.
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edgecam.sinks.base import Sink
from edgecam.util.atomic import Staged
from edgecam.util.cvpath import video_capture, video_writer
from edgecam.util.errors import EdgecamError

if TYPE_CHECKING:
    from edgecam.pipeline.loop import Result
    from edgecam.sources.frames import Stream

FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "XVID"}
LOW_SPACE = 1 << 20


class VideoFile:
    """One video written frame by frame; opened on the first frame (its size)."""

    def __init__(self, path: str | os.PathLike, fps: float | None,
                 size: tuple[int, int] | None = None, queue_size: int = 4) -> None:
        self.path = Path(path)
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.size = size
        self.frames = 0
        self._staged = Staged(self.path)
        self._writer: cv2.VideoWriter | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._closed = False

    def _open(self, size: tuple[int, int]) -> cv2.VideoWriter:
        code = FOURCC.get(self.path.suffix.lower(), "mp4v")
        temp = self._staged.create()
        writer = video_writer(temp, cv2.VideoWriter_fourcc(*code), self.fps, size)  # type: ignore[attr-defined]
        if not writer.isOpened():
            self._staged.discard()
            raise EdgecamError(f"cannot write video {self.path}: OpenCV has no {code} encoder "
                               "for this container")
        return writer

    def _encode(self) -> None:
        while True:
            image = self._queue.get()
            if image is None:
                return
            try:
                if self._error is None:
                    assert self._writer is not None  # set before this thread starts
                    self._writer.write(image)
            except BaseException as exc:  # reported to the pipeline on its next write
                self._error = exc

    def write(self, image: np.ndarray) -> None:
        """Queue one frame (the caller must not draw on it afterwards)."""
        if self._closed:
            raise EdgecamError(f"video {self.path} is already closed")
        if self._error is not None:
            raise EdgecamError(f"cannot write video {self.path}: {self._error}")
        h, w = image.shape[:2]
        if self._writer is None:
            self.size = self.size or (w, h)
            self._writer = self._open(self.size)
            self._thread = threading.Thread(target=self._encode, name="edgecam-video",
                                            daemon=True)
            self._thread.start()
        if (w, h) != self.size:
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        self._queue.put(image)
        self.frames += 1

    def close(self) -> Path | None:
        """Write what is queued, finalize the container and put the file in place if it
        is whole; the path, or None when no frame came."""
        if self._closed:
            return None
        self._closed = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
        if self._writer is None:
            return None
        self._writer.release()
        self._writer = None
        problem = self._check()
        if problem:
            self._staged.discard()
            raise EdgecamError(f"cannot write video {self.path}: {problem}")
        return self._staged.commit()

    def discard(self) -> None:
        """Stop and remove the temporary (the run failed on this file)."""
        self._closed = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        self._staged.discard()

    def _check(self) -> str | None:
        """Why the finished temporary is not a whole video, or None."""
        if self._error is not None:
            return str(self._error)
        cap = video_capture(self._staged.temp)
        try:
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
        finally:
            cap.release()
        if count >= self.frames:
            return None
        free = shutil.disk_usage(self.path.parent).free
        if free < LOW_SPACE + self._staged.temp.stat().st_size // 8:
            return "no space left on device"
        return f"the encoder wrote {count} of {self.frames} frames"

    def __enter__(self) -> VideoFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class VideoSink(Sink):
    """``out.mp4``: the annotated frames of the run's one stream."""

    needs_image = True

    def __init__(self, path: str, fps: float | None = None) -> None:
        super().__init__()
        self.uri = path
        self.path = Path(path)
        self.fps = fps
        self._video: VideoFile | None = None

    def targets(self) -> list[str]:
        return [str(self.path)]

    def open(self, stream: Stream) -> None:
        if self._video is not None:
            raise EdgecamError(f"{self.uri} is one video: it takes one input")
        self._video = VideoFile(self.path, stream.fps or self.fps)

    def write(self, result: Result) -> None:
        assert self._video is not None  # open() came first
        self._video.write(result.frame.image)

    def close(self, ok: bool) -> None:
        if self._video is None:
            return
        video, self._video = self._video, None
        if video.close() is not None:
            self.written.append(str(self.path))
