"""A data set folder being filled: pictures saved as ``DIR/LABEL/*.jpg``, the layout ``edgecam
train`` reads (``edgecam capture`` and the browser preview's capture button both write here).

Each picture is written under a temporary name and renamed, so a folder never holds half a
JPEG (Ctrl-C, a full disk); names carry the time and a counter, so captures never overwrite.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from edgecam.sources.media import is_image_path
from edgecam.util.atomic import publish
from edgecam.util.errors import EdgecamError


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
        # checked now, created with the first picture: a capture that saves nothing (a source
        # that fails, Ctrl-C at once) leaves no empty class folder for training to trip on
        existing = self.folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise EdgecamError(f"cannot create {self.folder}: {existing} is not a directory")
        if not os.access(existing, os.W_OK):
            raise EdgecamError(f"cannot write to {existing}: permission denied")

    def existing(self) -> int:
        if not self.folder.is_dir():
            return 0
        return sum(1 for p in self.folder.iterdir() if p.is_file() and is_image_path(p.name))

    def save(self, image: np.ndarray) -> Path:
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise EdgecamError("cannot encode the frame as JPEG")
        with self._lock:
            self._count += 1
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = self.folder / f"{stamp}-{os.getpid()}-{self._count:05d}.jpg"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EdgecamError(f"cannot create {self.folder}: {exc.strerror or exc}") from None
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
