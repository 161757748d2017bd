"""What a tune run tells: the JSON (the contract in docs/commands.md) and the table people read.

Both are made from the same candidates, so the table's error column and the summary line are
the same numbers."""

from __future__ import annotations

import io

from edgecam.tune.chance import no_better_than_chance
from edgecam.tune.choose import free_fps
from edgecam.tune.latency import error_summary
from edgecam.tune.profiles import Rung, rounded
from edgecam.tune.search import TuneResult
from edgecam.tune.space import Candidate

SOURCE_MARK = {"measured": "m", "published": "p", "estimated": "~", None: " "}
STEP_NAMES = {"export": "exports", "quantize": "quantizations", "picture": "scoring pictures",
              "pass": "FPS passes"}


def candidate_json(c: Candidate, tied: bool = False) -> dict:
    """One entry of ``candidates``: the contract's keys and what backs each figure (``tied``:
    it reaches the target and ties with the most accurate config that does)."""
    spread = c.spread
    return {
        "arch": c.arch, "alpha": c.alpha, "resolution": c.resolution,
        "precision": c.precision, "threads": c.threads, "provider": c.provider, "name": c.name,
        "weights": c.weights, "top1": c.top1, "top1_source": c.top1_source,
        "top1_how": c.top1_how, "agreement": c.agreement, "macs": c.macs,
        "fps": rounded(c.fps), "measured": c.measured, "fps_low": rounded(c.fps_low),
        "fps_spread": [round(x, 2) for x in spread] if spread else None,
        "passes": len(c.passes), "fps_passes": [round(x, 2) for x in c.passes],
        "predicted_fps": rounded(c.predicted_fps), "tied": tied,
    }


def config_json(c: Candidate) -> dict:
    """The chosen config / a ladder rung: what the profile stores, and how its top-1 came."""
    return {**Rung.of(c).to_dict(), "top1_how": c.top1_how}


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
        "candidates": [candidate_json(c, any(c is t for t in result.tied))
                       for c in result.candidates],
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
        "data": ({**result.data, "no_better_than_chance": no_better_than_chance(result)}
                 if result.data else None),
        "sample": result.sample,
        "notes": result.notes,
    }


def verdict(c: Candidate, result: TuneResult, rungs: set[int]) -> str:
    """Why this config is or is not the answer, in words."""
    tied = len(result.tied) > 1 and any(c is t for t in result.tied)
    if c is result.chosen:
        return "chosen (cheapest of the tied)" if tied else "chosen"
    if id(c) in rungs:
        return "fallback for live --profile (faster, less accurate)"
    if c.measured:
        assert c.fps_low is not None  # measured
        if c.fps_low < result.need:
            return f"too slow: {c.fps_low:.1f} < {result.need:.1f} FPS needed"
        if result.data and c.measured_top1 is None:
            return "fast enough, not scored on --data"
        if tied:
            return "fast enough, tied within noise (ties go to fewer MACs, then threads)"
        return "fast enough, less accurate"
    if c.predicted_fps is not None and c.predicted_fps < result.need:
        return f"not measured: predicted {c.predicted_fps:.0f} FPS < {result.need:.0f}"
    if result.data and c.measured_top1 is not None:
        return "not timed: its top-1 on --data could not win"
    return "not measured: could not change the answer"


def more_accurate(c: Candidate, chosen: Candidate | None) -> bool:
    if chosen is None or c.top1 is None:
        return chosen is None
    return chosen.top1 is None or c.top1 > chosen.top1


def table(result: TuneResult, rows: list[Candidate], rungs: set[int]) -> str:
    """The rows as a table (rich), most accurate first."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    providers = len({x.provider for x in result.candidates}) > 1
    grid = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for title, justify in (("model", "left"), ("threads", "right"), ("top-1 %", "right"),
                           ("FPS (low)", "right"), ("FPS (median)", "right"),
                           ("MMACs", "right"), ("why", "left")):
        grid.add_column(title, justify=justify)  # type: ignore[arg-type]
    for c in rows:
        top1 = f"{c.top1:.1f} {SOURCE_MARK[c.top1_source]}" if c.top1 is not None else "-"
        low = f"{c.fps_low:.1f}" if c.fps_low is not None else "-"
        median = f"{c.fps:.1f}" if c.measured and c.fps is not None else "-"
        name = f"{c.name} ({c.provider})" if providers else c.name
        grid.add_row(name, str(c.threads), top1, low, median, f"{c.macs / 1e6:.0f}",
                     verdict(c, result, rungs),
                     style="bold" if c is result.chosen else None)
    console = Console(file=io.StringIO(), width=140, color_system=None, highlight=False)
    console.print(grid)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    return "\n".join(line.rstrip() for line in text.rstrip().splitlines())


def render(result: TuneResult, all_rows: bool = False) -> str:
    """The configs that matter (the choice, its fallbacks, what was measured, and every more
    accurate config with why it was refused), then one line for the rest and the verdict;
    ``all_rows`` lists every config."""
    rungs = {id(c) for c in result.frontier}
    # figures measured on --data first: they do not compare with published ones
    order = sorted(result.candidates,
                   key=lambda c: (c.top1_source != "measured",
                                  -(c.top1 if c.top1 is not None else -1), c.macs, c.threads))
    shown = [c for c in order if all_rows or c.measured or id(c) in rungs
             or more_accurate(c, result.chosen)]
    hidden = len(order) - len(shown)
    lines = [table(result, shown, rungs)]
    if hidden:
        lines.append(f"... and {hidden} less accurate config(s) not measured, as they could "
                     "not change the answer (--all lists every config)")
    if result.sample:
        agree = [c for c in shown if c.agreement is not None]
        if agree:
            lines.append("agreement with " + result.sample["reference"] + ": " + ", ".join(
                f"{c.name} x{c.threads} {c.agreement:.1f}%" for c in agree))

    measured = sum(c.measured for c in result.candidates)
    summary = error_summary(prediction_errors(result))
    lines += [
        "",
        "top-1 %: m measured on --data, p published for that checkpoint (native size, FP32), "
        "~ estimated (how: --json-out)",
        "~ for a checkpoint off its native size or in INT8: its published figure minus the "
        "drop measured on ImageNet pictures (benchmarks/offsize_accuracy.py)",
        "FPS (low): the lower quartile of the interleaved passes, what the choice uses; "
        "FPS (median): their median",
        f"measured {measured} of {len(result.candidates)} configs in {result.seconds:.0f} s "
        f"(budget {result.budget_s:g} s)",
    ]
    if result.spent_on:
        lines.append("time: " + ", ".join(f"{STEP_NAMES.get(kind, kind)} {sec:.0f} s ({n})"
                                          for kind, (n, sec) in result.spent_on.items()))
    if result.data:
        d = result.data
        scored = len({c.file for c in result.candidates if c.measured_top1 is not None})
        unknown = (f" and {d['unknown_pictures']} of anything else (unknown/)"
                   if d.get("unknown_pictures") else "")
        lines.append(f"--data {d['dir']}: {d['pictures']} pictures in {d['classes']} classes"
                     f"{unknown}; measured for {scored} model files: "
                     + d.get("figure", "top-1: % of the pictures answered with their folder's "
                                       "label"))
    if result.sample:
        s = result.sample
        lines.append(f"agreement: % of {s['frames']} frames of {s['path']} with the same top-1 "
                     f"as {s['reference']} (agreement, not accuracy)")
    if len(result.tied) > 1:
        lines.append(
            "tied: " + ", ".join(f"{c.name} x{c.threads}" for c in result.tied) + " reach the "
            "target with top-1 within noise of the best (on --data: scores apart by at most "
            "sqrt(pictures only one of them got right)); the fewest MACs, then threads, wins")
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
