"""``tune --plot``: top-1 against FPS as a PNG (matplotlib, Agg: no display needed).

The marker says where the top-1 comes from (measured on --data, published for the
checkpoint, estimated), the fill whether the FPS was measured or only predicted; the Pareto
front joins measured points only; each measured point is labelled with its size, precision
and threads, and the callout of the choice stays inside the axes."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import cast

from edgecam.tune.choose import pareto
from edgecam.tune.search import TuneResult
from edgecam.tune.space import Candidate
from edgecam.util.errors import EdgecamError, MissingExtraError
from edgecam.util.safewrite import write_whole

MARKERS = {"measured": ("o", "top-1 measured on --data"),
           "published": ("s", "top-1 published (checkpoint, native size, FP32)"),
           "estimated": ("^", "top-1 estimated")}


def point_label(c: Candidate) -> str:
    """``224 px fp32 x2``: what a measured point is."""
    return f"{c.resolution} px {c.precision} x{c.threads}"


def plot(result: TuneResult, output: str | Path, title: str = "") -> Path:
    """Write the plot; returns its path."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter, LogLocator
    except ImportError:
        raise MissingExtraError("--plot needs matplotlib: pip install 'edgecam[plot]'") from None
    out = Path(output)
    if out.suffix.lower() != ".png":
        raise EdgecamError(f"--plot writes a PNG; give a file name ending in .png, got {out}")
    # cast() below: the FPS and top-1 of these are set (matplotlib's types take no None)
    cands = [c for c in result.candidates if c.fps is not None and c.top1 is not None]
    fig, ax = plt.subplots(figsize=(10, 6.5), dpi=120)
    for source, (marker, label) in MARKERS.items():
        meas = [c for c in cands if c.measured and c.top1_source == source]
        pred = [c for c in cands if not c.measured and c.top1_source == source]
        if pred:
            ax.scatter(cast(list[float], [c.fps for c in pred]),
                       cast(list[float], [c.top1 for c in pred]), marker=marker, s=26,
                       facecolors="none", edgecolors="tab:gray",
                       label=f"{label}, FPS predicted")
        if meas:
            ax.scatter(cast(list[float], [c.fps for c in meas]),
                       cast(list[float], [c.top1 for c in meas]), marker=marker, s=46,
                       color="tab:blue", label=f"{label}, FPS measured (median)")
            for c in meas:  # the spread of the passes
                assert c.spread is not None and c.top1 is not None  # measured, in cands
                lo, hi = c.spread
                ax.plot([lo, hi], [c.top1, c.top1], color="tab:blue", lw=0.8, alpha=0.5)
    front = sorted(pareto([c for c in cands if c.measured]), key=lambda c: c.fps or 0.0)
    ax.step(cast(list[float], [c.fps for c in front]), cast(list[float], [c.top1 for c in front]),
            where="pre", color="tab:green", lw=1.5, label="Pareto front (measured)")
    ax.axvline(result.need, color="tab:red", ls="--", lw=1.2,
               label=f"target {result.target_fps:g} FPS + {result.margin:.0%}")
    measured = [c for c in cands if c.measured]
    for c in measured:  # every measured point says what it is: size, precision, threads
        ax.annotate(point_label(c), (c.fps, c.top1), textcoords="offset points",
                    xytext=(4, 4), fontsize=7, color="dimgray")
    fps_all = cast(list[float], [c.fps for c in cands] + [result.need])
    top_all = cast(list[float], [c.top1 for c in cands])
    ax.set_xscale("log")
    ax.set_xlim(min(fps_all) / 1.3, max(fps_all) * 1.3)
    ax.set_ylim(max(0.0, min(top_all) - 5), min(100.0, max(top_all) + 5))
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda _x, _pos: ""))
    if result.chosen is not None:
        c = result.chosen
        ax.scatter(cast(list[float], [c.fps]), cast(list[float], [c.top1]), s=220,
                   facecolors="none", edgecolors="tab:red", lw=2,
                   label=f"chosen: {c.name} x{c.threads}")
        # the callout sits inside the axes, in the corner away from the chosen point
        x_frac = ((math.log(cast(float, c.fps)) - math.log(ax.get_xlim()[0]))
                  / (math.log(ax.get_xlim()[1]) - math.log(ax.get_xlim()[0])))
        corner = (0.98, 0.97, "right", "top") if x_frac < 0.5 else (0.02, 0.97, "left", "top")
        ax.annotate(f"chosen: {c.name} x{c.threads}\n{c.fps_low:.0f} FPS (lower quartile), "
                    f"top-1 {c.top1} ({c.top1_source})",
                    (c.fps, c.top1), xytext=corner[:2], textcoords="axes fraction",
                    ha=corner[2], va=corner[3], fontsize=9, color="tab:red", zorder=5,
                    arrowprops={"arrowstyle": "->", "color": "tab:red"},
                    bbox={"boxstyle": "round", "fc": "white", "ec": "tab:red", "alpha": 0.9})
    ax.set_xlabel("frames per second, 640x480 frames through the whole pipeline (log scale; "
                  "bars: spread of the passes)")
    ax.set_ylabel("top-1 (%): circles on --data, others ImageNet" if result.data
                  else "ImageNet top-1 (%)")
    ax.set_title(title or f"edgecam tune: accuracy vs speed, target {result.target_fps:g} FPS")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    return write_whole(out, buffer.getvalue())  # whole, never through a planted link
