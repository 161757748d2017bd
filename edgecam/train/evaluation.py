"""What a trained model is worth on its validation pictures: accuracy, per-class accuracy and
the confusion matrix, as plain JSON-able values (model metadata and ``--json-out`` carry them).

With a rejection rule the matrix gains an ``unknown`` row (the unknown folder's pictures) and
column (pictures the rule answered unknown)."""

from __future__ import annotations

import numpy as np

from edgecam.train.dataset import UNKNOWN, UNKNOWN_FOLDER
from edgecam.train.rejection import MAX_THRESHOLD


def evaluate(predicted: np.ndarray, truth: np.ndarray, classes: list[str],
             answered: np.ndarray | None = None) -> dict:
    """``confusion[i][j]``: pictures of class i answered j; ``predicted`` is the top-1 class,
    ``answered`` the same with the rule applied (UNKNOWN where it rejects).

    ``val_accuracy`` is the top-1 accuracy on the known pictures, without the rule (the figure
    a model without one has); ``per_class_accuracy`` and the matrix are with it."""
    predicted, truth = np.asarray(predicted), np.asarray(truth)
    known = truth != UNKNOWN
    open_set = answered is not None or not known.all()
    k = len(classes)
    names = classes + ([UNKNOWN_FOLDER] if open_set else [])
    final = np.asarray(answered) if answered is not None else predicted
    confusion = np.zeros((len(names), len(names)), np.int64)
    rows, cols = np.where(truth == UNKNOWN, k, truth), np.where(final == UNKNOWN, k, final)
    np.add.at(confusion, (rows, cols), 1)
    per_class = {
        name: (float(confusion[i, i] / confusion[i].sum()) if confusion[i].sum() else None)
        for i, name in enumerate(names)
    }
    out = {
        "val_accuracy": float((predicted[known] == truth[known]).mean()) if known.any() else 0.0,
        "val_images": int(known.sum()),
        "per_class_accuracy": per_class,
        "confusion_matrix": confusion.tolist(),
        "confusion_labels": names,
    }
    return out


def render(evaluation: dict, classes: list[str], width: int = 24) -> str:
    """Per-class accuracy lines, worst first (what to collect more pictures of)."""
    names = evaluation.get("confusion_labels", classes)
    rows = sorted(((name, acc) for name, acc in evaluation["per_class_accuracy"].items()
                   if acc is not None or name != UNKNOWN_FOLDER),
                  key=lambda kv: (kv[1] is None, kv[1] if kv[1] is not None else 0))
    matrix = evaluation["confusion_matrix"]
    lines = []
    for name, acc in rows:
        i = names.index(name)
        wrong = sorted(((n, names[j]) for j, n in enumerate(matrix[i]) if j != i and n),
                       reverse=True)
        note = f"  (mistaken for {wrong[0][1]!r} x{wrong[0][0]})" if wrong else ""
        shown = f"{acc:6.1%}" if acc is not None else "     -"
        label = f"{name}/ (not a class)" if name == UNKNOWN_FOLDER else name[:width]
        lines.append(f"  {label:<{width}} {shown} of {sum(matrix[i])}{note}")
    return "\n".join(lines)


TOO_SURE = MAX_THRESHOLD  # a threshold from here up sits where new pictures often fall below it


def percent(p: float) -> str:
    """``p`` as a percentage with the digits it needs (a threshold is written with 6
    decimals): 95.0%, 99.9592%, never a 100.0% that is not 1."""
    for digits in range(1, 5):
        text = f"{p * 100:.{digits}f}"
        if abs(float(text) / 100 - p) < 5e-7:
            break
    return f"{text}%"


def rejection_line(rule: dict) -> str:
    """How well the rule to answer "unknown" works on the validation pictures; a warning line
    after it when the rule sits so close to 1 that new pictures will be answered "unknown"."""
    line = (f"  answers 'unknown' below {percent(rule['threshold'])} top-1 probability: keeps "
            f"{rule['known_kept']:.1%} of the {rule['known_images']} known pictures "
            f"({rule['known_recall']:.1%} on their right label)")
    if rule.get("unknown_rejected") is not None:
        line += (f", answers 'unknown' for {rule['unknown_rejected']:.1%} of the "
                 f"{rule['unknown_images']} pictures of anything else")
    else:
        line += "; add an 'unknown' folder of anything else to train and check it against"
    calibrated = rule.get("calibrated")
    folder = rule.get("unknown_rejected") is None  # no 'unknown' folder was given
    if calibrated is not None:
        line += (
            f"\n  note: {percent(rule['keep'])} of the known validation pictures scored "
            f"{percent(calibrated)} or more (near copies of training pictures, as frames of "
            f"one capture are): new pictures of your classes score lower, so the rule is "
            f"capped at {percent(rule['threshold'])}; to answer 'unknown' for more of anything "
            "else, add " + ("an 'unknown' folder and " if folder else "")
            + "more varied pictures per class")
    elif rule["threshold"] >= TOO_SURE:
        line += (
            f"\n  warning: {percent(rule['keep'])} of the known validation pictures scored "
            f"{percent(rule['threshold'])} or more, so new pictures of your classes (other "
            "light, angle, background) will often fall below it and be answered 'unknown'; "
            "add more, more varied pictures per class"
            + (" (and an 'unknown' folder)" if folder else "") + ", train with "
            f"a higher --keep (now {rule['keep']:g}), or run the model with a lower "
            "--threshold (e.g. 0.9)")
    return line
