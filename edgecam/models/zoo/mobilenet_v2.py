"""MobileNetV2 (Sandler et al. 2018), as torchvision ``mobilenet_v2`` / timm ``mobilenetv2_*``:
inverted residuals with linear bottlenecks and ReLU6."""

from __future__ import annotations

from edgecam.models.zoo.spec import NetSpec, Row, expand_rows, make_divisible

# t (expansion), c (out channels), n (repeats), s (first stride)
ROWS = [
    Row("ir", 1, 16, 1, 1),
    Row("ir", 6, 24, 2, 2),
    Row("ir", 6, 32, 3, 2),
    Row("ir", 6, 64, 4, 2),
    Row("ir", 6, 96, 3, 1),
    Row("ir", 6, 160, 3, 2),
    Row("ir", 6, 320, 1, 1),
]


def spec(alpha: float = 1.0) -> NetSpec:
    stem = make_divisible(32 * alpha)
    head = max(1280, make_divisible(1280 * alpha))
    return NetSpec(stem, "relu6", expand_rows(ROWS, stem, alpha), head, "relu6")
