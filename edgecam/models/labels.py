"""ImageNet-1k class names in index order (the order every supported checkpoint uses)."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def imagenet_labels() -> tuple[str, ...]:
    """The 1000 short class names; line i of the bundled file is class index i."""
    text = resources.files("edgecam").joinpath("data/imagenet_classes.txt").read_text("utf-8")
    labels = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(labels) != 1000:
        raise RuntimeError(f"bundled label file has {len(labels)} names, expected 1000")
    return labels
