"""A data set folder being filled: pictures saved as ``DIR/LABEL/*.jpg``, the layout ``edgecam
train`` reads (``edgecam capture`` and the browser preview's capture button both write here).

Each picture is put in place whole (``edgecam.util.atomic``), so a folder never holds half a
JPEG (Ctrl-C, a full disk); names carry the time and a counter, so captures never overwrite.
A label is checked by the one rule for class names (``edgecam.util.classname``), the one train
applies to the class folders it reads.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from edgecam.sources.media import is_image_path
from edgecam.util.atomic import name_max, write_whole
from edgecam.util.classname import check_label
from edgecam.util.errors import EdgecamError
from edgecam.util.safewrite import existing_folder

__all__ = ["LabelFolder", "check_label"]

class LabelFolder:
    """``LabelFolder(out, label).save(image) -> path``; safe to call from several threads."""

    def __init__(self, out: str | Path, label: str, quality: int = 95) -> None:
        # checked now, created with the first picture: a capture that saves nothing (a source
        # that fails, Ctrl-C at once) leaves no empty class folder for training to trip on
        try:
            existing = existing_folder(Path(out))
        except OSError as exc:
            raise EdgecamError(f"cannot use {out}: {exc.strerror or exc}") from None
        self.label = check_label(label, name_max(existing))
        self.folder = Path(out) / self.label
        self.quality = quality
        self._lock = threading.Lock()
        self._count = 0
        self.saved = 0  # pictures this folder object saved
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
        write_whole(path, jpeg.tobytes())
        with self._lock:
            self.saved += 1
        return path
