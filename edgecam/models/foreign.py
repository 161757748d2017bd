"""A plain ONNX classifier from elsewhere (an architecture outside the zoo), run with
``--labels FILE``: edgecam's metadata is made up from the labels and the model's own input, with
ImageNet's preprocessing assumed and said, so such a model runs without being exported again.

What is assumed is what most ImageNet classifiers expect: RGB on 0..1 normalized by ImageNet's
mean and std, the shorter side resized to R / 0.875 and the center R x R cut, R the model's
input size (224 when its input does not fix it). A model that expects otherwise carries its own
metadata instead (docs/foreign-models.md shows how to add it).
"""

from __future__ import annotations

import json
from pathlib import Path

from edgecam.models.catalog import IMAGENET_MEAN, IMAGENET_STD
from edgecam.models.metadata import DEFAULT_CROP_PCT, FORMAT
from edgecam.util.errors import EdgecamError

DEFAULT_RESOLUTION = 224


def read_labels(path: str | Path) -> list[str]:
    """One label per line (class 0 first); blank lines at the end are ignored, one inside
    would shift every label after it and is refused."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise EdgecamError(f"cannot read --labels {path}: {why}") from None
    labels = [line.strip() for line in text.rstrip().splitlines()]
    if not labels or not labels[0]:
        raise EdgecamError(f"--labels {path} has no labels: give one per line, class 0 first")
    if "" in labels:
        raise EdgecamError(f"--labels {path}: line {labels.index('') + 1} is empty; give one "
                           "label per line (a blank line would shift the labels after it)")
    return labels


def _side(shape: list) -> int | None:
    """The model's square input size from its shape [N, 3, R, R] (None: not fixed); any other
    shape is refused, since that is what edgecam feeds."""
    channels = shape[1] if len(shape) == 4 else 0
    if isinstance(channels, int) and channels != 3:
        raise EdgecamError(f"input is {shape}; edgecam feeds float32 [N, 3, R, R] (channels "
                           "first, RGB): a channels-last model needs a transpose added")
    h, w = shape[2], shape[3]
    fixed = [d for d in (h, w) if isinstance(d, int) and d > 0]
    if len(fixed) == 2 and h != w:
        raise EdgecamError(f"input is {shape}: edgecam feeds a square picture, R x R")
    return fixed[0] if fixed else None


def assumed_props(input_shape: list, output_shape: list, labels_file: str | Path,
                  model: str | Path) -> tuple[dict[str, str], str]:
    """(edgecam metadata for a model without it, the line that says what was assumed)."""
    labels = read_labels(labels_file)
    try:
        side = _side(list(input_shape))
    except EdgecamError as exc:
        raise EdgecamError(f"{model}: {exc}") from None
    classes = output_shape[-1] if output_shape else None
    if isinstance(classes, int) and classes != len(labels):
        raise EdgecamError(f"--labels {labels_file} has {len(labels)} labels, but {model} "
                           f"answers {classes} classes (output {list(output_shape)})")
    resolution = side or DEFAULT_RESOLUTION
    props = {"format": FORMAT, "labels": json.dumps(labels), "resolution": str(resolution),
             "mean": json.dumps(IMAGENET_MEAN), "std": json.dumps(IMAGENET_STD),
             "normalization": "imagenet", "weights": f"file:{Path(model).name}"}
    size = (f"{resolution} px (its input)" if side else
            f"{resolution} px (its input does not fix one)")
    note = (f"{model} has no edgecam metadata: assumed {size}, ImageNet mean/std on RGB, "
            f"shorter side to {round(resolution / DEFAULT_CROP_PCT)} then the center "
            f"{resolution}x{resolution}, bilinear; {len(labels)} labels from {labels_file} "
            "(docs/foreign-models.md: how to store other values in the file)")
    return props, note
