"""Which files are pictures and which are videos, and reading a picture.

A known extension decides at once (in any letter case). A file with an extension OpenCV might
still read (a camcorder's ``.MTS`` under another name, a ``.jfif``...) is probed once: its header
for a picture, a decoded first frame for a video, so what decodes is never refused by name.
An animated WebP is a video (every frame, with its time, like a GIF), which FFmpeg decodes.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

import cv2
import numpy as np

from edgecam.sources.headers import picture_size
from edgecam.util.cvpath import have_image_reader, video_capture
from edgecam.util.errors import EdgecamError
from edgecam.util.nativelogs import native_stderr_silenced

log = logging.getLogger(__name__)

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
    if suffix in IMAGE_EXT and not (suffix == ".webp" and animated_webp(path)):
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
    """What an unfamiliar file or an animated WebP decodes as (cached per path and version of
    the file)."""
    animated = animated_webp(path)
    with native_stderr_silenced():
        if not animated and have_image_reader(path):
            return "image"
        cap = video_capture(path)
        try:
            ok = cap.isOpened() and cap.read()[0]
        finally:
            cap.release()
    if animated and not ok:
        log.warning("%s is an animated WebP, and the FFmpeg of this OpenCV cannot decode its "
                    "frames: only its first frame is read (an OpenCV with a newer FFmpeg reads "
                    "them all)", path)
        return "image"
    return "video" if ok else None


def animated_webp(path: str) -> bool:
    """A WebP whose extended header says it is an animation (imdecode reads only its first
    frame; FFmpeg, when recent enough, every frame with its time)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(21)
    except OSError:
        return False
    return len(head) == 21 and head[:4] == b"RIFF" and head[8:16] == b"WEBPVP8X" \
        and bool(head[20] & 0x02)


# Pictures above this many pixels are refused before they are decoded: a 20000x20000 PNG is a
# 1.2 MB file that decodes into 1.2 GB (2.45 GB at the peak), which kills a 2 GB Pi. 64
# megapixels holds 8K frames (33 MP) and the photos of 50 MP cameras.
DEFAULT_MAX_PIXELS = 64_000_000
_limit = {"pixels": DEFAULT_MAX_PIXELS}


def set_max_pixels(pixels: int | None) -> None:
    """The pixel limit of this process's picture reads (None: the default). A run sets it once
    at its start (``classify --max-megapixels``, a cluster task)."""
    _limit["pixels"] = pixels or DEFAULT_MAX_PIXELS


def max_pixels() -> int:
    return _limit["pixels"]


def too_large(data: np.ndarray) -> str | None:
    """What makes a picture too large to decode, from its header ("20000x20000 (400
    megapixels), above the limit of 64 megapixels"), else None; ``data`` is the whole file
    as uint8 (a TIFF may say its size at its end)."""
    size = picture_size(data.data)
    if size is None or size[0] * size[1] <= max_pixels():
        return None
    w, h = size
    megapixels = w * h / 1e6
    shown = f"{megapixels:.0f}" if megapixels >= 10 else f"{megapixels:.2g}"
    return f"{w}x{h} ({shown} megapixels), above the limit of {max_pixels() / 1e6:g} megapixels"


def check_pixels(path: str, data: np.ndarray) -> None:
    """Refuse a picture whose header says it is larger than the limit, before decoding it."""
    why = too_large(data)
    if why is not None:
        raise EdgecamError(f"{path} is {why} (--max-megapixels raises it)")


def read_image(path: str) -> np.ndarray:
    """An image file as BGR (via imdecode, so any path encoding works); one larger than the
    pixel limit is refused before it is decoded."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise EdgecamError(f"cannot read {path}: {exc.strerror or exc}") from None
    check_pixels(path, data)
    with native_stderr_silenced():
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise EdgecamError(f"cannot decode image {path}: not a readable picture")
    return image
