"""``edgecam tune``: find the most accurate (alpha, rho, precision, threads) that still runs at
the target frame rate on this device.

Candidates come from the catalog (published top-1, other resolutions interpolated and marked
estimated). Only a few are measured: anchors fit ``ms = a * MACs + b`` per (family, precision,
threads), the model predicts the rest, and measurements go to the configs that could change the
answer (more accurate than the current choice and predicted near or above the target). The
answer only ever rests on measured frame rates.
"""

from __future__ import annotations

import bisect
import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgecam.catalog import (
    ARCHS,
    PUBLISHED,
    estimate_top1,
    models_dir,
    parse_model_name,
    published,
)
from edgecam.errors import EdgecamError
from edgecam.io.files import SyntheticSource
from edgecam.latency_model import LinearLatency, error_summary, fit_latency
from edgecam.progress import Progress
from edgecam.runtime.engine import default_threads
from edgecam.signals import EndOfRun
from edgecam.sinks import Sink

if TYPE_CHECKING:
    from edgecam.pipeline import Result

MARGIN = 0.05  # measured FPS must beat the target by this much
RHO_STEP = 32
RHO_MIN = 96
FRAME_SIZE = (640, 480)


@dataclass
class Candidate:
    arch: str
    alpha: float
    resolution: int
    precision: str
    threads: int
    macs: int
    top1: float | None
    top1_estimated: bool
    predicted_fps: float | None = None  # the latency model's, before this config was measured
    measured_fps: float | None = None
    model: str = ""  # a store name (imagenet weights) or a path (random weights)

    @property
    def family(self) -> str:
        return ARCHS[self.arch].family

    @property
    def name(self) -> str:
        from edgecam.catalog import model_name

        return model_name(self.arch, self.alpha, self.resolution, self.precision)

    @property
    def fps(self) -> float | None:
        return self.measured_fps if self.measured_fps is not None else self.predicted_fps

    @property
    def measured(self) -> bool:
        return self.measured_fps is not None

    def group(self) -> tuple[str, str, int]:
        return self.family, self.precision, self.threads

    def to_dict(self) -> dict:
        """One entry of the JSON ``candidates`` list."""
        fps = self.fps
        return {"arch": self.arch, "alpha": self.alpha, "resolution": self.resolution,
                "precision": self.precision, "threads": self.threads, "macs": self.macs,
                "top1": self.top1, "top1_estimated": self.top1_estimated,
                "fps": round(fps, 2) if fps is not None else None, "measured": self.measured}

    def config(self) -> dict:
        """The chosen config / a frontier entry (also what the profile stores)."""
        return {"arch": self.arch, "alpha": self.alpha, "resolution": self.resolution,
                "precision": self.precision, "threads": self.threads,
                "fps": round(self.fps, 2) if self.fps is not None else None,
                "top1": self.top1, "macs": self.macs, "model": self.model}


@dataclass
class TuneOptions:
    target_fps: float
    families: list[str] = field(default_factory=list)
    weights: str = "imagenet"
    precisions: list[str] = field(default_factory=lambda: ["fp32"])
    threads: list[int] = field(default_factory=list)
    budget_s: float = 90.0
    margin: float = MARGIN
    calibration: Path = Path("calibration/images")
    progress: bool | None = None


# --- the candidate space ----------------------------------------------------------------------


def resolve_families(names: list[str], weights: str) -> list[str]:
    """Architectures for ``--family`` names (a family such as ``mobilenet_v2``/``mixnet`` or an
    arch); by default those whose ImageNet weights install offline (EfficientNet-Lite0/1/2)."""
    if not names:
        if weights == "imagenet":
            return [a for a, info in ARCHS.items()
                    if any(w.package for w in info.weights.values())]
        return list(ARCHS)
    archs: list[str] = []
    families = sorted({i.family for i in ARCHS.values()} | set(ARCHS))
    for name in names:
        found = [a for a, info in ARCHS.items() if name in (a, info.family)]
        if not found:
            raise EdgecamError(f"unknown family {name!r}; choose from: {', '.join(families)}")
        archs += [a for a in found if a not in archs]
    return archs


def resolutions(arch: str, alpha: float) -> list[int]:
    """96, 128, ... up to the native size, plus every published resolution."""
    native = ARCHS[arch].resolution
    grid = set(range(RHO_MIN, native + 1, RHO_STEP)) | {native}
    grid |= {r.resolution for r in PUBLISHED if r.arch == arch and math.isclose(r.alpha, alpha)}
    return sorted(grid)


def top1_for(arch: str, alpha: float, resolution: int) -> tuple[float | None, bool]:
    """Published top-1, or interpolated in resolution. Where the tables give one resolution
    only (EfficientNet-Lite, MixNet, MobileNetV2 1.3/1.4), the drop with resolution is borrowed
    from MobileNetV2 1.0, the one curve the tables give in full."""
    rows = [r for r in PUBLISHED if r.arch == arch and math.isclose(r.alpha, alpha)]
    if len(rows) != 1 or rows[0].resolution == resolution:
        return estimate_top1(arch, alpha, resolution)
    base = rows[0]
    drop = min(0.0, _reference_curve(resolution) - _reference_curve(base.resolution))
    return round(base.top1 + drop, 1), True  # never above the published figure


def _reference_curve(resolution: int) -> float:
    """MobileNetV2 1.0's published top-1 against resolution, linear between its points and
    continued with the end slopes beyond them (uncapped, so 256 stays below 260)."""
    pts = sorted((r.resolution, r.top1) for r in PUBLISHED
                 if r.arch == "mobilenet_v2" and math.isclose(r.alpha, 1.0))
    i = min(max(1, bisect.bisect_left([p[0] for p in pts], resolution)), len(pts) - 1)
    (r0, t0), (r1, t1) = pts[i - 1], pts[i]
    return t0 + (t1 - t0) * (resolution - r0) / (r1 - r0)


@functools.cache
def count_macs(arch: str, alpha: float, resolution: int) -> int:
    """MACs counted on the built model (torch, ~0.1 s; the same count ``edgecam models``
    shows, so one latency fit sees one kind of figure), else the published table, else scaled
    with rho^2 from the nearest published row."""
    from edgecam.store import has_export_extra

    if has_export_extra():
        from edgecam.zoo import create_model
        from edgecam.zoo.profile import count_macs as counted

        return int(counted(create_model(arch, alpha, resolution), resolution))
    row = published(arch, alpha, resolution)
    if row is not None:
        return int(row.macs_m * 1e6)
    rows = [r for r in PUBLISHED if r.arch == arch and math.isclose(r.alpha, alpha)]
    if not rows:
        raise EdgecamError(f"no MACs known for {arch} alpha {alpha}: install edgecam[export]")
    near = min(rows, key=lambda r: abs(r.resolution - resolution))
    return int(near.macs_m * 1e6 * (resolution / near.resolution) ** 2)


def alphas_for(arch: str, weights: str) -> list[float]:
    info = ARCHS[arch]
    if weights == "imagenet":
        return [a for a in info.alphas if a in info.weights]
    return list(info.alphas)


def candidates(opts: TuneOptions) -> list[Candidate]:
    """Every (arch, alpha, rho, precision, threads) to consider, with MACs and top-1."""
    out = []
    for arch in resolve_families(opts.families, opts.weights):
        for alpha in alphas_for(arch, opts.weights):
            for res in resolutions(arch, alpha):
                top1, est = top1_for(arch, alpha, res)
                macs = count_macs(arch, alpha, res)
                for prec in opts.precisions:
                    for threads in opts.threads:
                        out.append(Candidate(arch, float(alpha), res, prec, threads, macs,
                                             top1, est))
    if not out:
        raise EdgecamError("no candidates: the families chosen have no ImageNet weights here "
                           "(try --weights random, which tunes latency alone)")
    return out


# --- models and measurement -------------------------------------------------------------------


def _model_files() -> set[Path]:
    return set(models_dir().rglob("*.onnx")) if models_dir().is_dir() else set()


def model_path(cand: Candidate, weights: str, calibration: Path) -> Path:
    """The ONNX file of a candidate, exported (and quantized) on first use: imagenet weights
    through the model store, random weights in models/random/."""
    from edgecam.catalog import model_name
    from edgecam.store import resolve_model

    fp32_name = model_name(cand.arch, cand.alpha, cand.resolution)
    if weights == "imagenet":
        fp32 = resolve_model(fp32_name, "imagenet")
        cand.model = cand.name
    else:
        fp32 = models_dir() / "random" / f"{fp32_name}.onnx"
        if not fp32.is_file():
            from edgecam.export import export_model

            export_model(cand.arch, cand.alpha, cand.resolution, weights="random", output=fp32)
        cand.model = str(fp32.resolve())
    if cand.precision == "fp32":
        return fp32
    int8 = fp32.with_name(f"{fp32_name}-int8.onnx")
    if not int8.is_file():
        from edgecam.quantize import calibration_images, load_frames, quantize_file
        from edgecam.quantize import synthetic_frames as synth

        try:
            frames = load_frames(calibration_images(calibration))
        except EdgecamError:
            frames = synth()
        quantize_file(fp32, frames, int8)
    cand.model = cand.name if weights == "imagenet" else str(int8.resolve())
    return int8


def sample_source(count: int = 8) -> SyntheticSource:
    """640x480 frames of the synthetic pattern (what ``bench`` uses by default), a fresh copy
    each time (the overlay draws on them)."""
    return SyntheticSource("synthetic://640x480", FRAME_SIZE, count=count)


class Stopwatch(Sink):
    """A sink timing the gaps between results after a warm-up; it ends the run when it has
    ``min_frames`` over ``min_s``, or after ``max_s`` whatever it has."""

    def __init__(self, min_frames: int, min_s: float, max_s: float, warmup_s: float) -> None:
        super().__init__()
        self.min_frames, self.min_s, self.max_s, self.warmup_s = min_frames, min_s, max_s, warmup_s
        self.times: list[float] = []
        self.start = time.perf_counter()
        self.last = 0.0
        self.measuring = False

    def write(self, result: Result) -> None:
        now = time.perf_counter()
        if self.measuring:
            self.times.append(now - self.last)
            spent = now - self.start
            if (len(self.times) >= self.min_frames and spent >= self.min_s) or spent >= self.max_s:
                self.last = now
                raise EndOfRun
        elif now - self.start >= self.warmup_s and result.frame.index >= 3:
            self.measuring, self.start = True, now
        self.last = now


def measure_ms(path: Path, threads: int, source: SyntheticSource, min_frames: int = 20,
               min_s: float = 0.6, max_s: float = 2.5, warmup_s: float = 0.25) -> float:
    """ms per 640x480 frame through the pipeline ``live`` and ``bench`` run (decode-ahead
    thread, preprocess, infer, postprocess, overlay): the time between results, after a
    warm-up. The figure is the mean without the slowest 5%: FPS is frames over time, so a
    median would promise more than a run delivers, while a rare stall from another process
    should not decide the choice."""
    from edgecam.pipeline import Model, Pipeline
    from edgecam.runtime.engine import Engine

    watch = Stopwatch(min_frames, min_s, max_s, warmup_s)
    Pipeline(Model(Engine(path, threads), top_k=5), [watch], overlay=True).run(source)
    kept = np.sort(watch.times)[: max(1, int(len(watch.times) * 0.95))]
    return float(kept.mean()) * 1e3


# --- choosing ---------------------------------------------------------------------------------


def rank_key(c: Candidate) -> tuple:
    """Better = higher top-1, then faster, then fewer threads."""
    return (c.top1 if c.top1 is not None else -1.0, c.fps or 0.0, -c.threads)


def choose(cands: list[Candidate], target_fps: float, margin: float = MARGIN
           ) -> Candidate | None:
    """The best top-1 whose *measured* FPS reaches target * (1 + margin)."""
    need = target_fps * (1 + margin)
    ok = [c for c in cands if c.measured and c.measured_fps >= need]
    return max(ok, key=rank_key) if ok else None


def fastest(cands: list[Candidate]) -> Candidate | None:
    measured = [c for c in cands if c.measured]
    return max(measured, key=lambda c: c.measured_fps) if measured else None


def pareto(cands: list[Candidate]) -> list[Candidate]:
    """Configs no other config beats on both top-1 and FPS, sorted by FPS (fastest first)."""
    pts = sorted((c for c in cands if c.fps is not None and c.top1 is not None),
                 key=lambda c: (-c.fps, -c.top1))
    front: list[Candidate] = []
    best = -math.inf
    for c in pts:
        if c.top1 > best:
            front.append(c)
            best = c.top1
    return front


def ladder(cands: list[Candidate], chosen: Candidate | None) -> list[Candidate]:
    """The step-down path for ``live``: the chosen config, then ever faster Pareto configs,
    sorted by FPS (fastest first)."""
    if chosen is None:
        top = fastest(cands)
        return [top] if top else []
    faster = [c for c in cands if c.fps is not None and c.fps > chosen.fps
              and c.top1 is not None and c.top1 < chosen.top1]
    return pareto(faster) + [chosen]


def fit_models(cands: list[Candidate]) -> dict[tuple, LinearLatency]:
    groups: dict[tuple, list[tuple[float, float]]] = {}
    for c in cands:
        if c.measured:
            groups.setdefault(c.group(), []).append((c.macs, 1000.0 / c.measured_fps))
    return {k: m for k, pts in groups.items() if (m := fit_latency(pts)) is not None}


def predict(cands: list[Candidate], models: dict[tuple, LinearLatency]) -> None:
    for c in cands:
        if not c.measured and c.group() in models:
            c.predicted_fps = models[c.group()].fps(c.macs)


def anchors(cands: list[Candidate]) -> list[Candidate]:
    """Smallest, largest and middle MACs per (family, precision), at every thread count."""
    keys: dict[tuple, list[Candidate]] = {}
    for c in cands:
        keys.setdefault((c.family, c.precision), []).append(c)
    picked: list[Candidate] = []
    for group in keys.values():
        configs = sorted({(c.macs, c.arch, c.alpha, c.resolution) for c in group})
        chosen = {configs[0], configs[-1], configs[len(configs) // 2]}
        picked += [c for c in group if (c.macs, c.arch, c.alpha, c.resolution) in chosen]
    # measure the small ones first: cheap, and a tight budget still gets a fit
    return sorted(picked, key=lambda c: (c.macs, c.threads))


def next_to_measure(cands: list[Candidate], target_fps: float, margin: float,
                    band: float) -> Candidate | None:
    """An unmeasured config that could change the answer: more accurate than the current
    choice and predicted to reach, or nearly reach, the target."""
    need = target_fps * (1 + margin)
    current = choose(cands, target_fps, margin)
    floor = current.top1 if current else -math.inf
    pool = [c for c in cands if not c.measured and c.predicted_fps is not None
            and c.top1 is not None and c.top1 > floor and c.predicted_fps >= need * (1 - band)]
    if not pool:
        return None
    likely = [c for c in pool if c.predicted_fps >= need]
    if likely:
        return max(likely, key=rank_key)
    return max(pool, key=lambda c: c.predicted_fps / need)


# --- the run ----------------------------------------------------------------------------------


@dataclass
class TuneResult:
    target_fps: float
    margin: float
    weights: str
    candidates: list[Candidate]
    chosen: Candidate | None
    fastest: Candidate | None
    frontier: list[Candidate]
    seconds: float
    errors: list[dict]  # per measured, predicted-before-measuring config
    budget_hit: bool = False

    def to_json(self, device: dict) -> dict:
        measured = [c for c in self.candidates if c.measured]
        pairs = [(e["predicted_fps"], e["measured_fps"]) for e in self.errors]
        return {
            "device": device,
            "target_fps": self.target_fps,
            "chosen": self.chosen.config() if self.chosen else None,
            "candidates": [c.to_dict() for c in self.candidates],
            "seconds": round(self.seconds, 1),
            "margin": self.margin,
            "weights": self.weights,
            "measured": len(measured),
            "grid": len(self.candidates),
            "fastest": self.fastest.config() if self.fastest else None,
            "prediction": {**error_summary(pairs), "configs_detail": self.errors},
            "frontier": [{**c.config(), "measured": c.measured} for c in self.frontier],
        }


def check_options(opts: TuneOptions) -> None:
    if not (math.isfinite(opts.target_fps) and opts.target_fps > 0):
        raise EdgecamError(f"--target-fps must be > 0, got {opts.target_fps}")
    if opts.weights not in ("imagenet", "random"):
        raise EdgecamError(f"--weights must be imagenet or random, got {opts.weights!r}")
    bad = [p for p in opts.precisions if p not in ("fp32", "int8")]
    if bad or not opts.precisions:
        raise EdgecamError(f"--precision takes fp32 and/or int8, got {','.join(bad) or 'none'}")
    if not opts.threads:
        opts.threads = list(range(1, default_threads() + 1))
    if any(t < 1 for t in opts.threads):
        raise EdgecamError(f"--threads must be >= 1, got {opts.threads}")
    if not opts.budget_s > 0:
        raise EdgecamError(f"--budget-s must be > 0, got {opts.budget_s}")
    resolve_families(opts.families, opts.weights)


def confirm(cands: list[Candidate], chosen: Candidate | None, opts: TuneOptions,
            pattern: SyntheticSource, start: float, passes: int = 2) -> Candidate | None:
    """Measure again, later in the run, the configs that decide the answer (the choice and
    the more accurate ones found too slow); each keeps its best pass. This machine's speed
    drifts for tens of seconds at a time (other processes, clocks), and one slow stretch must
    not decide what the device can do; a run that meets a slow stretch is what ``live
    --profile`` adapts to."""
    for _ in range(passes):
        floor = chosen.top1 if chosen is not None and chosen.top1 is not None else -math.inf
        deciding = [c for c in cands if c.measured and c.top1 is not None and c.top1 >= floor]
        for c in sorted(deciding, key=rank_key, reverse=True):
            if time.monotonic() - start + 1.0 > opts.budget_s:
                return choose(cands, opts.target_fps, opts.margin)
            ms = measure_ms(model_path(c, opts.weights, opts.calibration), c.threads, pattern)
            c.measured_fps = max(c.measured_fps or 0.0, 1000.0 / ms)
        again = choose(cands, opts.target_fps, opts.margin)
        if again is chosen:
            return chosen
        chosen = again
    return chosen


def tune(opts: TuneOptions, say: Callable[[str], None] | None = None) -> TuneResult:
    """Measure anchors, fit, predict, measure what could change the answer, choose."""
    check_options(opts)
    start = time.monotonic()
    cands = candidates(opts)
    limit = max(1, len(cands) // 3)
    pattern = sample_source()
    errors: list[dict] = []
    budget_hit = False
    last_cost = 0.0

    with Progress(limit, "configs", desc="tune", enabled=opts.progress) as bar:

        def measure(c: Candidate) -> bool:
            nonlocal budget_hit, last_cost
            spent = time.monotonic() - start
            if spent + last_cost > opts.budget_s:
                budget_hit = True
                return False
            t0 = time.monotonic()
            path = model_path(c, opts.weights, opts.calibration)
            ms = measure_ms(path, c.threads, pattern)
            c.measured_fps = 1000.0 / ms
            if c.predicted_fps is not None:
                errors.append({"model": c.name, "threads": c.threads,
                               "predicted_fps": round(c.predicted_fps, 2),
                               "measured_fps": round(c.measured_fps, 2)})
            last_cost = time.monotonic() - t0
            bar.update(1)
            return True

        budget_left = True
        for c in anchors(cands):
            if sum(x.measured for x in cands) >= limit or not measure(c):
                budget_left = False
                break
        # refit after every measurement; widen the band of doubt with the error seen so far
        while budget_left and sum(c.measured for c in cands) < limit:
            predict(cands, fit_models(cands))
            seen = [abs(e["predicted_fps"] / e["measured_fps"] - 1) for e in errors]
            band = min(0.5, max(0.15, 2 * max(seen, default=0.0)))
            nxt = next_to_measure(cands, opts.target_fps, opts.margin, band)
            if nxt is None:
                break
            budget_left = measure(nxt)
        predict(cands, fit_models(cands))
        chosen = choose(cands, opts.target_fps, opts.margin)
        # the first steps down the ladder are what `live` switches to first: measure them too
        for _ in range(2):
            if not budget_left or sum(c.measured for c in cands) >= limit:
                break
            todo = [c for c in ladder(cands, chosen) if not c.measured]
            if not todo:
                break
            budget_left = measure(todo[-1])
            predict(cands, fit_models(cands))
        chosen = confirm(cands, choose(cands, opts.target_fps, opts.margin), opts, pattern, start)
    steps = ladder(cands, chosen)
    before = _model_files()
    for c in steps:  # `live --profile` may switch to any of them: have their files ready
        model_path(c, opts.weights, opts.calibration)
    added = _model_files() - before
    if added and say is not None:
        size = sum(p.stat().st_size for p in added) / 2**20
        say(f"exported {len(added)} model(s) for live --profile to switch to "
            f"({size:.0f} MB in {models_dir()})")
    if budget_hit and say is not None:
        say(f"budget of {opts.budget_s:g} s reached; deciding on what was measured")
    return TuneResult(opts.target_fps, opts.margin, opts.weights, cands, chosen, fastest(cands),
                      steps, time.monotonic() - start, errors, budget_hit)


# --- the human table --------------------------------------------------------------------------


def render(result: TuneResult) -> str:
    """The table (most accurate first) and the verdict."""
    need = result.target_fps * (1 + result.margin)
    front = {id(c) for c in result.frontier}
    lines = [f"{'model':<30} {'thr':>3} {'MMACs':>7} {'top-1':>6} {'pred FPS':>9} "
             f"{'meas FPS':>9} {'err':>6}"]
    order = sorted(result.candidates, key=lambda c: (-(c.top1 or 0), c.macs, c.threads))
    for c in order:
        err = (f"{(c.predicted_fps / c.measured_fps - 1) * 100:+5.0f}%"
               if c.measured and c.predicted_fps else "")
        pred = f"{c.predicted_fps:9.1f}" if c.predicted_fps is not None else f"{'-':>9}"
        meas = f"{c.measured_fps:9.1f}" if c.measured else f"{'':>9}"
        top1 = f"{c.top1:5.1f}{'~' if c.top1_estimated else ' '}" if c.top1 else f"{'?':>6}"
        mark = ("  <- chosen" if c is result.chosen
                else "  step-down" if id(c) in front else "")
        if c.measured and c.measured_fps < need and not mark:
            mark = "  too slow"
        lines.append(f"{c.name:<30} {c.threads:>3} {c.macs / 1e6:7.1f} {top1} {pred} {meas} "
                     f"{err:>6}{mark}")
    measured = sum(c.measured for c in result.candidates)
    pairs = [(e["predicted_fps"], e["measured_fps"]) for e in result.errors]
    summary = error_summary(pairs)
    lines.append("")
    lines.append("step-down = the faster configs live --profile switches to when the device "
                 "slows down")
    lines.append(f"~ = top-1 interpolated (estimated); measured {measured} of "
                 f"{len(result.candidates)} configs in {result.seconds:.0f} s")
    if summary["configs"]:
        lines.append(f"latency model: predicted vs measured FPS on {summary['configs']} configs "
                     f"measured after prediction: median |error| {summary['median_abs_pct']}%, "
                     f"max {summary['max_abs_pct']}%")
    if result.chosen:
        c = result.chosen
        est = " (estimated)" if c.top1_estimated else ""
        lines.append(f"chosen: {c.name} with {c.threads} thread(s): {c.measured_fps:.1f} FPS "
                     f"measured >= {need:.1f} (target {result.target_fps:g} + "
                     f"{result.margin:.0%}), top-1 {c.top1}{est}")
    else:
        f = result.fastest
        lines.append(f"no config reaches {result.target_fps:g} FPS (+{result.margin:.0%}) here"
                     + (f"; the fastest is {f.name} with {f.threads} thread(s) at "
                        f"{f.measured_fps:.1f} FPS" if f else ""))
    return "\n".join(lines)


def parse_list(text: str | None, kind: type = str) -> list:
    """``"1,2"`` -> [1, 2] (``--threads``, ``--precision``)."""
    if not text:
        return []
    try:
        return [kind(x.strip()) for x in text.split(",") if x.strip()]
    except ValueError:
        raise EdgecamError(f"cannot read {text!r} as a comma-separated list") from None


def config_model_ref(config: dict) -> str:
    """The model argument for a profile entry (a store name or a file path)."""
    model = config.get("model") or ""
    if model.endswith(".onnx"):
        return model
    parse_model_name(model)  # raises for a broken profile
    return model
