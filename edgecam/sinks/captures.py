"""The capture folder as the preview page shows it: each label's count and newest pictures
(the thumbnails), one picture served or deleted by name, and a region's crop of a frame, cut
by the very box the model was given for that frame (what ``capture --region`` saves, so
``train`` learns exactly what ``live`` sees)."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

import numpy as np

from edgecam.sources.media import is_image_path
from edgecam.util.classname import check_label, class_folders
from edgecam.util.errors import EdgecamError

NEWEST = 24  # thumbnails listed per label
_NAME = re.compile(r"[^/\\\x00-\x1f]{1,255}")


class NotFound(EdgecamError):
    """A picture or label the capture folder does not have."""


def region_crop(image: np.ndarray, regions: dict[str, Any] | None, name: str) -> np.ndarray:
    """Region ``name``'s crop of ``image``, by the box published with it (``regions``: the
    frame's stats' ``regions``; None: the camera watches the whole frame)."""
    if not regions:
        raise EdgecamError("this camera watches the whole frame: leave out region (or draw "
                           "a region first)")
    entry = regions.get(name)
    if entry is None:
        raise EdgecamError(f"unknown region {name!r}; this camera watches "
                           + ", ".join(repr(n) for n in regions))
    x, y, w, h = (int(v) for v in entry["box"])
    crop = image[y:y + h, x:x + w]
    if crop.shape[0] != h or crop.shape[1] != w:  # a frame smaller than the box's own
        raise EdgecamError(f"region {name!r} leaves this frame")
    return crop.copy()


def label_pictures(folder: Path) -> list[Path]:
    """A label's pictures, newest first."""
    found = []
    for p in folder.iterdir():
        if not p.name.startswith(".") and is_image_path(p.name):
            try:
                found.append((p.stat().st_mtime, p.name, p))
            except OSError:
                continue
    return [p for _, _, p in sorted(found, reverse=True)]


def listing(root: Path, newest: int = NEWEST) -> dict[str, Any]:
    """``GET /api/dataset``: ``{"dir", "labels": {LABEL: count}, "pictures": {LABEL: [names,
    newest first]}, "total"}``."""
    labels: dict[str, int] = {}
    shown: dict[str, list[str]] = {}
    for folder in class_folders(root):
        pictures = label_pictures(folder)
        labels[folder.name] = len(pictures)
        shown[folder.name] = [p.name for p in pictures[:newest]]
    return {"dir": str(root), "labels": labels, "pictures": shown,
            "total": sum(labels.values())}


def picture(root: Path, label: str, name: str) -> Path:
    """The picture ``name`` of ``label``: a plain file right in ``root/LABEL`` (no other
    path can be named: no separators, no hidden files, no links out)."""
    check_label(label)
    if not _NAME.fullmatch(name or "") or name.startswith(".") or not is_image_path(name):
        raise EdgecamError(f"{name!r} is not the name of a picture (NAME.jpg, as listed)")
    path = root / label / name
    if path.is_symlink() or not path.is_file():
        raise NotFound(f"no picture {name!r} of {label!r}")
    return path


def delete(root: Path, label: str, name: str) -> int:
    """Delete one picture; how many ``label`` has left (its folder goes with its last
    picture, so a label deleted picture by picture is no class any more)."""
    path = picture(root, label, name)
    try:
        path.unlink()
    except FileNotFoundError:
        raise NotFound(f"no picture {name!r} of {label!r}") from None
    except OSError as exc:
        raise EdgecamError(f"cannot delete {path}: {exc.strerror or exc}") from None
    left = len(label_pictures(path.parent))
    if not left:
        with contextlib.suppress(OSError):  # other files in it: it stays
            path.parent.rmdir()
    return left
