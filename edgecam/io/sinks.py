"""Where results go: annotated video files, image directories, JSON lines, a window.

Every sink is a context manager with an idempotent ``close`` so a run that ends by error,
Ctrl-C or SIGTERM still finalizes the video and leaves the JSON lines file on a whole line.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import sys
import tempfile
import threading
from pathlib import Path

import cv2
import numpy as np

from edgecam.errors import EdgecamError

FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "XVID"}


def check_writable(path: str | os.PathLike, directory: bool = False) -> None:
    """Fail before any work starts if the file ``path`` (or with ``directory``, files inside
    the directory ``path``) cannot be created; missing parent directories are made."""
    target = Path(path)
    if target.is_dir() and not directory:
        raise EdgecamError(f"cannot write {path}: it is a directory")
    folder = target if directory else target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".edgecam-probe-"):
            pass
    except OSError as exc:
        raise EdgecamError(f"cannot write {path}: {exc.strerror or exc}") from None


class VideoSink:
    """An annotated video at the source's frame rate; opened on the first frame (its size).

    Encoding (a few ms per 640x480 frame with mp4v) runs in its own thread behind a short
    queue, so it overlaps inference instead of adding to every frame; ``close`` drains the
    queue and finalizes the file.
    """

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int] | None = None,
                 queue_size: int = 4) -> None:
        self.path = Path(path)
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.size = size
        self.frames = 0
        self._writer: cv2.VideoWriter | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._closed = False

    def _open(self, size: tuple[int, int]) -> cv2.VideoWriter:
        check_writable(self.path)
        code = FOURCC.get(self.path.suffix.lower(), "mp4v")
        writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*code), self.fps, size)
        if not writer.isOpened():
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

    def close(self) -> None:
        """Write what is queued and finalize the file (the container index is written here)."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class JsonlSink:
    """One JSON object per line, each written whole and flushed, so a reader (or a crash)
    never sees half a line."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        check_writable(self.path)
        self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self.lines = 0

    def write(self, record: dict) -> None:
        if self._file.closed:
            return
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()
        self.lines += 1

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> JsonlSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ImageDirSink:
    """Annotated images under their own names in one directory."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EdgecamError(f"cannot write {directory}: {exc.strerror or exc}") from None

    def write(self, image: np.ndarray, name: str) -> Path:
        target = self.directory / name
        if not cv2.imwrite(str(target), image):
            raise EdgecamError(f"cannot write {target}")
        return target

    def close(self) -> None:
        """Each image is complete when written."""


def x_display_reachable(display: str) -> bool:
    """Whether the X server named by ``display`` (":0", "host:10.0") accepts connections:
    OpenCV's Qt window aborts the whole process when it does not (a stale DISPLAY over SSH)."""
    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit():
        return False
    if host in ("", "unix"):
        return os.path.exists(f"/tmp/.X11-unix/X{number}")
    try:
        with socket.create_connection((host, 6000 + int(number)), timeout=1.0):
            return True
    except OSError:
        return False


def display_available() -> tuple[bool, str]:
    """(True, "") when a window can be shown, else (False, why not)."""
    if sys.platform.startswith("linux"):
        display = os.environ.get("DISPLAY", "")
        if not display:
            return False, "no display (DISPLAY is not set)"
        if not x_display_reachable(display):
            return False, f"no display (nothing answers on DISPLAY={display})"
    gui = [line for line in cv2.getBuildInformation().splitlines()
           if line.strip().startswith("GUI:")]
    if gui and gui[0].split(":", 1)[1].strip().upper() in ("NONE", "NO"):
        return False, "this OpenCV has no GUI support"
    return True, ""


class WindowSink:
    """An OpenCV window; ``show`` returns False when the user pressed q or Esc or closed it."""

    def __init__(self, title: str = "edgecam") -> None:
        self.title = title
        self._open = False

    def show(self, image: np.ndarray) -> bool:
        try:
            cv2.imshow(self.title, image)
            self._open = True
            key = cv2.waitKey(1) & 0xFF
            if key in (ord("q"), 27):
                return False
            return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) >= 1
        except cv2.error as exc:
            raise EdgecamError(f"cannot show a window: {exc.msg.strip()}; use --headless") \
                from None

    def close(self) -> None:
        if self._open:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
            self._open = False
