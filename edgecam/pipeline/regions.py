"""Regions: the places a fixed camera watches (a gate, a parking spot, a status light), each a
box of the source frame with its own name, and optionally its own model, hold time and
threshold.

``--region NAME=X,Y,W,H[:MODEL]`` gives one: pixels of the source frame, or fractions of its
width and height when all four numbers are at most 1. A region is data, read once from the
flags or the site file into one checked ``Region``; its box becomes pixels once the frame size
is known (``Box.pixels``), where a box outside the frame is one clear line. Light on purpose:
the options import it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from edgecam.util.errors import EdgecamError

USAGE = "--region takes NAME=X,Y,W,H or NAME=X,Y,W,H:MODEL (pixels, or fractions <= 1)"
_NAME = re.compile(r"[^\x00-\x1f\x7f/=:]{1,64}")


@dataclass(frozen=True)
class Box:
    """x, y, width, height: pixels, or fractions of the frame when ``fractional``."""

    x: float
    y: float
    w: float
    h: float
    fractional: bool = False

    def pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """(x, y, w, h) in pixels of a ``width`` x ``height`` frame; a box that leaves the
        frame is an EdgecamError (the caller names the region)."""
        if self.fractional:
            x, y = round(self.x * width), round(self.y * height)
            w = max(1, round(self.w * width))
            h = max(1, round(self.h * height))
            x, y = min(x, width - w), min(y, height - h)  # rounding never leaves the frame
        else:
            x, y, w, h = int(self.x), int(self.y), int(self.w), int(self.h)
        if x < 0 or y < 0 or x + w > width or y + h > height:
            raise EdgecamError(f"box {self.text()} leaves the {width}x{height} frame")
        return x, y, w, h

    def text(self) -> str:
        return ",".join(f"{v:g}" for v in (self.x, self.y, self.w, self.h))

    def values(self) -> list[float] | list[int]:
        """[x, y, w, h] as a site file or JSON writes them: whole pixels, or fractions."""
        values = (self.x, self.y, self.w, self.h)
        return [float(v) for v in values] if self.fractional else [int(v) for v in values]

    @classmethod
    def parse(cls, text: str) -> Box:
        parts = [p.strip() for p in text.split(",")]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            values = []
        if len(values) != 4 or not all(math.isfinite(v) for v in values):
            raise EdgecamError(f"a box is X,Y,W,H (four numbers), got {text!r}")
        x, y, w, h = values
        if w <= 0 or h <= 0:
            raise EdgecamError(f"box {text} has a zero or negative size")
        if x < 0 or y < 0:
            raise EdgecamError(f"box {text} starts outside the frame (negative x or y)")
        fractional = all(v <= 1 for v in values)
        if fractional and (x + w > 1 + 1e-9 or y + h > 1 + 1e-9):
            raise EdgecamError(f"box {text} leaves the frame (as fractions, x + w and y + h "
                               "must be at most 1)")
        if not fractional and not all(v == int(v) for v in values):
            raise EdgecamError(f"box {text}: pixels are whole numbers (or give all four as "
                               "fractions <= 1)")
        return cls(x, y, w, h, fractional)


@dataclass(frozen=True)
class Region:
    """A named place of the frame. ``model`` (a file or store name) and ``hold`` (seconds a
    new label must last before the state changes) and ``threshold`` (``--threshold``'s text)
    are the run's when None."""

    name: str
    box: Box
    model: str | None = None
    hold: float | None = None
    threshold: str | None = None

    def describe(self) -> str:
        return f"{self.name}={self.box.text()}" + (f":{self.model}" if self.model else "")


def check_name(name: str, what: str = "a region's name") -> str:
    """A name a topic, a file and a JSON key can carry: 1-64 characters, no control
    characters, '/', '=' or ':'."""
    if not name.strip():
        raise EdgecamError(f"{what} is empty")
    if name != name.strip() or not _NAME.fullmatch(name):
        raise EdgecamError(f"{what} {name!r} must be 1-64 characters without control "
                           "characters, '/', '=' or ':' and without spaces at its ends")
    return name


def parse_region(text: str) -> Region:
    """``NAME=X,Y,W,H[:MODEL]`` as a ``Region``."""
    name, sep, rest = text.partition("=")
    if not sep:
        raise EdgecamError(f"{USAGE}; got {text!r}")
    box_text, _, model = rest.partition(":")
    try:
        return Region(check_name(name.strip()), Box.parse(box_text), model.strip() or None)
    except EdgecamError as exc:
        raise EdgecamError(f"--region {text!r}: {exc}") from None


def check_regions(regions: Iterable[Region]) -> tuple[Region, ...]:
    """The run's regions: no name twice."""
    out = tuple(regions)
    seen: set[str] = set()
    for region in out:
        if region.name in seen:
            raise EdgecamError(f"region {region.name!r} is given twice; each needs its own name")
        seen.add(region.name)
    return out


def place(regions: Sequence[Region], size: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """Each region's box in pixels of a frame of ``size`` (width, height), said in one line
    naming the region when one leaves the frame."""
    boxes = []
    for region in regions:
        try:
            boxes.append(region.box.pixels(*size))
        except EdgecamError as exc:
            raise EdgecamError(f"region {region.name!r}: {exc}") from None
    return boxes
