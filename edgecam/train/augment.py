"""Training-split augmentation on uint8 BGR pictures (OpenCV, no torch): a random resized
crop, a horizontal flip and a colour jitter, so a frozen backbone sees each training picture
the ways a camera might show it. Validation pictures are never augmented: they go through the
run-time preprocessing exactly."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Augment:
    scale: tuple[float, float] = (0.3, 1.0)  # share of the picture's area the crop keeps
    ratio: tuple[float, float] = (3 / 4, 4 / 3)  # crop aspect ratio range
    flip: bool = True
    jitter: float = 0.3  # brightness, contrast and saturation factors in 1 +- jitter

    def crop_box(self, width: int, height: int, rng: np.random.Generator
                 ) -> tuple[int, int, int, int]:
        """(x, y, w, h) of a random crop; the centred square when ten draws do not fit."""
        area = width * height
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        for _ in range(10):
            target = area * rng.uniform(*self.scale)
            aspect = math.exp(rng.uniform(log_lo, log_hi))
            w = int(round(math.sqrt(target * aspect)))
            h = int(round(math.sqrt(target / aspect)))
            if 0 < w <= width and 0 < h <= height:
                x = int(rng.integers(0, width - w + 1))
                return x, int(rng.integers(0, height - h + 1)), w, h
        side = min(width, height)
        return (width - side) // 2, (height - side) // 2, side, side

    def __call__(self, image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
        """A ``size`` x ``size`` uint8 BGR view of ``image``."""
        height, width = image.shape[:2]
        x, y, w, h = self.crop_box(width, height, rng)
        crop = image[y:y + h, x:x + w]
        interp = cv2.INTER_AREA if min(w, h) > size else cv2.INTER_CUBIC
        view = cv2.resize(crop, (size, size), interpolation=interp)
        if self.flip and rng.random() < 0.5:
            view = view[:, ::-1]
        if self.jitter > 0:
            view = self._jitter(view, rng)
        return np.ascontiguousarray(view)

    def _jitter(self, view: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        lo, hi = 1.0 - self.jitter, 1.0 + self.jitter
        out = view.astype(np.float32) * rng.uniform(lo, hi)  # brightness
        gray = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY)
        out = (out - gray.mean()) * rng.uniform(lo, hi) + gray.mean()  # contrast
        gray = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY)
        gray = gray.astype(np.float32)[..., None]
        out = gray + (out - gray) * rng.uniform(lo, hi)  # saturation
        return np.clip(out, 0, 255).astype(np.uint8)
