"""Labels, scores, FPS and inference time drawn on the frame, legible from 320x240 to 1080p.

Text size follows the frame height; the panel behind the text is darkened in place (a shift,
no blending copy), so drawing costs well under a millisecond at 640x480.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edgecam.runtime.postprocess import Prediction

FONT = cv2.FONT_HERSHEY_SIMPLEX
TOP1 = (80, 255, 80)  # BGR
TEXT = (255, 255, 255)
WARN = (0, 200, 255)


def text_scale(height: int) -> tuple[float, int]:
    """Font scale and stroke for a frame height: ~13 px glyphs at 240 lines, ~40 at 1080."""
    scale = max(0.4, height / 720.0)
    return scale, max(1, int(round(scale * 1.6)))


def _panel(image: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> None:
    roi = image[max(0, y0):max(0, y1), max(0, x0):max(0, x1)]
    np.right_shift(roi, 1, out=roi)


def draw_lines(image: np.ndarray, lines: Sequence[tuple[str, tuple[int, int, int]]],
               corner: str = "top") -> None:
    """Draw coloured lines of text on a darkened panel at the top or bottom left."""
    if not lines:
        return
    h, w = image.shape[:2]
    scale, thick = text_scale(h)
    (_, th), base = cv2.getTextSize("Ag", FONT, scale, thick)
    step = th + base + max(2, th // 3)
    pad = max(3, th // 3)
    widths = [cv2.getTextSize(t, FONT, scale, thick)[0][0] for t, _ in lines]
    box_w = min(w, max(widths) + 2 * pad)
    box_h = step * len(lines) + pad
    y0 = 0 if corner == "top" else h - box_h
    _panel(image, 0, y0, box_w, y0 + box_h)
    for i, (text, color) in enumerate(lines):
        y = y0 + pad + th + i * step
        cv2.putText(image, text, (pad, y), FONT, scale, color, thick, cv2.LINE_AA)


def draw_overlay(image: np.ndarray, top: Sequence[Prediction], fps: float | None = None,
                 infer_ms: float | None = None, status: Sequence[str] = ()) -> np.ndarray:
    """Annotate ``image`` in place (and return it): top-k labels with scores at the top,
    FPS / inference ms and any status lines (e.g. "reconnecting", the running config) below."""
    lines = [
        (f"{p.label[:40]} {p.score * 100:.0f}%", TOP1 if i == 0 else TEXT)
        for i, p in enumerate(top)
    ] or [("(no label above threshold)", TEXT)]
    draw_lines(image, lines, "top")
    footer = []
    if fps is not None or infer_ms is not None:
        parts = []
        if fps is not None:
            parts.append(f"{fps:.1f} FPS")
        if infer_ms is not None:
            parts.append(f"infer {infer_ms:.1f} ms")
        footer.append(("  ".join(parts), TEXT))
    footer += [(s, WARN) for s in status]
    draw_lines(image, footer, "bottom")
    return image
