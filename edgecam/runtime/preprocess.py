"""Frame -> input tensor, exactly as the model's metadata says (resize, center crop or the
whole picture, mean/std or the Lite rule, RGB), vectorized and into reusable buffers.

The center crop is cut from the frame first and then resized, which is what "resize the shorter
side to R / crop_pct, then crop R" amounts to, at a fraction of the cost on large frames. A
"whole" preprocessor resizes the whole picture (or a region's box of it) to R x R instead,
so nothing at its edges is cut off: what a region's crop and a model taught by ``edgecam
train`` get.
"""

from __future__ import annotations

import cv2
import numpy as np

from edgecam.models.metadata import ModelMeta

# Bilinear steps use OpenCV's bit-exact fixed-point variant: plain INTER_LINEAR rounds
# differently on x86 and ARM (one grey level on 17% of pixels of a 420 -> 224 resize, which
# moved EfficientNet-Lite0's scores by up to 7e-3), INTER_LINEAR_EXACT and INTER_AREA agree to
# the bit (scripts/arm64-check), so a model scores the same on a Pi as on the PC it was tested on.
BILINEAR = cv2.INTER_LINEAR_EXACT
_UPSCALE = {"bilinear": BILINEAR, "bicubic": cv2.INTER_CUBIC}


def crop_box(width: int, height: int, resolution: int, crop_pct: float
             ) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the centered square the model sees: side = shorter side * crop_pct."""
    side = max(1, min(int(round(min(width, height) * crop_pct)), width, height))
    return (width - side) // 2, (height - side) // 2, side, side


class Preprocessor:
    """``Preprocessor(meta)(frame_bgr) -> float32 [1, 3, R, R]``.

    Downscaling averages pixels (what the antialiased resize used in training amounts to): an
    exact integer-factor area reduction, OpenCV's fast path, then one bit-exact bilinear step
    to R. A
    general-ratio area resize costs 7x more for a difference below JPEG noise. Upscaling uses
    the weights' own interpolation. Normalization runs per channel plane straight from the
    resized pixels into the output tensor, which also swaps BGR to RGB.
    """

    def __init__(self, meta: ModelMeta, whole: bool | None = None) -> None:
        self.meta = meta
        self.resolution = meta.resolution
        self.whole = meta.crop == "whole" if whole is None else whole
        self.crop_pct = meta.crop_pct
        self.upscale = _UPSCALE.get(meta.interpolation, BILINEAR)
        mean = np.asarray(meta.mean, np.float64) * 255.0
        std = np.asarray(meta.std, np.float64) * 255.0
        rgb = meta.color.upper() == "RGB"
        # output channel c is made from BGR channel src[c]: x = pixel * scale[c] + offset[c]
        self._plan_rows = [
            ((2 - c) if rgb else c, float(1.0 / std[c]), float(-mean[c] / std[c]))
            for c in range(3)
        ]
        r = self.resolution
        self._resized = np.empty((r, r, 3), np.uint8)
        self._mid: np.ndarray | None = None
        self._plan: tuple | None = None

    def copy(self) -> Preprocessor:
        """The same preprocessing with scratch buffers of its own (for another thread)."""
        return Preprocessor(self.meta, self.whole)

    def new_buffer(self, batch: int = 1) -> np.ndarray:
        r = self.resolution
        return np.empty((batch, 3, r, r), np.float32)

    def plan(self, width: int, height: int) -> tuple[int, int, int, int]:
        """(x, y, side, factor) for this frame size, cached (a stream keeps one size)."""
        if self._plan is None or self._plan[:2] != (width, height):
            x, y, side, _ = crop_box(width, height, self.resolution, self.crop_pct)
            factor = side // self.resolution
            if factor >= 2:  # trim < factor pixels so the area step is an exact integer factor
                trimmed = side - side % factor
                x, y, side = x + (side - trimmed) // 2, y + (side - trimmed) // 2, trimmed
                mid = side // factor
                if self._mid is None or self._mid.shape[0] != mid:
                    self._mid = np.empty((mid, mid, 3), np.uint8)
            self._plan = (width, height, x, y, side, factor)
        return self._plan[2:]

    def resize(self, frame: np.ndarray) -> np.ndarray:
        """The center crop (or the whole picture) at R x R, uint8 BGR (also what the overlay's
        tests look at)."""
        h, w = frame.shape[:2]
        if self.whole:
            return self._squash(frame, w, h)
        x, y, side, factor = self.plan(w, h)
        r = self.resolution
        crop = frame[y:y + side, x:x + side]
        if factor >= 2:
            assert self._mid is not None  # plan() made it for this factor
            cv2.resize(crop, self._mid.shape[:2], dst=self._mid, interpolation=cv2.INTER_AREA)
            if self._mid.shape[0] == r:
                return self._mid
            cv2.resize(self._mid, (r, r), dst=self._resized, interpolation=BILINEAR)
        elif side == r:
            return crop
        else:
            interp = BILINEAR if side > r else self.upscale
            cv2.resize(crop, (r, r), dst=self._resized, interpolation=interp)
        return self._resized

    def _squash(self, picture: np.ndarray, w: int, h: int) -> np.ndarray:
        r = self.resolution
        if w == r and h == r:
            return picture
        if w >= r and h >= r:
            interp = cv2.INTER_AREA  # averages the pixels, as downscaling in training does
        else:
            interp = self.upscale if w <= r and h <= r else BILINEAR
        cv2.resize(picture, (r, r), dst=self._resized, interpolation=interp)
        return self._resized

    def __call__(self, frame: np.ndarray, out: np.ndarray | None = None,
                 box: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """``frame`` (or its ``box``, x, y, w, h in pixels) as the model's input, written
        into ``out`` (a new [1, 3, R, R] buffer when None)."""
        if box is not None:
            x, y, w, h = box
            frame = frame[y:y + h, x:x + w]
        pixels = self.resize(frame)
        if out is None:
            out = self.new_buffer()
        for c, (src, scale, offset) in enumerate(self._plan_rows):
            plane = out[0, c]
            np.multiply(pixels[:, :, src], scale, out=plane, casting="unsafe")
            plane += offset
        return out
