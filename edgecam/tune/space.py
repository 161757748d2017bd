"""The candidate space: which (model, threads) configs a run may choose, and what is known of
each config's accuracy before anything is measured.

Accuracy rules (every candidate says which applies and, when estimated, how):

- ``published``: the checkpoint's own ImageNet figure, at its native resolution, in FP32
  (EfficientNet-Lite0 224, Lite1 240, Lite2 260, torchvision/timm checkpoints at 224).
- ``estimated``: anything else with ImageNet labels. A checkpoint at another resolution or in
  INT8: its published figure minus the drop measured for it by benchmarks/offsize_accuracy.py
  (the catalog's ``MEASURED_DROPS``); a checkpoint not measured (MobileNet, MixNet) borrows the
  drop of the nearest measured family and says so. Random weights: the papers' separately
  trained models (latency only).
- ``measured``: top-1 on the user's labelled ``--data`` (set later, by the run).
- ``None``: a custom label set without ``--data``.
"""

from __future__ import annotations

import bisect
import glob
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from edgecam.models.at_hand import weights_at_hand
from edgecam.models.catalog import (
    ARCHS,
    MEASURED_DROPS,
    PUBLISHED,
    Configured,
    MeasuredDrop,
    ModelConfig,
    checkpoint_crop,
    measured_drops,
    published,
    weight_source,
)
from edgecam.tune.request import TuneOptions, default_precisions
from edgecam.util.errors import EdgecamError

RHO_STEP = 32
RHO_MIN = 96


@dataclass(frozen=True)
class Prior:
    """What is known of a config's top-1 before measuring it."""

    top1: float | None
    source: str | None  # "published", "estimated" or None
    how: str | None = None  # for estimates: how the figure was made


@dataclass(eq=False)  # identity: the run keeps candidates in sets and compares them
class Candidate(Configured):
    config: ModelConfig  # the model: arch, width, size, precision
    threads: int
    macs: int
    weights: str | None  # the weights' source id, None for random weights
    prior: Prior
    name: str = ""  # the model's display name (store name, or the file's stem)
    file: Path | None = None  # the ONNX file, once exported / quantized / given
    model: str = ""  # what a profile stores to load it again (store name or path)
    passes: list[float] = field(default_factory=list)  # FPS of each measured pass
    predicted_fps: float | None = None  # the latency model's, before it was measured
    measured_top1: float | None = None  # on --data
    right: tuple[bool, ...] | None = field(default=None, repr=False)  # per --data picture
    agreement: float | None = None  # on --sample, with the most accurate candidate
    family_key: str = ""
    labels: list[str] | None = field(default=None, repr=False)  # None: ImageNet's
    provider: str = "auto"  # the --provider it runs on

    def __post_init__(self) -> None:
        if not self.name:
            self.name = self.config.name
        if not self.family_key:
            info = ARCHS.get(self.arch)
            self.family_key = info.family if info else self.arch

    # -- frame rate ------------------------------------------------------------------------

    @property
    def measured(self) -> bool:
        return bool(self.passes)

    @property
    def fps(self) -> float | None:
        """The median of the measured passes, else the prediction."""
        return float(np.median(self.passes)) if self.passes else self.predicted_fps

    @property
    def fps_low(self) -> float | None:
        """The conservative figure the choice rests on: the lower quartile of the passes
        (three passes in four at least about this fast). A config that reached the target only
        in its lucky passes is not chosen, and one slow pass in six (another process woke up)
        does not sink one that holds it, so the answer does not flip with that one pass."""
        return float(np.percentile(self.passes, 25)) if self.passes else None

    @property
    def spread(self) -> tuple[float, float] | None:
        return (min(self.passes), max(self.passes)) if self.passes else None

    # -- accuracy --------------------------------------------------------------------------

    @property
    def top1(self) -> float | None:
        return self.measured_top1 if self.measured_top1 is not None else self.prior.top1

    @property
    def top1_source(self) -> str | None:
        return "measured" if self.measured_top1 is not None else self.prior.source

    @property
    def top1_how(self) -> str | None:
        return None if self.measured_top1 is not None else self.prior.how

    def group(self) -> tuple[str, str, int, str]:
        """Configs whose frame time is one line in MACs."""
        return self.family_key, self.precision, self.threads, self.provider

    def same_file(self) -> tuple:
        """Candidates that differ only in threads or provider share a file (and its
        accuracy)."""
        return self.arch, self.alpha, self.resolution, self.precision, self.weights, self.name


# --- accuracy before measuring ----------------------------------------------------------------


def _reference_curve(resolution: int) -> float:
    """MobileNetV2 1.0's published top-1 against resolution (TF-slim: one model trained per
    resolution), linear between its points and continued with the end slopes."""
    pts = sorted((r.resolution, r.top1) for r in PUBLISHED
                 if r.arch == "mobilenet_v2" and math.isclose(r.alpha, 1.0))
    i = min(max(1, bisect.bisect_left([p[0] for p in pts], resolution)), len(pts) - 1)
    (r0, t0), (r1, t1) = pts[i - 1], pts[i]
    return t0 + (t1 - t0) * (resolution - r0) / (r1 - r0)


def _paper_figure(arch: str, alpha: float, resolution: int) -> Prior:
    """The papers' figure for a separately trained model at (alpha, rho): what random weights
    are compared with (they have no accuracy of their own)."""
    what = "random weights tune latency only; the figure is the paper's separately trained model"
    row = published(arch, alpha, resolution)
    if row is not None:
        return Prior(row.top1, "estimated", f"{what} ({row.source})")
    rows = sorted((r for r in PUBLISHED if r.arch == arch and math.isclose(r.alpha, alpha)),
                  key=lambda r: r.resolution)
    if not rows:
        return Prior(None, None)
    if len(rows) == 1:
        base = rows[0]
        drop = min(0.0, _reference_curve(resolution) - _reference_curve(base.resolution))
        return Prior(round(base.top1 + drop, 1), "estimated",
                     f"{what} at {base.resolution} ({base.top1}), {drop:+.1f} for "
                     f"{base.resolution}->{resolution} from MobileNetV2 1.0's TF-slim curve")
    lo = [r for r in rows if r.resolution <= resolution] or rows[:1]
    hi = [r for r in rows if r.resolution >= resolution] or rows[-1:]
    a, b = lo[-1], hi[0]
    if a is b:
        a, b = (rows[0], rows[1]) if a is rows[0] else (rows[-2], rows[-1])
    est = a.top1 + (b.top1 - a.top1) * (resolution - a.resolution) / (b.resolution - a.resolution)
    return Prior(round(est, 1), "estimated",
                 f"{what}, interpolated between rho {a.resolution} and {b.resolution}")


def measured_family(arch: str) -> str | None:
    """``arch`` when its drops were measured, else the measured arch nearest in native
    resolution (then in name): whose drops an unmeasured checkpoint borrows."""
    measured = sorted({d.arch for d in MEASURED_DROPS})
    if arch in measured:
        return arch
    if not measured or arch not in ARCHS:
        return None
    native = ARCHS[arch].resolution
    return min(measured, key=lambda a: (abs(ARCHS[a].resolution - native), a))


def measured_drop(arch: str, resolution: int, precision: str) -> tuple[float, str] | None:
    """Points ``arch``'s checkpoint loses at ``resolution`` in ``precision`` from its FP32
    figure at its native size, and how that was found: measured at that size, between two
    measured sizes (linear), or borrowed from the nearest measured family at the same fraction
    of its native size. Above the native size no gain is assumed."""
    family = measured_family(arch)
    if family is None:
        return None
    native, fam_native = ARCHS[arch].resolution, ARCHS[family].resolution
    at = min(resolution * fam_native / native, fam_native)  # the same fraction of the native
    src = weight_source(arch, 1.0)
    crop = checkpoint_crop(arch, resolution, src.preprocess.crop_pct if src else 0.875)
    rows = measured_drops(family, precision, crop)  # at the crop this file is exported with
    if precision == "fp32":
        rows = [r for r in rows if r.resolution != fam_native] + [
            MeasuredDrop(family, fam_native, "fp32", 0.0, 0.0, 0)]
        rows.sort(key=lambda r: r.resolution)
    if not rows:
        return None
    exact = [r for r in rows if math.isclose(r.resolution, at)]
    if exact:
        r = exact[0]
        drop = r.drop
        how = (f"measured at {r.resolution} (crop {r.crop:g}), n={r.n}, SE {r.se}" if r.n
               else "its native size")
    else:
        lo = [r for r in rows if r.resolution < at] or rows[:2]
        hi = [r for r in rows if r.resolution > at] or rows[-2:]
        a, b = (lo[-1], hi[0]) if lo[-1] is not hi[0] else (rows[0], rows[1])
        drop = a.drop + (b.drop - a.drop) * (at - a.resolution) / (b.resolution - a.resolution)
        how = f"linear between the drops measured at {a.resolution} and {b.resolution}"
    what = f"{family} {fam_native}->{at:g} {precision.upper()}"
    if family != arch:
        what += (f", borrowed: {arch} was not measured and {family} is the nearest measured "
                 f"family (native {fam_native})")
    return round(drop, 1), f"{what}; {how}; benchmarks/offsize_accuracy.py"


def _checkpoint_figure(arch: str, alpha: float, resolution: int, precision: str) -> Prior:
    """The ImageNet checkpoint's own figure at its native resolution in FP32 (published);
    anything else: that figure minus the drop measured for this checkpoint at this size and
    precision (catalog ``MEASURED_DROPS``), or borrowed from the nearest measured family."""
    src = weight_source(arch, alpha)
    native = ARCHS[arch].resolution
    row = published(arch, alpha, native)
    base = src.top1 if src is not None and src.top1 is not None else row.top1 if row else None
    if base is None:
        return Prior(None, None)
    if resolution == native and precision == "fp32":
        return Prior(round(base, 1), "published")
    found = measured_drop(arch, resolution, precision)
    if found is None:
        return Prior(None, None)
    drop, how = found
    if drop < 0:  # within the noise of the sample: no config beats its published figure
        how += f"; measured {drop:+.1f}, counted as 0"
        drop = 0.0
    top1 = round(base - drop, 1)
    if precision == "int8":  # never above FP32 at the same size (the gap is within noise)
        fp32 = _checkpoint_figure(arch, alpha, resolution, "fp32")
        if fp32.top1 is not None and fp32.top1 < top1:
            how += f"; capped at FP32's {fp32.top1} at this size"
            top1 = fp32.top1
    return Prior(top1, "estimated",
                 f"checkpoint's published {base:.1f} (FP32 at {native}) - {drop:.1f}, the drop "
                 f"measured on ImageNet pictures for {how}")


def _int8_of_paper(fp32: Prior, arch: str, resolution: int) -> Prior:
    """INT8 of a paper's figure (random weights): minus what INT8 costs at this size over FP32
    at this size, as measured (or borrowed) for a checkpoint."""
    if fp32.top1 is None:
        return fp32
    q = measured_drop(arch, resolution, "int8")
    f = measured_drop(arch, resolution, "fp32")
    if q is None or f is None:
        return Prior(None, None)
    cost = max(0.0, round(q[0] - f[0], 1))  # INT8 is not credited with a gain
    return Prior(round(fp32.top1 - cost, 1), "estimated",
                 f"FP32 {fp32.top1} ({fp32.how}) - {cost}, what INT8 cost over FP32 at this size "
                 f"on ImageNet pictures: {q[1]}")


def prior_top1(arch: str, alpha: float, resolution: int, precision: str,
               weights: str | None) -> Prior:
    """The top-1 rules above for a zoo model with ImageNet labels."""
    if arch not in ARCHS:
        return Prior(None, None)
    src = weight_source(arch, alpha)
    if weights is None:
        fp32 = _paper_figure(arch, alpha, resolution)
        return _int8_of_paper(fp32, arch, resolution) if precision == "int8" else fp32
    if src is not None and weights == weights_id(src):
        return _checkpoint_figure(arch, alpha, resolution, precision)
    return Prior(None, None)  # other weights: only --data can tell


def weights_id(src) -> str:
    """The id export writes into a file's metadata for catalog weights."""
    return f"imagenet:{src.origin}/{src.model}"


# --- the zoo's candidates ---------------------------------------------------------------------


def resolve_families(names: list[str], weights: str) -> list[str]:
    """Architectures for ``--family`` names (a family such as ``mobilenet_v2``/``mixnet`` or an
    arch); by default those whose ImageNet weights are at hand: installed offline
    (EfficientNet-Lite0/1/2), in huggingface_hub's cache (MobileNetV3/V4) or already downloaded.
    """
    if not names:
        if weights == "imagenet":
            return [a for a, info in ARCHS.items()
                    if any(weights_at_hand(w) for w in info.weights.values())]
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


def alphas_for(arch: str, weights: str, at_hand: bool = False) -> list[float]:
    """With ImageNet weights only the widths a checkpoint exists for (a user can deploy them),
    and with ``at_hand`` only those whose file is here already."""
    info = ARCHS[arch]
    if weights == "imagenet":
        return [a for a in info.alphas if a in info.weights
                and (not at_hand or weights_at_hand(info.weights[a]))]
    return list(info.alphas)


def zoo_candidates(opts: TuneOptions) -> list[Candidate]:
    """Every (arch, alpha, rho, precision, threads) to consider, MACs from the stage tables."""
    from edgecam.models.zoo import model_size

    out = []
    for arch in resolve_families(opts.families, opts.weights):
        for alpha in alphas_for(arch, opts.weights, at_hand=not opts.families):
            src = weight_source(arch, alpha) if opts.weights == "imagenet" else None
            wid = weights_id(src) if src is not None else None
            for res in resolutions(arch, alpha):
                macs = model_size(arch, float(alpha), res).macs
                for prec in opts.precisions or default_precisions()[0]:
                    prior = prior_top1(arch, alpha, res, prec, wid)
                    config = ModelConfig(arch, float(alpha), res, prec)
                    out += [Candidate(config, t, macs, wid, prior) for t in opts.threads]
    if not out:
        raise EdgecamError("no candidates: the families chosen have no ImageNet weights here "
                           "(try --weights random, which tunes latency alone)")
    return out


# --- existing ONNX files ----------------------------------------------------------------------


def file_candidates(pattern: str, threads: list[int]) -> list[Candidate]:
    """``--models GLOB``: every matching edgecam ONNX file at every thread count; what each
    file's metadata says decides its accuracy rule (custom labels: only --data can tell)."""
    from edgecam.models.labels import imagenet_labels
    from edgecam.runtime.engine import Engine

    paths = sorted({Path(p) for p in glob.glob(pattern, recursive=True)} |
                   ({Path(pattern)} if Path(pattern).is_file() else set()))
    paths = [p for p in paths if p.suffix == ".onnx"]
    if not paths:
        raise EdgecamError(f"--models {pattern!r} matches no .onnx file")
    imagenet = list(imagenet_labels())
    out = []
    for path in paths:
        meta = Engine(path, 1).meta
        weights = None if meta.weights.startswith("random") else meta.weights
        prior = (prior_top1(meta.arch, meta.alpha, meta.resolution, meta.precision, weights)
                 if list(meta.labels) == imagenet else Prior(None, None))
        macs = meta.macs
        if not macs and meta.arch in ARCHS:
            from edgecam.models.zoo import model_size

            macs = model_size(meta.arch, meta.alpha, meta.resolution).macs
        out += [Candidate(meta.config, t, macs, weights, prior, name=path.stem, file=path,
                          model=str(path.resolve()), labels=list(meta.labels))
                for t in threads]
    return out


def candidates(opts: TuneOptions) -> list[Candidate]:
    """The zoo's or the files' configs, each on every ``--provider`` (measured like threads)."""
    base = (file_candidates(opts.models, opts.threads) if opts.models is not None
            else zoo_candidates(opts))
    if not opts.providers:
        return base
    return [replace(c, provider=p, passes=[]) for c in base for p in opts.providers]
