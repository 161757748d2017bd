"""Which files are pictures and which are videos, and reading a picture."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edgecam.errors import EdgecamError

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
VIDEO_EXT = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv",
             ".ts", ".mjpeg", ".mjpg", ".gif", ".3gp", ".ogv"}


def is_image_path(path: str) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXT


def is_video_path(path: str) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXT


def read_image(path: str) -> np.ndarray:
    """An image file as BGR (via imdecode, so any path encoding works)."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise EdgecamError(f"cannot read {path}: {exc.strerror or exc}") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise EdgecamError(f"cannot decode image {path}: not a readable picture")
    return image
