"""The choice: the most accurate measured config whose conservative frame rate reaches the
target with the margin, and the measured rungs ``live --profile`` steps along.

Only measured frame rates decide; predictions only pick what to measure next.

Ties: configs whose top-1 is within the noise of the most accurate one's tie with it (on
--data: their scores differ by no more than one standard error of the paired difference,
``|right_a - right_b| <= sqrt(pictures exactly one of them answered right)``, so one picture
apart always ties; without --data: the same figure). Among the tied configs that reach the
target the cheapest wins: fewest MACs (the larger margin over the target, and headroom for the
rest of the device), then fewest threads, then the better prior, then the name. Nothing in
that rule depends on the order or the timing of the passes, so two runs that measure the same
scores choose the same config (timing only decides which configs reach the target).
"""

from __future__ import annotations

import math

from edgecam.tune.latency import LinearLatency, fit_latency
from edgecam.tune.space import Candidate

RUNG_GAP = 1.15  # rungs of the ladder are at least 15% apart in FPS


def _top1(c: Candidate) -> float:
    return c.top1 if c.top1 is not None else -1.0


def rank_key(c: Candidate) -> tuple:
    """Better = higher top-1; on a tie (a small --data folder cannot tell two configs apart)
    the prior figure, then fewer threads (both reach the target: leave a core to the rest of
    the device), then fewer MACs (more headroom), and only then the conservative FPS: a tie
    is broken by what does not change from run to run, not by which config had the luckier
    passes."""
    return (_top1(c), prior_key(c), -c.threads, -c.macs, c.fps_low or 0.0)


def eligible(c: Candidate, need: float, by_data: bool) -> bool:
    return (c.measured and c.fps_low is not None and c.fps_low >= need
            and (not by_data or c.measured_top1 is not None))


def tied(a: Candidate, b: Candidate) -> bool:
    """Whether ``a``'s and ``b``'s top-1 are within their noise (the module's rule)."""
    if a.top1 is None or b.top1 is None:
        return False
    if a.right is not None and b.right is not None and len(a.right) == len(b.right):
        differ = sum(x != y for x, y in zip(a.right, b.right))
        return abs(sum(a.right) - sum(b.right)) <= math.sqrt(differ)
    return a.top1 == b.top1


def tie_key(c: Candidate) -> tuple:
    """Among tied configs the smallest wins: fewest MACs, threads, then the better prior."""
    return (c.macs, c.threads, -prior_key(c), c.name, c.provider)


def best(cands: list[Candidate], need: float, by_data: bool = False) -> Candidate | None:
    """The best-ranked config whose conservative FPS reaches ``need`` (the target with its
    margin); with --data only configs whose top-1 was measured compete."""
    ok = [c for c in cands if eligible(c, need, by_data)]
    return max(ok, key=rank_key) if ok else None


def ties(cands: list[Candidate], need: float, by_data: bool = False) -> list[Candidate]:
    """The configs that reach ``need`` and tie with the best of them, cheapest first."""
    top = best(cands, need, by_data)
    if top is None:
        return []
    return sorted((c for c in cands if eligible(c, need, by_data) and (c is top or tied(c, top))),
                  key=tie_key)


def choose(cands: list[Candidate], need: float, by_data: bool = False) -> Candidate | None:
    """The cheapest of the configs tied with the most accurate one that reaches ``need``."""
    group = ties(cands, need, by_data)
    return group[0] if group else None


def fastest(cands: list[Candidate]) -> Candidate | None:
    measured = [c for c in cands if c.measured]
    return max(measured, key=lambda c: c.fps or 0.0) if measured else None


def pareto(cands: list[Candidate]) -> list[Candidate]:
    """Configs no other config beats on both top-1 and FPS, fastest first."""
    pts = sorted((c for c in cands if c.fps is not None and c.top1 is not None),
                 key=lambda c: (-(c.fps or 0.0), -_top1(c)))
    front: list[Candidate] = []
    best = -math.inf
    for c in pts:
        if _top1(c) > best:
            front.append(c)
            best = _top1(c)
    return front


def ladder(cands: list[Candidate], chosen: Candidate | None) -> list[Candidate]:
    """Measured configs only, fastest first, ending with the chosen one: the Pareto configs
    faster and less accurate than the choice, at least ``RUNG_GAP`` apart in FPS."""
    if chosen is None:
        top = fastest(cands)
        return [top] if top else []
    assert chosen.fps is not None  # the choice was measured
    faster = [c for c in cands if c.measured and c.fps is not None
              and c.fps > chosen.fps * RUNG_GAP and c.top1 is not None and c.top1 < _top1(chosen)]
    rungs: list[Candidate] = []
    for c in reversed(pareto(faster)):  # slowest first: keep the rungs near the choice
        last = (rungs[-1] if rungs else chosen).fps
        assert last is not None and c.fps is not None  # all measured
        if last * RUNG_GAP <= c.fps:
            rungs.append(c)
    return list(reversed(rungs)) + [chosen]


def free_fps(c: Candidate) -> float | None:
    """What a config does when nothing else runs: its fastest pass, else the prediction.
    The latency model is fitted on it and predicts it: predictions only choose what to
    measure (an optimistic one costs a measurement, a pessimistic one can miss the answer),
    and a busy stretch of a shared machine must not bend the line; the choice rests on the
    lower quartile of the passes."""
    return max(c.passes) if c.passes else c.predicted_fps


def fit_models(cands: list[Candidate]) -> dict[tuple, LinearLatency]:
    """One ``ms = a * MACs + b`` per (family, precision, threads), on each measured config's
    fastest pass (``free_fps``)."""
    groups: dict[tuple, list[tuple[float, float]]] = {}
    for c in cands:
        if c.measured and c.macs and (fps := free_fps(c)) is not None:
            groups.setdefault(c.group(), []).append((c.macs, 1000.0 / fps))
    return {k: m for k, pts in groups.items() if (m := fit_latency(pts)) is not None}


def prediction_error(c: Candidate) -> float | None:
    """(predicted - fastest pass) / fastest pass of a config measured after a prediction."""
    fastest_pass = free_fps(c)
    if not c.measured or not c.predicted_fps or fastest_pass is None:
        return None
    return c.predicted_fps / fastest_pass - 1


def predict(cands: list[Candidate], models: dict[tuple, LinearLatency]) -> None:
    """Fill in predictions for the unmeasured (a measured config keeps the prediction it had
    when it was picked: that is the one the error column compares). A config is predicted
    no slower than its file at fewer threads: predictions only choose what to measure, and
    a busy stretch of a shared machine while one thread count's anchors ran must not rule
    out every config at that count."""
    for c in cands:
        if not c.measured and c.group() in models and c.macs:
            c.predicted_fps = models[c.group()].fps(c.macs)
    fewer: dict[tuple, float] = {}  # same file and provider: the best FPS at fewer threads
    for c in sorted(cands, key=lambda c: c.threads):
        key = (c.same_file(), c.provider)
        if not c.measured and c.predicted_fps is not None and key in fewer:
            c.predicted_fps = max(c.predicted_fps, fewer[key])
        if (fps := free_fps(c)) is not None:
            fewer[key] = max(fewer.get(key, 0.0), fps)


def order_breaks(cands: list[Candidate]) -> list[Candidate]:
    """Measured configs whose FPS contradicts their MACs within one group (a bigger model
    measured faster than a smaller one): one of the two met a slow stretch."""
    groups: dict[tuple, list[Candidate]] = {}
    for c in cands:
        if c.measured and c.macs:
            groups.setdefault(c.group(), []).append(c)
    out: list[Candidate] = []
    for group in groups.values():
        group.sort(key=lambda c: c.macs)
        for small, big in zip(group, group[1:]):
            assert big.fps is not None and small.fps is not None  # measured
            if big.macs > small.macs and big.fps > small.fps:
                out += [c for c in (small, big) if c not in out]
    return out


def prior_key(c: Candidate) -> float:
    return c.prior.top1 if c.prior.top1 is not None else -1.0


def _undominated(cands: list[Candidate]) -> list[Candidate]:
    """Unmeasured configs whose file is not faster at another thread count (same accuracy,
    more FPS: the slower variant is no use as a rung)."""
    best: dict[tuple, float] = {}
    for c in cands:
        if c.fps is not None:
            best[c.same_file()] = max(best.get(c.same_file(), 0.0), c.fps)
    return [c for c in cands if not c.measured and c.predicted_fps is not None
            and c.predicted_fps >= 0.9 * best.get(c.same_file(), 0.0)]


def data_offset(cands: list[Candidate], pictures: int) -> float:
    """How far above its prior an unmeasured config might score on --data: the most
    favourable (measured - prior) seen so far plus two standard errors of a top-1 on
    ``pictures`` pictures (at 50%, where it is widest). On a handful of pictures that leaves
    every config in play; on hundreds, only those whose prior comes close. +inf before any
    file with a prior was measured."""
    gaps = [c.measured_top1 - c.prior.top1 for c in cands
            if c.measured_top1 is not None and c.prior.top1 is not None]
    return max(gaps) + 100.0 / math.sqrt(max(1, pictures)) if gaps else math.inf


def could_win(c: Candidate, top: Candidate | None, chosen: Candidate | None,
              offset: float | None) -> bool:
    """Whether ``c`` could become the choice if it reached the target: it could outrank
    ``top`` (the best-ranked config that reaches it, ``hope_key``), or it is cheaper than the
    choice and could tie with ``top`` (known once scored; unscored, its hope must reach
    ``top``'s top-1)."""
    if top is None or chosen is None:
        return True
    if hope_key(c, offset) > rank_key(top)[:4]:
        return True
    if tie_key(c) >= tie_key(chosen):
        return False
    if c.measured_top1 is None and offset is not None:
        return hope_key(c, offset)[0] >= _top1(top)
    return tied(c, top)


def hope_key(c: Candidate, offset: float | None) -> tuple:
    """The best rank a config could still reach (``rank_key`` without the FPS): its top-1
    when measured on --data, else its prior plus ``offset`` (None: no --data, the prior
    alone; a config without a prior could score anything)."""
    if c.measured_top1 is not None or offset is None:
        top1 = _top1(c)
    else:
        top1 = c.prior.top1 + offset if c.prior.top1 is not None else math.inf
    return (top1, prior_key(c), -c.threads, -c.macs)


def next_to_measure(cands: list[Candidate], chosen: Candidate | None, need: float,
                    band: float, pictures: int = 0) -> Candidate | None:
    """An unmeasured config that could change the answer (``could_win``; ``pictures`` > 0: the
    size of --data) and is predicted to reach, or nearly reach, the target. Among those
    predicted to reach it, a config whose --data score is known first (so a run cut short by
    the budget still has the best choice of what it scored), then the best hope (if it holds,
    it rules out the rest)."""
    offset = data_offset(cands, pictures) if pictures else None
    top = best(cands, need, pictures > 0)
    pool = [c for c in cands if not c.measured and c.predicted_fps is not None
            and c.predicted_fps >= need * (1 - band) and could_win(c, top, chosen, offset)]
    if not pool:
        return None
    likely = [c for c in pool if c.predicted_fps is not None and c.predicted_fps >= need]
    if likely:  # a scored config that would become the choice is timed before more scoring
        return max(likely, key=lambda c: (c.measured_top1 is not None, hope_key(c, offset),
                                          c.predicted_fps))
    return max(pool, key=lambda c: (c.predicted_fps or 0.0) / need)  # all predicted


def next_rung(cands: list[Candidate], above: Candidate) -> Candidate | None:
    """The most accurate unmeasured config (top-1 on --data where measured, else the prior)
    below ``above`` and predicted at least ``RUNG_GAP`` x faster: the next step down,
    measured so the ladder holds measured rungs only."""
    if above.fps is None:
        return None
    pool = [c for c in _undominated(cands)
            if c.predicted_fps is not None and c.predicted_fps >= above.fps * RUNG_GAP * 1.1
            and _top1(c) < _top1(above)]
    return max(pool, key=lambda c: (_top1(c), prior_key(c), c.predicted_fps)) if pool else None
