"""When a frame's answer is "unknown": the model's calibrated rule and the user's ``--threshold``.

A model made by ``edgecam train`` carries a rejection rule in its metadata
(``ModelMeta.rejection``, ``{"score": "probability", "threshold": t, ...}``): a frame whose
top-1 probability (after smoothing, if any) is below ``t`` is answered "unknown". ImageNet
models carry none and never answer "unknown" unless asked to. ``--threshold`` overrides the
rule: ``0.8`` for every class (``0`` switches it off), ``"gate open=0.8"`` for one class, several
comma-separated or by repeating the option. The top-k stays whole either way: "unknown" is an
answer given beside the best classes, never a filter on them.

``Thresholds`` is what the user gave (checked when the options are made, before any model is
known); ``Rejection`` is one model's threshold per class (checked against its labels when the
model is loaded). Light on purpose: the CLI's options import it.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edgecam.util.errors import EdgecamError

if TYPE_CHECKING:
    from edgecam.models.metadata import ModelMeta

UNKNOWN = "unknown"  # the answer; never one of a model's labels
SCORES = ("probability",)  # the rejection scores this edgecam computes
USAGE = ("--threshold takes a probability for every class (0.8) or LABEL=VALUE for one class "
         "('gate open=0.8'), comma-separated or repeated")


@dataclass(frozen=True)
class Thresholds:
    """``--threshold`` as given: a value for every class and/or values by class label; nothing
    given means the model's own rule."""

    every: float | None = None
    classes: tuple[tuple[str, float], ...] = ()

    @property
    def given(self) -> bool:
        return self.every is not None or bool(self.classes)

    @classmethod
    def parse(cls, value: ThresholdLike) -> Thresholds:
        """From the option's texts (``["0.5", "gate open=0.8,gate closed=0.7"]``), one text, a
        number, or a ``{label: value}`` mapping (the Python API); EdgecamError in one line."""
        if value is None or isinstance(value, Thresholds):
            return value or cls()
        if isinstance(value, bool):
            raise EdgecamError(f"{USAGE}; got {value!r}")
        if isinstance(value, (int, float)):
            return cls(every=_probability(value, str(value)))
        if isinstance(value, Mapping):
            pairs: list[tuple[str | None, str]] = [(str(k), str(v)) for k, v in value.items()]
        else:
            texts = [value] if isinstance(value, str) else list(value)
            pairs = [pair for text in texts for pair in _entries(str(text))]
        every: float | None = None
        classes: dict[str, float] = {}
        for label, text in pairs:
            number = _probability(text, text if label is None else f"{label}={text}")
            if label is None:
                if every is not None:
                    raise EdgecamError(f"--threshold gives a value for every class twice "
                                       f"({every:g} and {number:g}); give one")
                every = number
            elif label in classes:
                raise EdgecamError(f"--threshold gives {label!r} twice ({classes[label]:g} and "
                                   f"{number:g}); give one value per class")
            else:
                classes[label] = number
        return cls(every, tuple(classes.items()))


ThresholdLike = Thresholds | float | str | Sequence[str] | Mapping[str, float] | None


def _entries(text: str) -> Iterable[tuple[str | None, str]]:
    """``"0.5,gate open=0.8"`` -> (None, "0.5"), ("gate open", "0.8"). A comma splits entries
    only where what precedes it is a whole entry, so a label may hold a comma ("gate, open=0.8")
    and, the value being after the last "=", an "=" too."""
    held: list[str] = []
    for piece in text.split(","):
        held.append(piece)
        entry = ",".join(held)
        if "=" in piece:
            label, _, number = entry.rpartition("=")
            if not label.strip():
                raise EdgecamError(f"{USAGE}; got {entry.strip()!r} (no label before '=')")
            yield label.strip(), number.strip()
            held = []
        elif _number(entry) is not None or not entry.strip():
            if entry.strip():
                yield None, entry.strip()
            held = []
    if held:
        raise EdgecamError(f"{USAGE}; got {','.join(held).strip()!r}")


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _probability(value: object, shown: str) -> float:
    """A value in [0, 1], or one line saying what was wrong with ``shown``."""
    number = _number(str(value).strip())
    if number is None:
        raise EdgecamError(f"{USAGE}; got {shown!r}")
    if not (math.isfinite(number) and 0.0 <= number <= 1.0):
        hint = (f" (a probability: {number / 100:g} for {number:g}%)"
                if math.isfinite(number) and 2.0 <= number <= 100.0 else "")
        raise EdgecamError(f"--threshold must be in [0, 1]{hint}, got {shown!r}")
    return number


@dataclass(frozen=True)
class Rejection:
    """One model's rule as applied: ``thresholds[i]`` is the probability below which a frame
    whose top-1 is class ``i`` is answered "unknown" (0: never)."""

    thresholds: tuple[float, ...]
    calibrated: float | None = None  # the model's own threshold, if it carries a rule

    @property
    def active(self) -> bool:
        return any(t > 0.0 for t in self.thresholds)

    def rejects(self, index: int, score: float) -> bool:
        """Is a frame whose top-1 is class ``index`` with probability ``score`` unknown?"""
        return score < self.thresholds[index]


def calibrated_threshold(meta: ModelMeta) -> float | None:
    """The model's own threshold (None: it carries no rule); a rule this edgecam cannot apply
    is one line."""
    rule = meta.rejection
    if not rule:
        return None
    if not isinstance(rule, dict):
        raise EdgecamError(f"{meta.name} has a broken rejection rule in its metadata ({rule!r})")
    score = rule.get("score")
    if score not in SCORES:
        raise EdgecamError(f"{meta.name} answers 'unknown' by a {score!r} score, which this "
                           "edgecam cannot compute: the model was made by a newer edgecam "
                           "(upgrade edgecam to run it)")
    threshold = rule.get("threshold")
    if (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
            or not 0.0 <= threshold <= 1.0):
        raise EdgecamError(f"{meta.name} has a broken rejection rule in its metadata "
                           f"(threshold {threshold!r})")
    return float(threshold)


def rejection_for(meta: ModelMeta, threshold: ThresholdLike = None) -> Rejection:
    """The thresholds ``meta``'s model answers with: its calibrated rule (or none), then
    ``threshold`` (``--threshold``) for every class and by label; a label the model does not
    have is one line naming its labels."""
    user = Thresholds.parse(threshold)
    own = calibrated_threshold(meta)
    base = user.every if user.every is not None else (own or 0.0)
    thresholds = [base] * len(meta.labels)
    where: dict[str, list[int]] = {}
    for i, label in enumerate(meta.labels):  # ImageNet names a few classes twice ("crane")
        where.setdefault(label, []).append(i)
    for label, value in user.classes:
        if label not in where:
            raise EdgecamError(f"--threshold names {label!r}, which is not a label of "
                               f"{meta.name}; {_labels_hint(label, meta.labels)}")
        for i in where[label]:
            thresholds[i] = value
    return Rejection(tuple(thresholds), own)


def _labels_hint(label: str, labels: Sequence[str]) -> str:
    if len(labels) <= 20:
        return "its labels: " + ", ".join(repr(x) for x in labels)
    close = difflib.get_close_matches(label, list(dict.fromkeys(labels)), n=3, cutoff=0.5)
    if not close:
        return f"it has {len(labels)} labels, e.g. " + ", ".join(repr(x) for x in labels[:3])
    return "did you mean " + " or ".join(repr(x) for x in close) + "?"
