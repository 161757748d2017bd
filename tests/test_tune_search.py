"""The search of `edgecam tune --data`, deterministic: the real search loop and budget code on a
simulated device (a table of frame rates and --data scores, a simulated clock), so the
answer can be checked against a brute force over the whole table, and a run from an empty
model store against one from a full store. No wall clock, no model built."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from edgecam.models.catalog import ModelConfig
from edgecam.tune import search as run_mod
from edgecam.tune.choose import could_win, data_offset, hope_key, next_to_measure
from edgecam.tune.request import TuneOptions
from edgecam.tune.space import Candidate, Prior, zoo_candidates
from edgecam.util.progress import Progress

# Lite0/1/2 at every size: top-1 on the 19 pictures of scripts/make_labelled_dir.py, median FPS
# at 1 and 2 threads, as measured on the 2-core VM (2026-11-26). One picture is 5.3 points:
# the scores follow the ImageNet priors only loosely (Lite0 1.0/160, prior 72.1, scores 78.95).
DEVICE = {
    "lite0-1.0-96": (47.37, 187, 194), "lite0-1.0-128": (52.63, 125, 149),
    "lite0-1.0-160": (78.95, 91, 117), "lite0-1.0-192": (73.68, 74, 90),
    "lite0-1.0-224": (78.95, 55, 76),
    "lite1-1.0-96": (47.37, 139, 175), "lite1-1.0-128": (57.89, 112, 123),
    "lite1-1.0-160": (57.89, 72, 102), "lite1-1.0-192": (73.68, 57, 84),
    "lite1-1.0-224": (63.16, 49, 62), "lite1-1.0-240": (63.16, 40, 61),
    "lite2-1.0-96": (57.89, 126, 165), "lite2-1.0-128": (52.63, 98, 130),
    "lite2-1.0-160": (68.42, 78, 107), "lite2-1.0-192": (73.68, 59, 70),
    "lite2-1.0-224": (63.16, 42, 56), "lite2-1.0-256": (73.68, 30, 41),
    "lite2-1.0-260": (68.42, 34, 41),
}
PICTURES = 19
JITTER = (0.95, 1.05)  # passes alternate: the lower quartile of 3, 6, 9... is 0.95 x FPS
COST = {"export": 8.0, "picture": 0.05, "pass": 0.7}  # simulated seconds


def _key(name: str) -> str:
    return name.removeprefix("efficientnet_")


class Device:
    """The simulated device: a model store (empty = cold), a clock that exports, passes and
    pictures advance, and what every file scores on --data."""

    def __init__(self, warm: bool, scores: dict[str, float] | None = None,
                 busy_until: float = 0.0) -> None:
        self.now = 0.0
        self.busy_until = busy_until  # till then another process takes a core
        self.store = set(DEVICE) if warm else set()
        self.scores = scores or {k: v[0] for k, v in DEVICE.items()}
        self.passes: dict[tuple, int] = {}
        self.exported: list[str] = []
        self.scored: list[str] = []

    def monotonic(self) -> float:
        return self.now

    def is_ready(self, c: Candidate, weights: str) -> bool:
        return c.file is not None or _key(c.name) in self.store

    def model_file(self, c: Candidate, weights: str, calibration: Path) -> Path:
        if c.file is None:
            if _key(c.name) not in self.store:
                self.now += COST["export"]
                self.store.add(_key(c.name))
                self.exported.append(_key(c.name))
            c.file, c.model = Path(f"{c.name}.onnx"), c.name
        return c.file

    def predictions(self, path: Path, source: object, threads: int) -> list[tuple[int, str]]:
        self.now += COST["picture"] * PICTURES
        self.scored.append(_key(path.stem))
        hits = round(self.scores[_key(path.stem)] * PICTURES / 100)
        return [(281, "tabby")] * hits + [(282, "tiger cat")] * (PICTURES - hits)

    def pass_fps(self, path: Path, threads: int, provider: str | None = None) -> float:
        self.now += COST["pass"]
        done = self.passes.get((path, threads), 0)
        self.passes[path, threads] = done + 1
        busy = (0.7, 0.35)[threads - 1] if self.now <= self.busy_until else 1.0
        return DEVICE[_key(path.stem)][threads] * JITTER[done % 2] * busy


def _tune(monkeypatch: pytest.MonkeyPatch, device: Device, target: float,
          budget: float = 90.0) -> tuple[run_mod.Search, list[Candidate]]:
    """The real search and budget code of one `tune --data` run on ``device``."""
    from edgecam.tune.accuracy import LabelledData

    monkeypatch.setattr(run_mod, "time", device)
    monkeypatch.setattr(run_mod, "is_ready", device.is_ready)
    monkeypatch.setattr(run_mod, "model_file", device.model_file)
    monkeypatch.setattr(run_mod.accuracy, "predictions", device.predictions)
    opts = TuneOptions(target_fps=target, threads=[1, 2], budget_s=budget, progress=False,
                       precisions=["fp32"])  # the simulated device has FP32 figures
    run = run_mod.Search(opts, lambda _m: None)
    run.data = LabelledData(Path("val"), None, ["tabby"] * PICTURES)
    run.bench.pass_fps = device.pass_fps
    cands = zoo_candidates(opts)
    with Progress(None, "configs", enabled=False) as bar:
        run_mod._search(run, cands, bar)
    return run, cands


def brute_force(target: float, scores: dict[str, float],
                among: set[tuple[str, int]] | None = None) -> tuple[str, int] | None:
    """Every config of the table: among those whose lower quartile reaches target + 5% (or
    among those given), the best --data score (then the better prior, fewer threads, fewer
    MACs); every config within one picture of it ties (the simulated files get the first
    pictures right, so a score k pictures apart differs on k pictures, and k <= sqrt(k) only
    for k <= 1), and the tied config with the fewest MACs, then threads, wins (written apart
    from tune's code; the priors and MACs are the candidate space's)."""
    facts = {(_key(c.name), c.threads): (c.prior.top1, c.macs)
             for c in zoo_candidates(TuneOptions(target_fps=target, threads=[1, 2],
                                                   precisions=["fp32"]))}
    ok = []
    for name, (_, fps1, fps2) in DEVICE.items():
        for threads, fps in ((1, fps1), (2, fps2)):
            if min(JITTER) * fps < target * 1.05 or (among and (name, threads) not in among):
                continue
            prior, macs = facts[name, threads]
            ok.append((name, threads, round(scores[name] * PICTURES / 100), prior, macs))
    if not ok:
        return None
    top = max(ok, key=lambda x: (x[2], x[3], -x[1], -x[4]))
    tied = [x for x in ok if abs(x[2] - top[2]) <= 1]
    name, threads, *_ = min(tied, key=lambda x: (x[4], x[1], -x[3], x[0]))
    return name, threads


def _answer(run: run_mod.Search, cands: list[Candidate]) -> tuple[str, int] | None:
    chosen = run.choice(cands)
    return (_key(chosen.name), chosen.threads) if chosen else None


@pytest.mark.parametrize("target", [30, 45, 60, 75, 90, 120, 250])
def test_cold_and_warm_store_measure_the_same_and_match_brute_force(
        monkeypatch: pytest.MonkeyPatch, target: float) -> None:
    """With a budget that pays for the exports, what a run measures does not depend on what
    the store holds: only measured frame rates and scores steer the search."""
    cold_device, warm_device = Device(warm=False), Device(warm=True)
    cold, cold_cands = _tune(monkeypatch, cold_device, target, budget=300)
    warm, warm_cands = _tune(monkeypatch, warm_device, target, budget=300)
    assert not cold.budget_hit and not warm.budget_hit
    assert cold_device.exported and not warm_device.exported
    assert cold_device.now > warm_device.now
    # the same files scored, the same configs timed, the same answer
    assert cold_device.scored == warm_device.scored
    assert [(c.name, c.threads) for c in cold_cands if c.measured] == \
        [(c.name, c.threads) for c in warm_cands if c.measured]
    scores = {k: v[0] for k, v in DEVICE.items()}
    assert _answer(cold, cold_cands) == _answer(warm, warm_cands) == brute_force(target, scores)


def test_default_budget_pays_a_cold_run_at_60(monkeypatch: pytest.MonkeyPatch) -> None:
    """Exports as this VM prices them (~2.5 s): the 90 s default covers a first run."""
    monkeypatch.setitem(COST, "export", 2.5)
    cold_device, warm_device = Device(warm=False), Device(warm=True)
    cold, cold_cands = _tune(monkeypatch, cold_device, 60)
    warm, warm_cands = _tune(monkeypatch, warm_device, 60)
    assert not cold.budget_hit and cold_device.now <= 90
    assert cold_device.scored == warm_device.scored
    # Lite0 1.0/160 scores what 1.0/224 does (15 of 19) at 91 FPS on one thread
    assert _answer(cold, cold_cands) == _answer(warm, warm_cands) == ("lite0-1.0-160", 1)


def test_a_busy_stretch_while_the_anchors_run_rules_nothing_out(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process takes a core while the anchors run (as seen on this VM: two threads at
    a third of their speed, one thread at 70%): both lines predict every larger config far
    too slow. The anchors are measured again later in the run and the line is fitted on
    each config's fastest pass, so the answer is still found."""
    quiet, quiet_cands = _tune(monkeypatch, Device(warm=True), 60)
    busy_device = Device(warm=True, busy_until=11.0)
    busy, busy_cands = _tune(monkeypatch, busy_device, 60)
    anchors = run_mod.anchors(busy_cands)
    assert anchors and all(max(c.passes[:3]) < 0.75 * DEVICE[_key(c.name)][c.threads]
                           for c in anchors)  # the busy stretch hit all their first passes
    assert _answer(busy, busy_cands) == _answer(quiet, quiet_cands) == ("lite0-1.0-160", 1)


def test_budget_cut_still_chooses_among_what_it_scored(monkeypatch: pytest.MonkeyPatch) -> None:
    """Exports at 8 s each do not all fit in 90 s: the run stops within the budget, and what
    it chose is the brute force over the configs it measured (a scored config that would be
    the choice is timed before more files are scored)."""
    device = Device(warm=False)
    run, cands = _tune(monkeypatch, device, 60)
    assert run.budget_hit and device.now <= 90
    assert len(device.scored) < len(DEVICE)
    timed = {(_key(c.name), c.threads) for c in cands if c.measured}
    best = brute_force(60, {k: v[0] for k, v in DEVICE.items()}, among=timed)
    assert best is not None and _answer(run, cands) == best


def test_lower_prior_higher_score_is_measured_and_chosen(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """At 60 FPS: Lite0 1.0/160 scores 78.95 on the pictures while its prior (66.6, the
    measured off-size drop) sits below Lite2 1.0/192's (73.1, 73.68 on the pictures): it is
    scored, and the answer is the brute force's. It ties with Lite0 1.0/224 (published 75.1,
    the same 15 pictures right): the cheaper config wins the tie, not the better prior."""
    device = Device(warm=True)
    run, cands = _tune(monkeypatch, device, 60)
    assert {"lite0-1.0-160", "lite0-1.0-224", "lite2-1.0-192"} <= set(device.scored)
    assert _answer(run, cands) == ("lite0-1.0-160", 1)
    ties = run_mod.ties(cands, run.need, True)
    assert ("lite0-1.0-224", 2) in {(_key(c.name), c.threads) for c in ties}
    # every file the search did not score is predicted too slow to matter, or could not
    # change the choice even at its prior plus the largest (score - prior) gap seen
    chosen = run.choice(cands)
    assert chosen is not None
    offset = data_offset(cands, PICTURES)
    top = run_mod.best(cands, run.need, True)
    unscored = {c for c in cands if _key(c.name) not in device.scored}
    assert all(c.predicted_fps < 60 * 1.05 * 0.85
               or not could_win(c, top, chosen, offset) for c in unscored)


# (lite2-1.0-96 was a case here while its prior was the TF-slim curve's ~66; its measured
# off-size prior is 34.5, and a file 55 points above its prior on ImageNet is beyond the room
# the search leaves, the largest (score - prior) gap seen plus two standard errors)
@pytest.mark.parametrize("best", ["lite0-1.0-128", "lite1-1.0-128", "lite1-1.0-160"])
def test_a_small_model_that_scores_best_is_found(monkeypatch: pytest.MonkeyPatch,
                                                 best: str) -> None:
    """A low-prior file that happens to score best on the pictures wins (the search does not
    trust ImageNet priors over what --data measures)."""
    scores = {k: v[0] for k, v in DEVICE.items()} | {best: 89.47}
    run, cands = _tune(monkeypatch, Device(warm=True, scores=scores), 60)
    assert _answer(run, cands) == brute_force(60, scores)
    assert _answer(run, cands)[0] == best


def _cand(res: int, prior: float, top1: float | None = None, fps: float | None = None,
          predicted: float = 100.0, threads: int = 1) -> Candidate:
    c = Candidate(ModelConfig("efficientnet_lite0", 1.0, res, "fp32"), threads, res * res * 1000,
                  "imagenet:test", Prior(prior, "estimated", "test"))
    c.measured_top1 = top1
    c.predicted_fps = predicted
    if fps is not None:
        c.passes = [fps] * 3
    return c


def test_next_to_measure_calibrates_priors_by_what_data_measured() -> None:
    """The choice scores 80 on 19 pictures with a prior of 75 (+5); an unmeasured config
    with a prior of 72 could still score above 80: it is measured next. Without --data, or
    on 10,000 pictures where a top-1 is precise, the same prior cannot beat the choice."""
    chosen = _cand(224, 75.0, top1=80.0, fps=100.0)
    low = _cand(160, 72.0)
    cands = [chosen, low]
    assert next_to_measure(cands, chosen, 63, 0.15, pictures=19) is low
    assert next_to_measure(cands, chosen, 63, 0.15) is None  # priors only
    assert next_to_measure(cands, chosen, 63, 0.15, pictures=10_000) is None
    # the most favourable offset seen counts, not the choice's own
    lucky = _cand(128, 60.0, top1=70.0, fps=200.0)  # +10 over its prior
    assert next_to_measure([chosen, low, lucky], chosen, 63, 0.15, pictures=10_000) is low
    # once its score is known, that score decides
    low.measured_top1 = 78.0
    assert next_to_measure(cands, chosen, 63, 0.15, pictures=19) is None
    low.measured_top1 = 80.0  # a tie on the pictures: the cheaper config would win it
    assert next_to_measure(cands, chosen, 63, 0.15, pictures=19) is low
    # predicted too slow: never
    low.measured_top1, low.predicted_fps = None, 40.0
    assert next_to_measure(cands, chosen, 63, 0.15, pictures=19) is None


def test_hope_before_anything_was_scored_and_fewer_threads() -> None:
    c = _cand(160, 72.0)
    assert hope_key(c, None)[0] == 72.0  # no --data: the prior
    assert hope_key(c, math.inf)[0] == math.inf  # --data, nothing scored yet
    # the same file at fewer threads outranks the choice when it could reach the target
    chosen = _cand(160, 72.0, top1=80.0, fps=120.0, threads=2)
    one = _cand(160, 72.0, top1=80.0, predicted=70.0)
    assert next_to_measure([chosen, one], chosen, 63, 0.15, pictures=19) is one


def test_report_says_where_the_time_went(monkeypatch: pytest.MonkeyPatch) -> None:
    """The table and JSON say what the exports, the scoring and the passes cost, and how many
    files were scored on --data."""
    from edgecam.tune.report import render, to_json

    device = Device(warm=False)
    run, cands = _tune(monkeypatch, device, 60, budget=300)
    result = run_mod.TuneResult(60, 0.05, "imagenet", cands, run.choice(cands), None, [],
                                device.now, 300, data={"dir": "val", "pictures": PICTURES,
                                                       "classes": 1},
                                spent_on=dict(run.spent_on))
    spent = to_json(result, {})["spent"]
    assert spent["export"] == {"steps": len(device.exported),
                               "seconds": round(COST["export"] * len(device.exported), 1)}
    assert spent["picture"]["steps"] == len(device.scored)
    text = render(result)
    assert f"exports {COST['export'] * len(device.exported):.0f} s ({len(device.exported)})" \
        in text
    assert f"measured for {len(device.scored)} model files: top-1" in text


# --- ties: the same scores choose the same config, whatever the order and timing --------------


def _scored(res: int, threads: int, wrong: set[int], passes: list[float],
            arch: str = "efficientnet_lite0", prior: float = 75.0) -> Candidate:
    """A config measured on 54 pictures (those in ``wrong`` answered wrong) and timed."""
    from edgecam.models.zoo import model_size

    c = Candidate(ModelConfig(arch, 1.0, res, "fp32"), threads, model_size(arch, 1.0, res).macs,
                  "imagenet:test", Prior(prior, "estimated", "test"))
    c.right = tuple(i not in wrong for i in range(54))
    c.measured_top1 = round(100 * sum(c.right) / 54, 2)
    c.passes = list(passes)
    return c


def test_tied_scores_choose_the_same_config_whatever_the_order_and_timing() -> None:
    """The issue's two runs on 54 frames of six photos: Lite0 224 and Lite0 192 both score
    98.15% (each misses one picture, not the same one) and both reach 60 FPS. Fed to the
    chooser in every order and with the passes of either run (Lite0 224 just above the
    target in one, comfortably in the other), the answer is the same: they tie, and the tie
    goes to the fewer MACs, then fewer threads. Lite2 256 (4 pictures missed) does not tie."""
    import itertools

    from edgecam.tune.choose import choose, tied, ties

    need = 63.0  # 60 FPS + 5%
    runs = [
        {"224x2": [66.0, 64.0, 70.0, 65.0], "224x1": [48.0, 50.0, 47.0],
         "192x2": [95.0, 96.0, 99.0], "192x1": [74.0, 72.0, 73.0]},
        {"224x2": [84.0, 80.0, 82.0], "224x1": [66.0, 67.0, 65.0],
         "192x2": [101.0, 97.0, 102.0], "192x1": [70.0, 64.0, 75.0, 71.0]},
    ]
    answers = set()
    for passes in runs:
        cands = [_scored(224, 2, {7}, passes["224x2"]), _scored(224, 1, {7}, passes["224x1"]),
                 _scored(192, 2, {40}, passes["192x2"]), _scored(192, 1, {40}, passes["192x1"]),
                 _scored(256, 2, {1, 2, 3, 4}, [70.0, 71.0, 72.0], "efficientnet_lite2", 77.6)]
        assert tied(cands[0], cands[2]) and not tied(cands[0], cands[4])
        for order in itertools.permutations(cands):
            chosen = choose(list(order), need, by_data=True)
            answers.add((chosen.name, chosen.threads))
        group = ties(cands, need, by_data=True)
        assert {c.resolution for c in group} == {224, 192}
    assert answers == {("efficientnet_lite0-1.0-192", 1)}


def test_noise_of_a_paired_difference() -> None:
    """One picture apart always ties; on 19 pictures, 78.95% vs 68.42% (two more right, on
    the same pictures) does not, but the same scores with ten pictures disagreeing do; four
    apart never ties on 19 pictures."""
    from edgecam.tune.choose import tied

    a = _scored(224, 1, {0}, [])
    assert tied(a, _scored(192, 1, {0, 1}, [])) and tied(a, _scored(192, 1, {5}, []))
    nested = [Candidate(ModelConfig("efficientnet_lite0", 1.0, 224, "fp32"),
                        1, 1, None, Prior(None, None))
              for _ in range(4)]
    nested[0].right = tuple([True] * 15 + [False] * 4)  # 78.95%
    nested[1].right = tuple([True] * 13 + [False] * 6)  # 68.42%, within the same 15
    nested[2].right = tuple([True] * 9 + [False] * 6 + [True] * 4)  # 68.42%, 10 differ
    nested[3].right = tuple([True] * 7 + [False] * 8 + [True] * 4)  # 57.89%, 12 differ
    for c in nested:
        c.measured_top1 = round(100 * sum(c.right) / 19, 2)
    assert not tied(nested[0], nested[1])  # 2 > sqrt(2)
    assert tied(nested[0], nested[2])  # 2 <= sqrt(10)
    assert not tied(nested[0], nested[3])  # 4 > sqrt(12)


def test_the_table_says_which_configs_tied() -> None:
    from edgecam.tune.choose import choose, ties
    from edgecam.tune.report import render, to_json

    cands = [_scored(224, 2, {7}, [70.0, 71.0, 72.0]), _scored(192, 1, {40}, [74.0, 75.0, 76.0]),
             _scored(160, 1, set(range(10)), [90.0, 91.0, 92.0])]
    need = 63.0
    result = run_mod.TuneResult(60, 0.05, "imagenet", cands, choose(cands, need, True), None,
                                [], 10.0, 90, data={"dir": "d", "pictures": 54, "classes": 6},
                                tied=ties(cands, need, True))
    text = render(result)
    assert "tied: efficientnet_lite0-1.0-192 x1, efficientnet_lite0-1.0-224 x2" in text
    assert "chosen (cheapest of the tied)" in text and "tied within noise" in text
    flags = {c["name"]: c["tied"] for c in to_json(result, {})["candidates"]}
    assert flags == {"efficientnet_lite0-1.0-224": True, "efficientnet_lite0-1.0-192": True,
                     "efficientnet_lite0-1.0-160": False}
