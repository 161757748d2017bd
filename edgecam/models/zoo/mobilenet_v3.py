"""MobileNetV3-Large/Small (Howard et al. 2019) as timm's ``mobilenetv3_large_*`` /
``mobilenetv3_small_*``: inverted residuals with hard-swish in the later stages, squeeze-excite
on the expanded channels (ReLU inside, a hard-sigmoid gate), a 1x1 conv to 960/576 as the last
block, then the "efficient head": pooling first, a 1x1 conv with a bias and hard-swish, no BN.
"""

from __future__ import annotations

from edgecam.models.zoo.spec import NetSpec, Row, expand_rows, make_divisible, staged

HS = "hard_swish"


def _ir(t: float, c: int, n: int, s: int, k: int = 3, se: float = 0.0, act: str = HS) -> Row:
    return Row("ir", t, c, n, s, k=(k,), se=se, act=act, se_act="relu", se_gate="hard_sigmoid")


def _conv(c: int) -> Row:
    return Row("conv", 1, c, 1, 1, k=(1,), act=HS, skip=False)


# t (expansion), c (out channels), n (repeats), s (first stride), k, se; one list per stage
LARGE = staged(
    [Row("ds", 1, 16, 1, 1, act="relu")],
    [_ir(4, 24, 1, 2, act="relu"), _ir(3, 24, 1, 1, act="relu")],
    [_ir(3, 40, 3, 2, 5, 0.25, act="relu")],
    [_ir(6, 80, 1, 2), _ir(2.5, 80, 1, 1), _ir(2.3, 80, 2, 1)],
    [_ir(6, 112, 2, 1, se=0.25)],
    [_ir(6, 160, 3, 2, 5, 0.25)],
    [_conv(960)],
)

SMALL = staged(
    [Row("ds", 1, 16, 1, 2, se=0.25, act="relu", se_act="relu", se_gate="hard_sigmoid")],
    [_ir(4.5, 24, 1, 2, act="relu"), _ir(3.67, 24, 1, 1, act="relu")],
    [_ir(4, 40, 1, 2, 5, 0.25), _ir(6, 40, 2, 1, 5, 0.25)],
    [_ir(3, 48, 2, 1, 5, 0.25)],
    [_ir(6, 96, 3, 2, 5, 0.25)],
    [_conv(576)],
)

VARIANTS = {"mobilenet_v3_large": (LARGE, 1280), "mobilenet_v3_small": (SMALL, 1024)}


def spec(variant: str, alpha: float = 1.0) -> NetSpec:
    """The stem (16) is scaled only from alpha 0.75 up and the head (1280/1024) never, as in
    timm; every other width is ``make_divisible(c * alpha)``."""
    rows, head = VARIANTS[variant]
    stem = 16 if alpha < 0.75 else make_divisible(16 * alpha)
    blocks = expand_rows(rows, stem, alpha, se_of_mid=True)
    return NetSpec(stem, HS, blocks, head, HS, head_pooled=True, head_bias=True, head_bn=False)
