"""The run: measure a few anchors, fit, measure what could change the answer (with --data, a
model file's top-1 on the pictures first, its frame rate only while that score could still
win), confirm the configs that decide it with more interleaved passes, all within
``--budget-s`` (exports, quantization and accuracy included).

What is measured next depends only on what was measured (frame rates and scores), never on
what a step cost: a first run from an empty model store measures what a later run does, as
long as the budget pays for its exports.

Every step is priced before it starts (an export, a quantization, a pass, a pass over --data,
from what the same kind of step cost so far), and a step that does not fit in what is left of
the budget is not started.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgecam.models.catalog import models_dir
from edgecam.tune import accuracy  # the module: tests replace its functions
from edgecam.tune.choose import (
    best,
    choose,
    could_win,
    fastest,
    fit_models,
    ladder,
    next_rung,
    next_to_measure,
    order_breaks,
    predict,
    prediction_error,
    rank_key,
    ties,
)
from edgecam.tune.measure import DISTURBED, RETRIES, Bench, is_ready, model_file
from edgecam.tune.request import TuneOptions, required_fps
from edgecam.tune.space import Candidate, candidates
from edgecam.util.errors import EdgecamError
from edgecam.util.progress import Progress

# what a step is assumed to cost before one of its kind was seen (seconds)
FIRST_GUESS = {"export": 8.0, "quantize": 10.0, "pass": 1.5, "picture": 0.05}
RESERVE_S = 0.5  # for the table, the profile and the plot
# how far below the target a prediction may be and still be measured: twice the latency
# model's worst error so far, within these bounds
BAND = (0.15, 0.3)


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
    budget_s: float
    budget_hit: bool = False
    data: dict | None = None  # {"dir", "pictures", "classes"}
    sample: dict | None = None  # {"path", "frames", "reference"}
    notes: list[str] = field(default_factory=list)
    spent_on: dict[str, tuple[int, float]] = field(default_factory=dict)  # kind -> (steps, s)
    tied: list[Candidate] = field(default_factory=list)  # reach the target, tie the best

    @property
    def need(self) -> float:
        return required_fps(self.target_fps, self.margin)


class Search:
    """One tune run's state: the candidates, the clock, what each kind of step costs."""

    def __init__(self, opts: TuneOptions, say: Callable[[str], None]) -> None:
        self.opts = opts
        self.say = say
        self.start = time.monotonic()
        self.cost: dict[str, float] = {}
        self.spent_on: dict[str, tuple[int, float]] = {}  # kind -> (steps, seconds)
        self.budget_hit = False
        self.bench = Bench()
        self.data = accuracy.LabelledData.load(opts.data) if opts.data else None
        self.seen: dict[Path, list[tuple[int, str]]] = {}  # predictions on --data per file
        self.need = opts.need

    @property
    def by_data(self) -> bool:
        return self.data is not None

    @property
    def pictures(self) -> int:
        """How many labelled pictures --data has (0 without it)."""
        return len(self.data.labels) if self.data is not None else 0

    # -- the clock ---------------------------------------------------------------------------

    def spent(self) -> float:
        return time.monotonic() - self.start

    def guess(self, kind: str) -> float:
        return self.cost.get(kind, FIRST_GUESS[kind])

    def affords(self, seconds: float) -> bool:
        if self.spent() + seconds + RESERVE_S <= self.opts.budget_s:
            return True
        self.budget_hit = True
        return False

    def timed(self, kind: str, fn: Callable, per: int = 1):
        t0 = time.monotonic()
        out = fn()
        total = time.monotonic() - t0
        took = total / max(1, per)
        self.cost[kind] = max(took, 0.5 * self.cost.get(kind, took) + 0.5 * took)
        steps, seconds = self.spent_on.get(kind, (0, 0.0))
        self.spent_on[kind] = (steps + 1, seconds + total)
        return out

    # -- steps -------------------------------------------------------------------------------

    def prepare(self, c: Candidate, cands: list[Candidate]) -> bool:
        """The candidate's file and, with --data, its measured top-1; False when the budget
        cannot pay for them and one pass."""
        opts = self.opts
        fp32 = c if c.precision == "fp32" else Candidate(
            c.config.fp32(), 1, c.macs, c.weights, c.prior)
        steps = []
        if c.file is None and not is_ready(fp32, opts.weights):
            steps.append(("export", fp32))
        if c.file is None and c is not fp32 and not is_ready(c, opts.weights):
            steps.append(("quantize", c))
        price = self.guess("pass") + sum(self.guess(kind) for kind, _ in steps)
        if self.data is not None and c.file not in self.seen:
            price += self.guess("picture") * len(self.data.labels)
        if not self.affords(price):
            return False
        for kind, x in steps:
            self.timed(kind, lambda x=x: model_file(x, opts.weights, opts.calibration))
        path = model_file(c, opts.weights, opts.calibration)
        for other in cands:  # thread variants share the file
            if other is not c and other.same_file() == c.same_file() and other.file is None:
                other.file, other.model = c.file, c.model
        if self.data is not None:
            if path not in self.seen:
                self.data.check_labels(c.labels or _imagenet(), c.name)
                self.seen[path] = self.timed(
                    "picture", lambda data=self.data: accuracy.predictions(path, data.source, 1),
                    per=len(self.data.labels))
            answers = [label for _, label in self.seen[path]]
            top1, right = self.data.top1(answers), self.data.right(answers)
            for other in cands:
                if other.file == path:
                    other.measured_top1, other.right = top1, right
        return True

    def rounds(self, cs: list[Candidate], count: int, bar: Progress) -> None:
        """``count`` passes of each config, interleaved (the order reversed every round, so a
        trend in the machine's speed does not favour the first or the last)."""
        todo = [c for c in dict.fromkeys(cs) if c.file is not None]
        for r in range(count):
            for c in (todo if r % 2 == 0 else reversed(todo)):
                if not self.affords(self.guess("pass")):
                    return
                fps = self.timed("pass", lambda c=c: self.bench.pass_fps(c.file, c.threads,
                                                                          c.provider))
                first = not c.measured
                c.passes.append(fps)
                if first:
                    bar.update(1)

    def choice(self, cands: list[Candidate]) -> Candidate | None:
        return choose(cands, self.need, self.by_data)

    def add(self, c: Candidate, cands: list[Candidate], bar: Progress) -> bool:
        """Prepare and measure one config (the configs that decide the answer get passes
        interleaved with each other at the end, in ``_confirm``)."""
        if not self.prepare(c, cands):
            return False
        self.rounds([c], self.opts.passes, bar)
        return c.measured


def _imagenet() -> list[str]:
    from edgecam.models.labels import imagenet_labels

    return list(imagenet_labels())


def anchors(cands: list[Candidate]) -> list[Candidate]:
    """Per (family, precision), at every thread count: the smallest config (the fastest, so a
    run always knows it) and the one in the geometric middle of the MACs range (cheaper to
    export and measure than the largest, and enough for a line), smallest first."""
    keys: dict[tuple, list[Candidate]] = {}
    for c in cands:
        keys.setdefault((c.family_key, c.precision), []).append(c)
    picked: list[Candidate] = []
    for group in keys.values():
        configs = sorted({(c.macs, c.name) for c in group})
        middle = math.sqrt(configs[0][0] * configs[-1][0])
        ends = {configs[0], min(configs[1:] or configs, key=lambda m: abs(m[0] - middle))}
        picked += [c for c in group if (c.macs, c.name) in ends]
    return sorted(picked, key=lambda c: (c.macs, c.threads))


def _files() -> set[Path]:
    return set(models_dir().rglob("*.onnx")) if models_dir().is_dir() else set()


def tune_device(opts: TuneOptions, say: Callable[[str], None] | None = None) -> TuneResult:
    """Measure, choose, confirm; raises when the budget measured nothing."""
    say = say or (lambda _m: None)
    run = Search(opts, say)
    cands = candidates(opts)
    notes: list[str] = []
    if opts.precision_note and opts.models is None:
        notes.append(opts.precision_note)
        say(notes[-1])
    if opts.weights == "random" and opts.models is None:
        notes.append("--weights random tunes latency only: the top-1 column is the papers' "
                     "separately trained models, not these random weights")
        say(notes[-1])
    if run.data is not None and opts.models is None:
        run.data.check_labels(_imagenet(), "ImageNet models")
    before = _files()
    with Progress(None, "configs", desc="tune", enabled=opts.progress) as bar:
        _search(run, cands, bar)
    if not any(c.measured for c in cands):
        raise EdgecamError(
            f"the budget of {opts.budget_s:g} s measured nothing (a first export or pass "
            f"costs ~{run.guess('export'):.0f} s here); give a larger --budget-s")
    tied = ties(cands, run.need, run.by_data)  # the choice is the cheapest of them
    chosen = tied[0] if tied else None
    if run.bench.reruns:
        still = (f"; {run.bench.disturbed} still disturbed after {RETRIES} retries counted "
                 "as measured" if run.bench.disturbed else "")
        notes.append(f"{run.bench.reruns} of the passes were measured again: other processes "
                     f"kept more than {DISTURBED:.0%} of the CPUs busy during them{still}")
        say(notes[-1])
    sample = _agreement(run, cands, chosen) if opts.sample is not None else None
    run.bench.release()
    added = _files() - before
    if added:
        size = sum(p.stat().st_size for p in added) / 2**20
        say(f"exported {len(added)} model(s) ({size:.0f} MB in {models_dir()})")
    if run.budget_hit:
        exports, took = run.spent_on.get("export", (0, 0.0))
        kept = (f" ({exports} export(s) took {took:.0f} s of it; the files are kept, so a "
                "second run measures more)" if exports else "")
        say(f"budget of {opts.budget_s:g} s reached; deciding on what was measured{kept}")
    return TuneResult(opts.target_fps, opts.margin, opts.weights, cands, chosen, fastest(cands),
                      ladder(cands, chosen), run.spent(), opts.budget_s, run.budget_hit,
                      _data_block(run.data), sample, notes, dict(run.spent_on), tied)


def _data_block(data: accuracy.LabelledData | None) -> dict | None:
    """What the run's --data was: its pictures, classes, figure and chance level."""
    if data is None:
        return None
    chance, largest = data.chance
    return {"dir": str(data.root), "pictures": len(data.labels) - data.unknown,
            "classes": len(data.classes) - (1 if data.unknown else 0),
            "unknown_pictures": data.unknown, "figure": data.figure, "chance": chance,
            "largest_folder": largest}


def _search(run: Search, cands: list[Candidate], bar: Progress) -> None:
    opts = run.opts
    if opts.models is not None:  # a user's list of files: measure them all
        todo = sorted(cands, key=lambda c: (c.macs, c.threads))
        ready = [c for c in todo if run.prepare(c, cands)]
        run.rounds(ready, opts.passes, bar)
    else:
        ready = [c for c in anchors(cands) if run.prepare(c, cands)]
        run.rounds(ready, opts.passes, bar)
        _explore(run, cands, bar)
        # a second look: the anchors again, later in the run, so a busy stretch of a shared
        # machine while they first ran does not hide configs; explore what that opens
        if not run.budget_hit:
            run.rounds(ready, opts.passes, bar)
            _explore(run, cands, bar)
        # measured rungs below the choice, for live --profile to step down to
        rung = run.choice(cands) or fastest(cands)
        for _ in range(2):
            predict(cands, fit_models(cands))
            rung = next_rung(cands, rung) if rung is not None else None
            if rung is None or not run.add(rung, cands, bar):
                break
    _confirm(run, cands, bar)


def _explore(run: Search, cands: list[Candidate], bar: Progress) -> None:
    """Measure what could change the answer until nothing could (or the budget is spent)."""
    while not run.budget_hit:
        predict(cands, fit_models(cands))
        errs = [abs(e) for c in cands if (e := prediction_error(c)) is not None]
        band = min(BAND[1], max(BAND[0], 2 * max(errs, default=0.0)))
        nxt = next_to_measure(cands, run.choice(cands), run.need, band, run.pictures)
        if nxt is None:
            return
        if run.by_data and nxt.measured_top1 is None:
            # its top-1 on --data first (after its export, a second): a score below the
            # choice's spares the frame-rate passes, a high one raises every hope
            if not run.prepare(nxt, cands):
                return
        elif not run.add(nxt, cands, bar):
            return


def _confirm(run: Search, cands: list[Candidate], bar: Progress) -> None:
    """More interleaved passes for the configs that decide the answer: the choice, the ones
    measured near the target that would replace it if they reached it (more accurate, or tied
    and cheaper), and any pair whose FPS contradicts its MACs."""
    for _ in range(2):
        chosen = run.choice(cands)
        top = best(cands, run.need, run.by_data)
        deciding = [c for c in cands if c.measured and c is not chosen
                    and could_win(c, top, chosen, None)
                    and c.fps is not None and c.fps >= run.need * 0.8]
        deciding = ([chosen] if chosen else []) + deciding + order_breaks(cands)
        if not deciding or run.budget_hit:
            return
        run.rounds(deciding, run.opts.passes, bar)
        if run.choice(cands) is chosen:
            return


def _agreement(run: Search, cands: list[Candidate], chosen: Candidate | None) -> dict | None:
    """--sample: every measured file's top-1 agreement with the most accurate one's."""
    assert run.opts.sample is not None  # only called with --sample
    sample = accuracy.load_sample(run.opts.sample)
    files = {c.file: c for c in sorted(cands, key=rank_key) if c.file is not None}
    if not files:
        return None
    reference = max(files.values(), key=rank_key)
    assert reference.file is not None  # one of files
    preds: dict[Path, list] = {}
    for path in [reference.file] + [p for p in files if p != reference.file]:
        if not run.affords(run.guess("picture") * sample.total):
            break
        preds[path] = run.timed("picture", lambda p=path: accuracy.predictions(
            p, sample, 1), per=sample.total)
    for c in cands:
        if c.file in preds:
            c.agreement = accuracy.agreement(preds[reference.file], preds[c.file])
    return {"path": str(run.opts.sample), "frames": sample.total, "reference": reference.name}
