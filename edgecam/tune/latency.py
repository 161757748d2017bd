"""A per-group latency model, ``ms = a * MACs + b``, fitted on a few measured configs.

Measuring every (alpha, rho) costs an export and seconds of inference each; within one family,
precision and thread count the frame time is close to affine in the multiply-adds (``b`` is the
fixed cost: preprocessing a 640x480 frame, per-layer overhead, postprocessing), so a few anchors
predict the rest well enough to decide which few configs are worth measuring.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LinearLatency:
    """``ms = a * macs_m + b`` (MACs in millions, time in milliseconds)."""

    a: float
    b: float
    points: int

    def ms(self, macs: float) -> float:
        return max(1e-3, self.a * macs / 1e6 + self.b)

    def fps(self, macs: float) -> float:
        return 1000.0 / self.ms(macs)


def fit_latency(points: Iterable[tuple[float, float]]) -> LinearLatency | None:
    """Least squares on (macs, ms) points; one point (or a fit that makes bigger models faster)
    falls back to a line through the origin, which never predicts a negative time."""
    pts = [(float(m) / 1e6, float(t)) for m, t in points]
    if not pts:
        return None
    x = np.array([p[0] for p in pts])
    y = np.array([p[1] for p in pts])
    if len(pts) >= 2 and np.ptp(x) > 0:
        a, b = np.polyfit(x, y, 1)
        if a > 0 and b > -0.5 * y.min():
            return LinearLatency(float(a), float(b), len(pts))
    a = float((x * y).sum() / max((x * x).sum(), 1e-12))
    return LinearLatency(a, 0.0, len(pts))


def relative_error(predicted_fps: float, measured_fps: float) -> float:
    """(predicted - measured) / measured: positive = the model was optimistic."""
    return (predicted_fps - measured_fps) / measured_fps if measured_fps > 0 else 0.0


def error_summary(pairs: Iterable[tuple[float, float]]) -> dict:
    """Median and max |relative error| over (predicted, measured) FPS pairs."""
    errs = [abs(relative_error(p, m)) for p, m in pairs]
    if not errs:
        return {"configs": 0, "median_abs_pct": None, "max_abs_pct": None}
    return {"configs": len(errs), "median_abs_pct": round(float(np.median(errs)) * 100, 1),
            "max_abs_pct": round(float(max(errs)) * 100, 1)}
