"""Architectures as data: a network is a stem, a list of stage rows and a head.

Each architecture module turns its table of rows and a width multiplier into a concrete
``NetSpec`` (channels already rounded, repeats already scaled); ``builder.build`` turns any
``NetSpec`` into a PyTorch module. This file imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round channels to a multiple of ``divisor`` as torchvision/timm/TF do: to the nearest
    multiple, at least ``divisor``, and never more than 10% below ``value``."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def split_channels(channels: int, groups: int) -> list[int]:
    """Split ``channels`` into ``groups`` contiguous parts; the first part takes the remainder
    (timm's MixNet rule)."""
    parts = [channels // groups] * groups
    parts[0] += channels - sum(parts)
    return parts


@dataclass(frozen=True)
class Row:
    """One stage row: ``n`` blocks, the first with stride ``s``.

    block: "ds" (depthwise-separable) or "ir" (inverted residual / MBConv).
    t: expansion ratio; c: output channels (unscaled); k: depthwise kernel per channel group
    (more than one = mixed depthwise conv); groups: (expand, project) 1x1 conv groups;
    se: squeeze-excite ratio of the block input channels (0 = none); act: activation;
    pw_act: DS blocks only, activation after the pointwise conv (MobileNetV1);
    skip: allow the residual add when stride is 1 and channels match.
    """

    block: str
    t: float
    c: int
    n: int
    s: int
    k: tuple[int, ...] = (3,)
    groups: tuple[int, int] = (1, 1)
    se: float = 0.0
    act: str = "relu6"
    pw_act: bool = False
    skip: bool = True


@dataclass(frozen=True)
class BlockSpec:
    """A concrete block after scaling (what the builder instantiates)."""

    block: str
    cin: int
    cout: int
    mid: int
    stride: int
    k: tuple[int, ...]
    groups: tuple[int, int]
    se_channels: int
    act: str
    pw_act: bool
    residual: bool


@dataclass(frozen=True)
class NetSpec:
    stem: int
    stem_act: str
    blocks: tuple[BlockSpec, ...]
    head: int | None  # 1x1 conv channels before pooling; None = no head conv
    head_act: str
    num_classes: int = 1000
    padding: str = "symmetric"  # or "same" (TensorFlow, EfficientNet-Lite)
    bn_eps: float = 1e-5

    @property
    def features(self) -> int:
        return self.head if self.head is not None else self.blocks[-1].cout


def expand_rows(
    rows: list[Row],
    stem: int,
    width: float,
    depth: float = 1.0,
    fixed_depth_rows: tuple[int, ...] = (),
) -> tuple[BlockSpec, ...]:
    """Scale channels by ``width`` (make_divisible by 8) and repeats by ``depth`` (ceil), then
    unroll the rows into blocks, each taking the previous block's output channels."""
    import math

    blocks = []
    cin = stem
    for i, row in enumerate(rows):
        cout = make_divisible(row.c * width)
        n = row.n if i in fixed_depth_rows else int(math.ceil(row.n * depth))
        for j in range(n):
            stride = row.s if j == 0 else 1
            mid = make_divisible(cin * row.t) if row.t != 1 else cin
            se_channels = max(1, round(mid * row.se / row.t)) if row.se else 0
            blocks.append(BlockSpec(
                block=row.block, cin=cin, cout=cout, mid=mid, stride=stride, k=row.k,
                groups=row.groups, se_channels=se_channels, act=row.act, pw_act=row.pw_act,
                residual=row.skip and stride == 1 and cin == cout,
            ))
            cin = cout
    return tuple(blocks)
