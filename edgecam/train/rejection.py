"""The rejection rule ``train`` writes into a model: answer "unknown" when the top-1
probability is below a threshold that keeps a chosen share of the known validation pictures.

The top-1 probability is the score because it separated best where it was measured: on blocky
digits with three digits never seen, its AUROC was 0.874 against 0.858 for the energy
(log-sum-exp of the logits), 0.867 for the largest logit and 0.60-0.72 for distances to the
class means of the backbone's features (benchmarks/README.md, "Saying unknown"). It is also
what the runtime already computes, so the rule costs nothing per frame.
"""

from __future__ import annotations

import math

import numpy as np

from edgecam.runtime.postprocess import softmax
from edgecam.train.dataset import UNKNOWN

SCORE = "probability"
KEEP = 0.95
# The highest threshold a rule gets. Validation pictures of a camera's own footage are near
# copies of training ones, so a classifier is surer of them than of any new frame: on the gate
# of benchmarks/regions.py (seed 5) the validation pictures set a 0.99999 rule, and 23% of the
# new frames, every one of them right and above 0.9999, were answered "unknown"; capped, none.
MAX_THRESHOLD = 0.99


def top1_probability(logits: np.ndarray) -> np.ndarray:
    return softmax(np.array(logits, np.float32, ndmin=2)).max(1)


def threshold_keeping(scores: np.ndarray, keep: float) -> float:
    """The largest threshold that keeps at least ``keep`` of ``scores`` (kept: score >= it)."""
    ordered = np.sort(np.asarray(scores, np.float64))
    drop = int(np.floor((1.0 - keep) * len(ordered) + 1e-9))
    return float(ordered[min(drop, len(ordered) - 1)])


def calibrate(logits: np.ndarray, labels: np.ndarray, keep: float = KEEP) -> dict:
    """The rule and what it does on these (validation) pictures: the share of known pictures
    kept, of known pictures kept on their right label, and of unknown pictures rejected."""
    labels = np.asarray(labels)
    score = top1_probability(logits)
    known = labels != UNKNOWN
    # written with 6 decimals, rounded down so the pictures it keeps stay kept at run time
    calibrated = math.floor(threshold_keeping(score[known], keep) * 1e6) / 1e6
    threshold = min(calibrated, MAX_THRESHOLD)
    accepted = score >= threshold
    right = np.asarray(logits).argmax(1) == labels
    rule = {
        "score": SCORE, "threshold": threshold, "keep": keep,
        # what the validation pictures alone set, when above the cap
        "calibrated": calibrated if calibrated > threshold else None,
        "known_images": int(known.sum()),
        "known_kept": round(float(accepted[known].mean()), 4),
        "known_recall": round(float((accepted & right)[known].mean()), 4),
        "unknown_images": int((~known).sum()),
        "unknown_rejected": (round(float((~accepted[~known]).mean()), 4)
                             if (~known).any() else None),
    }
    return rule


def answers(logits: np.ndarray, threshold: float) -> np.ndarray:
    """Each row's answer: its class index, or UNKNOWN below the threshold."""
    logits = np.asarray(logits)
    return np.where(top1_probability(logits) >= threshold, logits.argmax(1), UNKNOWN)
