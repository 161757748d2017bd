"""MobileNetV4-Conv-Small/Medium (Qin et al. 2024) as timm's ``mobilenetv4_conv_small*`` /
``mobilenetv4_conv_medium``: ReLU and plain convolutions only, no squeeze-excite. Plain k x k
convs (Small) or a fused expand-project block (Medium) first, then universal inverted
residuals (an optional depthwise conv before the 1x1 expansion, an optional one after it), a
1x1 conv to 960, and the "efficient head": pooling, then 1x1 conv, BN, ReLU.
"""

from __future__ import annotations

from edgecam.models.zoo.spec import NetSpec, Row, expand_rows, make_divisible, staged


def _uir(start: int, mid: int, t: float, c: int, n: int = 1, s: int = 1) -> Row:
    """``start``/``mid``: the depthwise kernels before/after the expansion (0: none)."""
    return Row("uir", t, c, n, s, k=(mid,) if mid else (), k_start=start, act="relu")


def _conv(k: int, c: int, s: int = 1) -> Row:
    return Row("conv", 1, c, 1, s, k=(k,), act="relu", skip=False)


# _uir(start kernel, middle kernel, t, c, n, s); one list per stage
SMALL = staged(
    [_conv(3, 32, 2), _conv(1, 32)],
    [_conv(3, 96, 2), _conv(1, 64)],
    [_uir(5, 5, 3, 96, s=2), _uir(0, 3, 2, 96, n=4), _uir(3, 0, 4, 96)],
    [_uir(3, 3, 6, 128, s=2), _uir(5, 5, 4, 128), _uir(0, 5, 4, 128), _uir(0, 5, 3, 128),
     _uir(0, 3, 4, 128, n=2)],
    [_conv(1, 960)],
)

MEDIUM = staged(
    [Row("er", 4, 48, 1, 2, k=(3,), act="relu")],
    [_uir(3, 5, 4, 80, s=2), _uir(3, 3, 2, 80)],
    [_uir(3, 5, 6, 160, s=2), _uir(3, 3, 4, 160, n=2), _uir(3, 5, 4, 160), _uir(3, 3, 4, 160),
     _uir(3, 0, 4, 160), _uir(0, 0, 2, 160), _uir(3, 0, 4, 160)],
    [_uir(5, 5, 6, 256, s=2), _uir(5, 5, 4, 256), _uir(3, 5, 4, 256, n=2), _uir(0, 0, 4, 256),
     _uir(3, 0, 4, 256), _uir(3, 5, 2, 256), _uir(5, 5, 4, 256), _uir(0, 0, 4, 256, n=2),
     _uir(5, 0, 2, 256)],
    [_conv(1, 960)],
)

VARIANTS = {"mobilenet_v4_conv_small": SMALL, "mobilenet_v4_conv_medium": MEDIUM}


def spec(variant: str, alpha: float = 1.0) -> NetSpec:
    """The stem (32) is scaled only from alpha 1.0 up and the head (1280) never, as in timm;
    every other width is ``make_divisible(c * alpha)``."""
    stem = 32 if alpha < 1.0 else make_divisible(32 * alpha)
    blocks = expand_rows(VARIANTS[variant], stem, alpha)
    return NetSpec(stem, "relu", blocks, 1280, "relu", head_pooled=True)
