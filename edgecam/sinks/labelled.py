"""A data set folder being filled: pictures saved as ``DIR/LABEL/*.jpg``, the layout ``edgecam
train`` reads (``edgecam capture`` and the browser preview's capture button both write here).

Each picture is put in place whole (``edgecam.util.atomic``), so a folder never holds half a
JPEG (Ctrl-C, a full disk); names carry the time and a counter, so captures never overwrite.
``check_label`` is the one rule for a class name: capture, the preview's capture and train
(for the class folders it reads) all apply it.
"""

from __future__ import annotations

import os
import threading
import time
import unicodedata
from pathlib import Path

import cv2
import numpy as np

from edgecam.sources.media import is_image_path
from edgecam.util.atomic import NAME_MAX, write_whole
from edgecam.util.errors import EdgecamError

# control characters and line/paragraph separators: a label is one line of a report, of the
# overlay and of a JSON answer's readers
_NOT_IN_A_LINE = ("Cc", "Zl", "Zp")


def check_label(label: str, name_max: int = NAME_MAX) -> str:
    """A class name is a folder name and one line of text: any characters but a path separator
    or a control character (a newline, a tab...), not empty, not ``.``/``..``, not hidden (the
    data set reader skips hidden folders), at most ``name_max`` bytes in UTF-8 (the file
    system's limit for one name: about 85 characters of an Asian script)."""
    name = (label or "").strip()
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise EdgecamError(f"label {label!r} cannot be a folder name; give a class name "
                           "without '/' (it becomes DIR/LABEL/)")
    if name.startswith("."):
        raise EdgecamError(f"label {label!r} starts with '.', which makes a hidden folder")
    odd = next((c for c in name if unicodedata.category(c) in _NOT_IN_A_LINE), None)
    if odd is not None:
        raise EdgecamError(f"label {_short(label)!r} holds a control character ({odd!r}); a "
                           "class name is one line of text")
    size = len(name.encode("utf-8", "surrogateescape"))
    if size > name_max:
        raise EdgecamError(f"label {_short(label)!r} is {size} bytes long; a folder name "
                           f"takes at most {name_max} (UTF-8 bytes: about {name_max // 3} "
                           "characters of an Asian script)")
    return name


def _short(label: str) -> str:
    return label if len(label) <= 40 else f"{label[:30]}...({len(label)} characters)"


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return NAME_MAX


class LabelFolder:
    """``LabelFolder(out, label).save(image) -> path``; safe to call from several threads."""

    def __init__(self, out: str | Path, label: str, quality: int = 95) -> None:
        # checked now, created with the first picture: a capture that saves nothing (a source
        # that fails, Ctrl-C at once) leaves no empty class folder for training to trip on
        existing = Path(out)
        try:
            while not existing.exists() and existing != existing.parent:
                existing = existing.parent
        except OSError as exc:
            raise EdgecamError(f"cannot use {out}: {exc.strerror or exc}") from None
        self.label = check_label(label, _name_max(existing))
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
