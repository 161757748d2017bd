"""Logits -> predictions: softmax, optional temporal smoothing, top-k, and whether the answer
is "unknown" (``edgecam.runtime.unknown``: the model's calibrated rule or ``--threshold``).

Smoothing is an exponential moving average over probabilities, so a label on a live picture
changes only when the evidence does, not with every noisy frame; the rule judges the smoothed
top-1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgecam.runtime.unknown import Rejection
from edgecam.util.errors import EdgecamError


@dataclass(frozen=True)
class Prediction:
    label: str
    index: int  # the class index (ImageNet order for the built-in models)
    score: float

    def to_dict(self) -> dict:
        return {"label": self.label, "index": self.index, "score": round(self.score, 5)}


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits."""
    z = logits - logits.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def check_options(top_k: int, smoothing: float) -> None:
    """Reject nonsense early, with the option's name."""
    if top_k < 1:
        raise EdgecamError(f"--top-k must be >= 1, got {top_k}")
    if not 0.0 <= smoothing < 1.0:
        raise EdgecamError(f"--smoothing must be in [0, 1), got {smoothing}")


class Postprocessor:
    """``Postprocessor(labels, top_k, smoothing, rejection)(logits_row) -> [Prediction]``, and
    ``answers(logits)``: each row's top-k with whether it is "unknown" under ``rejection``.

    ``smoothing`` is the weight of the past (0 = every frame on its own, 0.8 = slow and calm).
    """

    def __init__(self, labels: list[str], top_k: int = 5, smoothing: float = 0.0, *,
                 rejection: Rejection | None = None) -> None:
        check_options(top_k, smoothing)
        self.labels = labels
        self.top_k = min(top_k, len(labels))
        self.smoothing = smoothing
        self.rejection = rejection
        self._ema: np.ndarray | None = None

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Probabilities [N, classes] for logits [N, classes] (or one row), smoothed in row
        order when ``smoothing`` is set: a batch of frames is one stretch of the stream."""
        probs = softmax(np.array(logits, np.float32, ndmin=2))
        if self.smoothing > 0.0:
            for row in probs:
                if self._ema is None:
                    self._ema = row.copy()
                else:
                    self._ema *= self.smoothing
                    self._ema += (1.0 - self.smoothing) * row
                row[:] = self._ema
        return probs

    def batch(self, logits: np.ndarray) -> list[list[Prediction]]:
        """Predictions of every row of a batch, the top-k found for all rows at once."""
        probs = self.probabilities(logits)
        k = self.top_k
        if k < probs.shape[1]:
            idx = np.argpartition(-probs, k - 1, axis=1)[:, :k]
        else:
            idx = np.broadcast_to(np.arange(probs.shape[1]), probs.shape)
        scores = np.take_along_axis(probs, idx, axis=1)
        order = np.argsort(-scores, axis=1, kind="stable")
        idx = np.take_along_axis(idx, order, axis=1).tolist()
        scores = np.take_along_axis(scores, order, axis=1).tolist()
        labels = self.labels
        return [[Prediction(labels[i], i, s) for i, s in zip(row_i, row_s)]
                for row_i, row_s in zip(idx, scores)]

    def answers(self, logits: np.ndarray) -> list[tuple[list[Prediction], bool]]:
        """Each row's top-k and whether its answer is "unknown": its top-1 probability (after
        smoothing) is below the rule's threshold for that class."""
        rule = self.rejection
        return [(top, rule is not None and rule.rejects(top[0].index, top[0].score))
                for top in self.batch(logits)]

    def __call__(self, logits: np.ndarray) -> list[Prediction]:
        """Predictions of one frame's logits."""
        return self.batch(np.asarray(logits).reshape(1, -1))[0]
