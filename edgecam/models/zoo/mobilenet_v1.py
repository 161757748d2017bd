"""MobileNetV1 (Howard et al. 2017) as timm builds it: 13 depthwise-separable blocks, ReLU6
after both the depthwise and the pointwise conv, no residuals, no head conv."""

from __future__ import annotations

from edgecam.models.zoo.spec import NetSpec, Row, expand_rows, make_divisible


def _ds(c: int, n: int, s: int) -> Row:
    return Row("ds", 1, c, n, s, pw_act=True, skip=False)


ROWS = [_ds(64, 1, 1), _ds(128, 2, 2), _ds(256, 2, 2), _ds(512, 6, 2), _ds(1024, 2, 2)]


def spec(alpha: float = 1.0) -> NetSpec:
    stem = make_divisible(32 * alpha)
    return NetSpec(stem, "relu6", expand_rows(ROWS, stem, alpha), None, "relu6")
