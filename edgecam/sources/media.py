"""Which files are pictures and which are videos, and reading a picture.

A known extension decides at once (in any letter case). A file with an extension OpenCV might
still read (a camcorder's ``.MTS`` under another name, a ``.jfif``...) is probed once: its header
for a picture, a decoded first frame for a video, so what decodes is never refused by name.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import cv2
import numpy as np

from edgecam.util.errors import EdgecamError
from edgecam.util.nativelogs import native_stderr_silenced

IMAGE_EXT = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".dib", ".webp", ".tif", ".tiff",
             ".ppm", ".pgm", ".pbm", ".pnm", ".jp2", ".sr", ".ras"}
VIDEO_EXT = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv",
             ".ts", ".mts", ".m2ts", ".m2t", ".mjpeg", ".mjpg", ".gif", ".3gp", ".3g2", ".ogv",
             ".vob", ".mxf", ".asf", ".f4v", ".divx", ".y4m", ".h264", ".264", ".hevc", ".h265"}
# never probed: FFmpeg would play text as ANSI art, and the rest is plainly not media
NOT_MEDIA = {".txt", ".nfo", ".asc", ".ans", ".md", ".rst", ".json", ".jsonl", ".csv", ".tsv",
             ".xml", ".html", ".htm", ".log", ".yaml", ".yml", ".toml", ".ini", ".py", ".sh",
             ".onnx", ".pt", ".pth", ".safetensors", ".npy", ".npz", ".pdf", ".zip", ".gz",
             ".tar", ".doc", ".docx"}


def is_image_path(path: str) -> bool:
    return media_kind(path) == "image"


def is_video_path(path: str) -> bool:
    return media_kind(path) == "video"


def media_kind(path: str) -> str | None:
    """"image", "video" or None (not media, or nothing OpenCV can decode)."""
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_EXT:
        return "image"
    if suffix in VIDEO_EXT:
        return "video"
    if suffix in NOT_MEDIA:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not os.path.isfile(path) or st.st_size == 0:
        return None
    return _probe(os.path.abspath(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=4096)
def _probe(path: str, mtime_ns: int, size: int) -> str | None:
    """What an unfamiliar file decodes as (cached per path and version of the file)."""
    with native_stderr_silenced():
        if cv2.haveImageReader(path):
            return "image"
        cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
        try:
            ok = cap.isOpened() and cap.read()[0]
        finally:
            cap.release()
    return "video" if ok else None


def read_image(path: str) -> np.ndarray:
    """An image file as BGR (via imdecode, so any path encoding works)."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise EdgecamError(f"cannot read {path}: {exc.strerror or exc}") from None
    with native_stderr_silenced():
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise EdgecamError(f"cannot decode image {path}: not a readable picture")
    return image
