"""A short video made from still photos (a slow zoom on each), so the main job can run the real
pipeline on real pictures on a machine with no camera and no sample footage."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgecam.sinks.video import VideoFile
from edgecam.sources.factory import is_image_path, read_image
from edgecam.util.errors import EdgecamError


@dataclass(frozen=True)
class Segment:
    photo: str
    first: int  # frame range [first, last] showing this photo
    last: int


def cover(image: np.ndarray, size: tuple[int, int], zoom: float = 1.0) -> np.ndarray:
    """Fill ``size`` (w, h) from the image's center, cropping what does not fit, zoomed in by
    ``zoom`` >= 1."""
    w, h = size
    ih, iw = image.shape[:2]
    scale = max(w / iw, h / ih) * zoom
    cw, ch = min(iw, w / scale), min(ih, h / scale)
    x0, y0 = (iw - cw) / 2, (ih - ch) / 2
    m = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], np.float32)
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def make_clip(photos: list[Path], output: Path, seconds_each: float = 1.0, fps: float = 30.0,
              size: tuple[int, int] = (640, 480), zoom_to: float = 1.15) -> list[Segment]:
    """Write the clip and return which frames show which photo."""
    per = max(1, int(round(seconds_each * fps)))
    segments = []
    with VideoFile(output, fps=fps) as sink:
        frame_no = 0
        for photo in photos:
            image = read_image(str(photo))
            for i in range(per):
                sink.write(cover(image, size, 1.0 + (zoom_to - 1.0) * i / max(1, per - 1)))
            segments.append(Segment(str(photo), frame_no, frame_no + per - 1))
            frame_no += per
    return segments


def photos_in(directory: Path) -> list[Path]:
    photos = sorted(p for p in Path(directory).iterdir() if is_image_path(str(p)))
    if not photos:
        raise EdgecamError(f"no photos in {directory}")
    return photos
