"""Text OpenCV's Hershey fonts cannot draw: a label beyond ASCII ("Ölfleck", "кошка", "猫"), which
``cv2.putText`` would draw as "?" marks, is drawn with Pillow and a font of the system.

The font is the one fontconfig picks for the label's characters (``fc-match``), so a label
in any script the system has a font for is drawn as written; without fontconfig, DejaVu Sans
(Pillow finds it in the usual font folders). A character no installed font has shows as the
font's empty box. Labels repeat frame after frame, so each one is rendered once (a mask,
cached) and blended in place after that. Without Pillow or any font, ``draw`` says so once
and returns False: the caller draws with OpenCV as before.
"""

from __future__ import annotations

import functools
import logging
import shutil
import subprocess
import unicodedata
from typing import Any

import numpy as np

from edgecam.util.classname import NOT_IN_A_LINE

log = logging.getLogger(__name__)

FALLBACK_FONT = {False: "DejaVuSans.ttf", True: "DejaVuSans-Bold.ttf"}


def one_line(text: str) -> str:
    """``text`` with its control characters (a newline, a tab) as spaces: one line."""
    if text.isprintable():
        return text
    return "".join(" " if unicodedata.category(c) in NOT_IN_A_LINE else c for c in text)


@functools.lru_cache(maxsize=256)
def _font_file(chars: str, bold: bool) -> str:
    """The file of the font fontconfig picks for ``chars`` (its best match: with no font
    covering them, the default sans), or Pillow's fallback name."""
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        return FALLBACK_FONT[bold]
    charset = " ".join(f"{ord(c):x}" for c in sorted(set(chars)))
    weight = ":weight=bold" if bold else ""
    try:
        found = subprocess.run([fc_match, "--format=%{file}",
                                f"sans-serif{weight}:charset={charset}"],
                               capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return FALLBACK_FONT[bold]
    return found.stdout.strip() or FALLBACK_FONT[bold]


@functools.lru_cache(maxsize=64)
def _font(chars: str, size: int, bold: bool) -> Any:
    """A Pillow font for ``chars`` at ``size`` px, or None (no Pillow, no font)."""
    try:
        from PIL import ImageFont
    except ImportError:
        _say_once("Pillow is not installed")
        return None
    for name in dict.fromkeys((_font_file(chars, bold), *FALLBACK_FONT.values())):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    _say_once("no font was found (install fonts-dejavu-core or another font)")
    return None


@functools.lru_cache(maxsize=1)
def _say_once(why: str) -> None:
    log.warning("warning: labels beyond ASCII are drawn as '?': %s", why)


def _size(glyph_height: int) -> int:
    """The font size whose capitals match OpenCV's at the text height it measures (both
    about 0.73 of it)."""
    return max(6, glyph_height)


def _chars(text: str) -> str:
    return "".join(sorted(set(text) - set(" ")))


@functools.lru_cache(maxsize=4096)
def width(text: str, glyph_height: int, bold: bool) -> int | None:
    """The width in pixels of ``text`` drawn by ``draw``, or None when it cannot be drawn."""
    font = _font(_chars(text), _size(glyph_height), bold)
    return None if font is None else int(np.ceil(font.getlength(one_line(text))))


@functools.lru_cache(maxsize=512)
def _mask(text: str, glyph_height: int, bold: bool) -> tuple[np.ndarray, int, int] | None:
    """(coverage 0..1 as float32, x offset, y offset from the baseline) of ``text``."""
    font = _font(_chars(text), _size(glyph_height), bold)
    if font is None:
        return None
    from PIL import Image, ImageDraw

    line = one_line(text)
    x0, y0, x1, y1 = font.getbbox(line, anchor="ls")
    if x1 <= x0 or y1 <= y0:
        return np.zeros((0, 0), np.float32), 0, 0
    canvas = Image.new("L", (x1 - x0, y1 - y0))
    ImageDraw.Draw(canvas).text((-x0, -y0), line, fill=255, font=font, anchor="ls")
    return np.asarray(canvas, np.float32)[..., None] / 255.0, x0, y0


def draw(image: np.ndarray, text: str, x: int, baseline: int, glyph_height: int,
         color: tuple[int, int, int], bold: bool) -> bool:
    """Blend ``text`` into ``image`` (BGR) with its baseline at ``(x, baseline)``, glyphs about
    ``glyph_height`` px tall (OpenCV's measure) and ``bold`` like the OpenCV text around it
    (drawn with a stroke of 2 px or more); False when it cannot."""
    rendered = _mask(text, glyph_height, bold)
    if rendered is None:
        return False
    mask, dx, dy = rendered
    h, w = image.shape[:2]
    top, left = baseline + dy, x + dx
    y0, x0 = max(0, top), max(0, left)
    y1, x1 = min(h, top + mask.shape[0]), min(w, left + mask.shape[1])
    if y1 <= y0 or x1 <= x0:
        return True
    alpha = mask[y0 - top:y1 - top, x0 - left:x1 - left]
    roi = image[y0:y1, x0:x1]
    roi[:] = (roi * (1.0 - alpha) + np.asarray(color, np.float32) * alpha).astype(np.uint8)
    return True
