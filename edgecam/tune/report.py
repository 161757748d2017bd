"""What a tune run tells: the JSON (the contract in DESIGN.md) and the table people read.

Both are made from the same candidates, so the table's error column and the summary line are
the same numbers."""

from __future__ import annotations

from edgecam.tune.choose import free_fps, prediction_error
from edgecam.tune.latency import error_summary
from edgecam.tune.search import TuneResult
from edgecam.tune.space import Candidate

SOURCE_MARK = {"measured": "m", "published": "p", "estimated": "~", None: " "}
STEP_NAMES = {"export": "exports", "quantize": "quantizations", "picture": "scoring pictures",
              "pass": "FPS passes"}


def _r(x: float | None, nd: int = 2) -> float | None:
    return round(x, nd) if x is not None else None


def candidate_json(c: Candidate) -> dict:
    """One entry of ``candidates``: the contract's keys and what backs each figure."""
    spread = c.spread
    return {
        "arch": c.arch, "alpha": c.alpha, "resolution": c.resolution,
        "precision": c.precision, "threads": c.threads, "provider": c.provider, "name": c.name,
        "weights": c.weights, "top1": c.top1, "top1_source": c.top1_source,
        "top1_how": c.top1_how, "agreement": c.agreement, "macs": c.macs,
        "fps": _r(c.fps), "measured": c.measured, "fps_low": _r(c.fps_low),
        "fps_spread": [round(x, 2) for x in spread] if spread else None,
        "passes": len(c.passes), "fps_passes": [round(x, 2) for x in c.passes],
        "predicted_fps": _r(c.predicted_fps),
    }


def config_json(c: Candidate) -> dict:
    """The chosen config / a ladder rung (what the profile stores)."""
    return {"arch": c.arch, "alpha": c.alpha, "resolution": c.resolution,
            "precision": c.precision, "threads": c.threads, "provider": c.provider,
            "fps": _r(c.fps),
            "fps_low": _r(c.fps_low), "top1": c.top1, "top1_source": c.top1_source,
            "weights": c.weights, "macs": c.macs, "model": c.model, "name": c.name}


def prediction_errors(result: TuneResult) -> list[tuple[float, float]]:
    """(predicted, fastest pass) FPS of the configs measured after a prediction: the latency
    model predicts what a config does when nothing else runs (``choose.free_fps``)."""
    return [(c.predicted_fps, fps) for c in result.candidates
            if c.measured and c.predicted_fps is not None and (fps := free_fps(c)) is not None]


def to_json(result: TuneResult, device: dict) -> dict:
    measured = [c for c in result.candidates if c.measured]
    return {
        "device": device,
        "target_fps": result.target_fps,
        "margin": result.margin,
        "weights": result.weights,
        "chosen": config_json(result.chosen) if result.chosen else None,
        "candidates": [candidate_json(c) for c in result.candidates],
        "seconds": round(result.seconds, 1),
        "spent": {kind: {"steps": n, "seconds": round(sec, 1)}
                  for kind, (n, sec) in result.spent_on.items()},
        "budget_s": result.budget_s,
        "budget_hit": result.budget_hit,
        "measured": len(measured),
        "grid": len(result.candidates),
        "fastest": config_json(result.fastest) if result.fastest else None,
        "prediction": error_summary(prediction_errors(result)),
        "frontier": [config_json(c) for c in result.frontier],
        "data": result.data,
        "sample": result.sample,
        "notes": result.notes,
    }


def _row(c: Candidate, result: TuneResult, rungs: set[int], sample: bool) -> str:
    top1 = f"{c.top1:5.1f}{SOURCE_MARK[c.top1_source]}" if c.top1 is not None else f"{'-':>6}"
    agree = (f" {c.agreement:5.1f}" if c.agreement is not None else f" {'':>5}") if sample else ""
    pred = f"{c.predicted_fps:7.1f}" if c.predicted_fps is not None else f"{'-':>7}"
    if c.measured:
        assert c.spread is not None  # measured
        lo, hi = c.spread
        meas = f"{c.fps:7.1f} {c.fps_low:7.1f} {lo:6.0f}-{hi:<6.0f}{len(c.passes):>3}"
        error = prediction_error(c)  # None without a prediction
        err = f"{error * 100:+5.0f}%" if error is not None else ""
    else:
        meas, err = f"{'':>7} {'':>7} {'':>13}{'':>3}", ""
    mark = ("  <- chosen" if c is result.chosen else "  rung" if id(c) in rungs
            else "  too slow" if c.fps_low is not None and c.fps_low < result.need else "")
    name = f"{c.name} {c.provider}" if len({x.provider for x in result.candidates}) > 1 \
        else c.name
    return (f"{name:<33} {c.threads:>3} {c.macs / 1e6:6.0f} {top1}{agree} {pred} {meas} "
            f"{err:>6}{mark}")


def render(result: TuneResult, measured_only: bool = False) -> str:
    """The table (most accurate first) and the verdict."""
    sample = result.sample is not None
    rungs = {id(c) for c in result.frontier}
    head = (f"{'model':<33} {'thr':>3} {'MMACs':>6} {'top-1':>6}" + (" agree" if sample else "")
            + f" {'pred':>7} {'FPS':>7} {'low':>7} {'spread':>13} {'n':>2} {'err':>6}")
    lines = [head]
    # figures measured on --data first: they do not compare with published ones
    order = sorted(result.candidates,
                   key=lambda c: (c.top1_source != "measured",
                                  -(c.top1 if c.top1 is not None else -1), c.macs, c.threads))
    for c in order:
        if c.measured or not measured_only:
            lines.append(_row(c, result, rungs, sample))
    measured = sum(c.measured for c in result.candidates)
    summary = error_summary(prediction_errors(result))
    lines += [
        "",
        "top-1: m measured on --data, p published (the checkpoint's own, native size, FP32), "
        "~ estimated (how: --json-out)",
        "FPS: median of the passes; low: their lower quartile (what the choice uses); "
        "n: passes; pred, err: the latency model, fitted on and compared with each config's "
        "fastest pass; rung: a measured step live --profile switches to",
        f"measured {measured} of {len(result.candidates)} configs in {result.seconds:.0f} s "
        f"(budget {result.budget_s:g} s)",
    ]
    if result.spent_on:
        lines.append("time: " + ", ".join(f"{STEP_NAMES.get(kind, kind)} {sec:.0f} s ({n})"
                                          for kind, (n, sec) in result.spent_on.items()))
    if result.data:
        d = result.data
        scored = len({c.file for c in result.candidates if c.measured_top1 is not None})
        lines.append(f"--data {d['dir']}: {d['pictures']} pictures in {d['classes']} classes; "
                     f"top-1 measured for {scored} model files")
    if result.sample:
        s = result.sample
        lines.append(f"agree: % of {s['frames']} frames of {s['path']} with the same top-1 as "
                     f"{s['reference']} (agreement, not accuracy)")
    if summary["configs"]:
        lines.append(f"latency model: predicted vs fastest pass on {summary['configs']} configs "
                     f"measured after prediction: median |error| {summary['median_abs_pct']}%, "
                     f"max {summary['max_abs_pct']}%")
    lines += [f"note: {n}" for n in result.notes]
    if result.chosen:
        c = result.chosen
        assert c.spread is not None  # the choice was measured
        lo, hi = c.spread
        lines.append(
            f"chosen: {c.name} with {c.threads} thread(s) on {c.provider}: {c.fps_low:.1f} FPS "
            f"in the lower quartile of {len(c.passes)} passes >= {result.need:.1f} (target "
            f"{result.target_fps:g} + {result.margin:.0%}); median {c.fps:.1f}, spread "
            f"{lo:.0f}-{hi:.0f}; top-1 {c.top1} ({c.top1_source})")
    else:
        f = result.fastest
        lines.append(f"no config reaches {result.target_fps:g} FPS (+{result.margin:.0%}) here"
                     + (f"; the fastest is {f.name} with {f.threads} thread(s) at "
                        f"{f.fps:.1f} FPS (median)" if f else ""))
    return "\n".join(lines)
