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


def _be(data: bytes, at: int, n: int) -> int:
    return int.from_bytes(data[at:at + n], "big")


def _le(data: bytes, at: int, n: int) -> int:
    return int.from_bytes(data[at:at + n], "little")


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the first start-of-frame marker."""
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return _be(data, i + 7, 2), _be(data, i + 5, 2)
        i += 2 + _be(data, i + 2, 2)
    return None


def picture_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) read from the header of a PNG, JPEG, BMP, GIF or WebP file without
    decoding it; None for other formats or a header too short to tell."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return _be(data, 16, 4), _be(data, 20, 4)
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    if data[:2] == b"BM" and len(data) >= 26:
        return abs(int.from_bytes(data[18:22], "little", signed=True)), \
            abs(int.from_bytes(data[22:26], "little", signed=True))
    if data[:4] == b"GIF8" and len(data) >= 10:
        return _le(data, 6, 2), _le(data, 8, 2)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8 ":
            return _le(data, 26, 2) & 0x3FFF, _le(data, 28, 2) & 0x3FFF
        if chunk == b"VP8L":
            bits = _le(data, 21, 4)
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if chunk == b"VP8X":
            return _le(data, 24, 3) + 1, _le(data, 27, 3) + 1
    return None


def check_pixels(path: str, data: bytes) -> None:
    """Refuse a picture whose header says it is larger than the limit, before decoding it."""
    size = picture_size(data[:1 << 18])
    if size is not None and size[0] * size[1] > max_pixels():
        w, h = size
        raise EdgecamError(f"{path} is {w}x{h} ({w * h / 1e6:.0f} megapixels), above the "
                           f"limit of {max_pixels() / 1e6:g} megapixels (--max-megapixels "
                           "raises it)")


def read_image(path: str) -> np.ndarray:
    """An image file as BGR (via imdecode, so any path encoding works); one larger than the
    pixel limit is refused before it is decoded."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise EdgecamError(f"cannot read {path}: {exc.strerror or exc}") from None
    check_pixels(path, data[:1 << 18].tobytes())
    with native_stderr_silenced():
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise EdgecamError(f"cannot decode image {path}: not a readable picture")
    return image
