"""``tune --plot``: top-1 against FPS, measured and predicted configs, the Pareto front and the
target line, as a PNG (matplotlib, Agg: no display needed)."""

from __future__ import annotations

from pathlib import Path

from edgecam.errors import EdgecamError, MissingExtraError
from edgecam.tune import TuneResult, pareto


def plot(result: TuneResult, output: str | Path, title: str = "") -> Path:
    """Write the plot; returns its path."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingExtraError("--plot needs matplotlib: pip install 'edgecam[plot]'") from None
    out = Path(output)
    if out.suffix.lower() != ".png":
        raise EdgecamError(f"--plot writes a PNG; give a file name ending in .png, got {out}")
    cands = [c for c in result.candidates if c.fps is not None and c.top1 is not None]
    fig, ax = plt.subplots(figsize=(10, 6.5), dpi=120)
    for threads, marker in zip(sorted({c.threads for c in cands}), "osD^v<>"):
        meas = [c for c in cands if c.measured and c.threads == threads]
        pred = [c for c in cands if not c.measured and c.threads == threads]
        ax.scatter([c.fps for c in pred], [c.top1 for c in pred], marker=marker, s=28,
                   facecolors="none", edgecolors="tab:gray",
                   label=f"predicted, {threads} thread(s)")
        ax.scatter([c.fps for c in meas], [c.top1 for c in meas], marker=marker, s=46,
                   color="tab:blue", label=f"measured, {threads} thread(s)")
        for c in meas:  # the prediction that decided to measure it, joined to the truth
            if c.predicted_fps is not None:
                ax.plot([c.predicted_fps, c.measured_fps], [c.top1, c.top1], color="tab:blue",
                        lw=0.8, alpha=0.5)
    front = sorted(pareto(cands), key=lambda c: c.fps)
    ax.step([c.fps for c in front], [c.top1 for c in front], where="pre", color="tab:green",
            lw=1.5, label="Pareto front")
    ax.axvline(result.target_fps, color="tab:red", ls="--", lw=1.2,
               label=f"target {result.target_fps:g} FPS")
    if result.chosen is not None:
        c = result.chosen
        ax.scatter([c.measured_fps], [c.top1], s=220, facecolors="none", edgecolors="tab:red",
                   lw=2, label=f"chosen: {c.name} x{c.threads}")
        ax.annotate(f"{c.name} x{c.threads}\n{c.measured_fps:.0f} FPS, {c.top1}%",
                    (c.measured_fps, c.top1), textcoords="offset points", xytext=(40, -75),
                    fontsize=9, color="tab:red", zorder=5,
                    arrowprops={"arrowstyle": "->", "color": "tab:red"},
                    bbox={"boxstyle": "round", "fc": "white", "ec": "tab:red", "alpha": 0.9})
    for c in front:
        ax.annotate(c.name.split("-", 1)[1] if "-" in c.name else c.name, (c.fps, c.top1),
                    textcoords="offset points", xytext=(4, 4), fontsize=7, color="dimgray")
    ax.set_xscale("log")
    ax.set_xlabel("frames per second (640x480: preprocess, infer, postprocess, overlay), "
                  "log scale")
    ax.set_ylabel("ImageNet top-1 (%), published or interpolated")
    ax.set_title(title or f"edgecam tune: accuracy vs speed, target {result.target_fps:g} FPS")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out)
    except OSError as exc:
        raise EdgecamError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return out
