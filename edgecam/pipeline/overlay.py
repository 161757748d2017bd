"""Labels, scores, FPS and inference time drawn on the frame, legible from 320x240 to 1080p.

Text size follows the frame height; the panel behind the text is darkened in place (a shift,
no blending copy), so drawing costs well under a millisecond at 640x480. Text beyond ASCII (a
label in any script, an emoji) is drawn as written by ``unicode_text`` (Pillow and a system
font), where OpenCV's own fonts draw "?" marks (all of it up to OpenCV 4, CJK and emoji in 5);
a control character is drawn as a space, so every label stays one line.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edgecam.pipeline import unicode_text
from edgecam.pipeline.result import RegionResult
from edgecam.runtime.postprocess import Prediction
from edgecam.runtime.unknown import UNKNOWN

FONT = cv2.FONT_HERSHEY_SIMPLEX
TOP1 = (80, 255, 80)  # BGR
TEXT = (255, 255, 255)
WARN = (0, 200, 255)
UNSURE = (0, 150, 255)  # "unknown": orange


def text_scale(height: int) -> tuple[float, int]:
    """Font scale and stroke for a frame height: ~13 px glyphs at 240 lines, ~40 at 1080, and
    never below ~8 px (the smallest Hershey text that stays readable)."""
    scale = max(MIN_SCALE, min(0.4, height / 600.0), height / 720.0)
    return scale, max(1, int(round(scale * 1.6)))


MIN_SCALE = 0.33

Color = tuple[int, int, int]  # BGR
Line = tuple[str, Color]


class _Metrics:
    """Glyph height, line step and padding for one frame height."""

    def __init__(self, height: int) -> None:
        self.scale, self.thick = text_scale(height)
        (_, self.th), base = cv2.getTextSize("Ag", FONT, self.scale, self.thick)
        self.step = self.th + base + max(2, self.th // 3)
        self.pad = max(2, self.th // 3)

    def width(self, text: str) -> int:
        text = unicode_text.one_line(text)
        if not text.isascii():
            drawn = unicode_text.width(text, self.th, self.thick > 1)
            if drawn is not None:
                return drawn
        return cv2.getTextSize(text, FONT, self.scale, self.thick)[0][0]

    def rows(self, height: int) -> int:
        """Lines that fit in the frame, top and bottom panels together."""
        return max(0, (height - 2 * self.pad) // self.step)

    def clip(self, text: str, width: int, keep: str = "") -> str:
        """``text`` cut (with "..") so that it and ``keep`` fit ``width`` pixels."""
        room = width - 2 * self.pad
        if self.width(text + keep) <= room:
            return text + keep
        while text and self.width(text + ".." + keep) > room:
            text = text[:-1]
        return (text + ".." + keep) if text else keep.strip()


def _panel(image: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> None:
    roi = image[max(0, y0):max(0, y1), max(0, x0):max(0, x1)]
    np.right_shift(roi, 1, out=roi)


def draw_lines(image: np.ndarray, lines: Sequence[Line], corner: str = "top") -> None:
    """Draw coloured lines of text on a darkened panel at the top or bottom left."""
    if not lines:
        return
    h, w = image.shape[:2]
    m = _Metrics(h)
    box_w = min(w, max(m.width(t) for t, _ in lines) + 2 * m.pad)
    box_h = m.step * len(lines) + m.pad
    y0 = 0 if corner == "top" else h - box_h
    _panel(image, 0, y0, box_w, y0 + box_h)
    for i, (text, color) in enumerate(lines):
        _text(image, text, m.pad, y0 + m.pad + m.th + i * m.step, m, color)


def _text(image: np.ndarray, text: str, x: int, y: int, m: _Metrics, color: Color) -> None:
    """One line of text with its baseline at ``y``: as written (a label in any script, drawn
    by ``unicode_text`` when it is not ASCII), never broken at a newline."""
    text = unicode_text.one_line(text)  # OpenCV would break a line at a newline
    if text.isascii() or not unicode_text.draw(image, text, x, y, m.th, color, m.thick > 1):
        cv2.putText(image, text, (x, y), FONT, m.scale, color, m.thick, cv2.LINE_AA)


def answer_lines(top: Sequence[Prediction], unknown: bool, width: int, height: int
                 ) -> list[Line]:
    """The answer's lines for a frame of ``width`` x ``height``: the top-1 (green) and the
    other labels with their scores; when the answer is unknown, "unknown" (orange) first and
    every label of the top-k after it, the best guess first."""
    m = _Metrics(height)
    lines = [(m.clip(p.label[:40], width, f" {p.score * 100:.0f}%"),
              TOP1 if i == 0 and not unknown else TEXT) for i, p in enumerate(top)]
    return [(m.clip(UNKNOWN, width), UNSURE)] + lines if unknown else lines


def region_tag(region: RegionResult) -> str:
    """"gate: open", with this frame's answer when it is not (yet) the state: "gate: open
    (closed 91%)"; "gate: ... (open 80%)" before the first state."""
    best = region.top[0]
    now = f"{region.label} {best.score * 100:.0f}%" if not region.unknown else UNKNOWN
    if region.state == region.label:
        return f"{region.name}: {region.state}"
    return f"{region.name}: {region.state or '...'} ({now})"


def draw_regions(image: np.ndarray, regions: Sequence[RegionResult]) -> None:
    """Each region's box, and its name and state on a tag above it (below when it touches
    the top): green when the state is a label, orange when it is "unknown" or not yet known."""
    h, w = image.shape[:2]
    m = _Metrics(h)
    for region in regions:
        if region.box is None:
            continue
        x, y, bw, bh = region.box
        settled = region.state is not None and region.state != UNKNOWN
        color = TOP1 if settled else UNSURE
        cv2.rectangle(image, (x, y), (x + bw - 1, y + bh - 1), color, m.thick, cv2.LINE_8)
        text = m.clip(region_tag(region), w - x if w - x > 4 * m.pad else w)
        tw = m.width(text) + 2 * m.pad
        tx = max(0, min(x, w - tw))
        ty = y - m.step if y >= m.step else min(h - m.step, y + bh)
        _panel(image, tx, ty, tx + tw, ty + m.step)
        _text(image, text, tx + m.pad, ty + m.pad + m.th, m, color)


def draw_overlay(image: np.ndarray, top: Sequence[Prediction], fps: float | None = None,
                 infer_ms: float | None = None, status: Sequence[str] = (),
                 unknown: bool = False, regions: Sequence[RegionResult] = ()) -> np.ndarray:
    """Annotate ``image`` in place (and return it): the answer (``answer_lines``) at the top,
    or each region's box with its state; FPS / inference ms and any status lines (e.g.
    "reconnecting", the running config) below.

    On a small frame (a 64x48 video) the text keeps a readable size: labels are cut to the
    width, and the lines that do not fit are left out, least important first (the answer,
    then status, then the FPS, then the other labels)."""
    h, w = image.shape[:2]
    m = _Metrics(h)
    if regions:
        draw_regions(image, regions)
    labels = answer_lines(top, unknown, w, h) if not regions else []
    parts = []
    if fps is not None:
        parts.append(f"{fps:.1f} FPS")
    if infer_ms is not None:
        parts.append(f"infer {infer_ms:.1f} ms")
    rate = [(m.clip("  ".join(parts), w), TEXT)] if parts else []
    warnings = [(m.clip(s, w), WARN) for s in status]
    room = m.rows(h)
    first, warnings = labels[:1][:room], warnings[:max(0, room - 1)]
    rate = rate[:max(0, room - len(first) - len(warnings))]
    rest = labels[1:][:max(0, room - len(first) - len(warnings) - len(rate))]
    draw_lines(image, first + rest, "top")
    draw_lines(image, rate + warnings, "bottom")
    return image
