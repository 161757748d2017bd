"""MixNet-S/M/L (Tan & Le 2019) as timm's PyTorch-native ``mixnet_*``: mixed-kernel depthwise
convs, grouped 1x1 convs, squeeze-excite, ReLU in the early stages and swish later."""

from __future__ import annotations

from edgecam.models.zoo.spec import NetSpec, Row, expand_rows, make_divisible

K3, K35, K357, K3579 = (3,), (3, 5), (3, 5, 7), (3, 5, 7, 9)


def _ir(k, g, t, c, n, s, se=0.0, act="swish") -> Row:
    return Row("ir", t, c, n, s, k=k, groups=g, se=se, act=act)


# k (kernels), (expand, project) groups, t, c, n, s, se
ROWS_S = [
    Row("ds", 1, 16, 1, 1, act="relu"),
    _ir(K3, (2, 2), 6, 24, 1, 2, act="relu"),
    _ir(K3, (2, 2), 3, 24, 1, 1, act="relu"),
    _ir(K357, (1, 1), 6, 40, 1, 2, 0.5),
    _ir(K35, (2, 2), 6, 40, 3, 1, 0.5),
    _ir(K357, (1, 2), 6, 80, 1, 2, 0.25),
    _ir(K35, (1, 2), 6, 80, 2, 1, 0.25),
    _ir(K357, (2, 2), 6, 120, 1, 1, 0.5),
    _ir(K3579, (2, 2), 3, 120, 2, 1, 0.5),
    _ir((3, 5, 7, 9, 11), (1, 1), 6, 200, 1, 2, 0.5),
    _ir(K3579, (1, 2), 6, 200, 2, 1, 0.5),
]

ROWS_M = [
    Row("ds", 1, 24, 1, 1, act="relu"),
    _ir(K357, (2, 2), 6, 32, 1, 2, act="relu"),
    _ir(K3, (2, 2), 3, 32, 1, 1, act="relu"),
    _ir(K3579, (1, 1), 6, 40, 1, 2, 0.5),
    _ir(K35, (2, 2), 6, 40, 3, 1, 0.5),
    _ir(K357, (1, 1), 6, 80, 1, 2, 0.25),
    _ir(K3579, (2, 2), 6, 80, 3, 1, 0.25),
    _ir(K3, (1, 1), 6, 120, 1, 1, 0.5),
    _ir(K3579, (2, 2), 3, 120, 3, 1, 0.5),
    _ir(K3579, (1, 1), 6, 200, 1, 2, 0.5),
    _ir(K3579, (1, 2), 6, 200, 3, 1, 0.5),
]

VARIANTS = {  # name: (rows, stem, width)
    "mixnet_s": (ROWS_S, 16, 1.0),
    "mixnet_m": (ROWS_M, 24, 1.0),
    "mixnet_l": (ROWS_M, 24, 1.3),
}


def spec(variant: str, alpha: float = 1.0) -> NetSpec:
    rows, stem, width = VARIANTS[variant]
    stem_ch = make_divisible(stem * width * alpha)
    blocks = expand_rows(rows, stem_ch, width * alpha)
    return NetSpec(stem_ch, "relu", blocks, 1536, "relu")
