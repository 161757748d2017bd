"""What a trained model is worth on its validation pictures: accuracy, per-class accuracy and
the confusion matrix, as plain JSON-able values (model metadata and ``--json-out`` carry them)."""

from __future__ import annotations

import numpy as np


def evaluate(predicted: np.ndarray, truth: np.ndarray, classes: list[str]) -> dict:
    """``confusion[i][j]``: pictures of class i predicted as class j."""
    k = len(classes)
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (truth, predicted), 1)
    per_class = {
        name: (float(confusion[i, i] / confusion[i].sum()) if confusion[i].sum() else None)
        for i, name in enumerate(classes)
    }
    return {
        "val_accuracy": float(np.trace(confusion) / max(1, confusion.sum())),
        "val_images": int(confusion.sum()),
        "per_class_accuracy": per_class,
        "confusion_matrix": confusion.tolist(),
    }


def render(evaluation: dict, classes: list[str], width: int = 24) -> str:
    """Per-class accuracy lines, worst first (what to collect more pictures of)."""
    rows = sorted(evaluation["per_class_accuracy"].items(),
                  key=lambda kv: (kv[1] is None, kv[1] if kv[1] is not None else 0))
    matrix = evaluation["confusion_matrix"]
    lines = []
    for name, acc in rows:
        i = classes.index(name)
        wrong = sorted(((n, classes[j]) for j, n in enumerate(matrix[i]) if j != i and n),
                       reverse=True)
        note = f"  (mistaken for {wrong[0][1]!r} x{wrong[0][0]})" if wrong else ""
        shown = f"{acc:6.1%}" if acc is not None else "     -"
        lines.append(f"  {name[:width]:<{width}} {shown} of {sum(matrix[i])}{note}")
    return "\n".join(lines)
