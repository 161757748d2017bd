"""Architectures as data: a network is a stem, a list of stage rows and a head.

Each architecture module turns its table of rows and a width multiplier into a concrete
``NetSpec`` (channels already rounded, repeats already scaled); ``builder.build`` turns any
``NetSpec`` into a PyTorch module. This file imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


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


BLOCKS = ("ds", "ir", "uir", "er", "conv")


@dataclass(frozen=True)
class Row:
    """One stage row: ``n`` blocks, the first with stride ``s``.

    block: "ds" (depthwise-separable), "ir" (inverted residual / MBConv), "uir" (MobileNetV4's
    universal inverted residual: an optional depthwise conv before the expansion, ``k_start``,
    and an optional one after it, ``k``), "er" (fused: one ``k`` x ``k`` conv expands, then a
    1x1 projects) or "conv" (one ``k`` x ``k`` conv, BN, act).
    t: expansion ratio; c: output channels (unscaled); k: depthwise kernel per channel group
    (more than one = mixed depthwise conv; empty = none, UIR only); groups: (expand, project)
    1x1 conv groups; se: squeeze-excite ratio (of the block input channels, or of the expanded
    ones when the family counts it so: ``expand_rows(se_of_mid=True)``); act: activation;
    se_act: the SE's own activation (None: the block's); se_gate: "sigmoid" or
    "hard_sigmoid"; pw_act: DS blocks only, activation after the pointwise conv (MobileNetV1);
    skip: allow the residual add when stride is 1 and channels match; stage: the stage the
    row belongs to (None: a new stage wherever the stride or the width changes).
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
    k_start: int = 0
    se_act: str | None = None
    se_gate: str = "sigmoid"
    stage: int | None = None


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
    k_start: int = 0
    se_act: str = ""
    se_gate: str = "sigmoid"
    stage: int = 0


@dataclass(frozen=True)
class NetSpec:
    """stem conv 3x3/2 -> blocks -> optional 1x1 head conv -> global mean -> Linear.

    ``head_pooled``: the head conv runs on the pooled vector (MobileNetV3/V4's "efficient
    head"), with a bias (``head_bias``) and/or a BN (``head_bn``) before its activation."""

    stem: int
    stem_act: str
    blocks: tuple[BlockSpec, ...]
    head: int | None  # 1x1 conv channels; None = no head conv
    head_act: str
    num_classes: int = 1000
    padding: str = "symmetric"  # or "same" (TensorFlow, EfficientNet-Lite)
    bn_eps: float = 1e-5
    head_pooled: bool = False
    head_bias: bool = False
    head_bn: bool = True

    @property
    def features(self) -> int:
        return self.head if self.head is not None else self.blocks[-1].cout


def staged(*stages: list[Row]) -> list[Row]:
    """Rows grouped into stages as the publisher groups them (what ``train``'s tapped recipe
    reads the end of), flattened with each row's stage set."""
    return [replace(row, stage=i) for i, rows in enumerate(stages) for row in rows]


def expand_rows(
    rows: list[Row],
    stem: int,
    width: float,
    depth: float = 1.0,
    fixed_depth_rows: tuple[int, ...] = (),
    se_of_mid: bool = False,
) -> tuple[BlockSpec, ...]:
    """Scale channels by ``width`` (make_divisible by 8) and repeats by ``depth`` (ceil), then
    unroll the rows into blocks, each taking the previous block's output channels.

    SE channels are ``round(in x se)`` (MixNet, EfficientNet), or with ``se_of_mid`` the
    expanded channels x se made divisible by 8 (MobileNetV3)."""
    import math

    blocks: list[BlockSpec] = []
    cin = stem
    stage = -1
    for i, row in enumerate(rows):
        if row.block not in BLOCKS:
            raise ValueError(f"unknown block type {row.block!r}")
        cout = make_divisible(row.c * width)
        n = row.n if i in fixed_depth_rows else int(math.ceil(row.n * depth))
        if row.stage is not None:
            stage = row.stage
        elif not blocks or row.s > 1 or cout != blocks[-1].cout:
            stage += 1
        for j in range(n):
            stride = row.s if j == 0 else 1
            if row.block == "conv":
                mid = cout
            elif row.block in ("uir", "er") or row.t != 1:
                mid = make_divisible(cin * row.t)
            else:
                mid = cin
            se_channels = 0
            if row.se:
                se_channels = (make_divisible(mid * row.se) if se_of_mid
                               else max(1, round(mid * row.se / row.t)))
            blocks.append(BlockSpec(
                block=row.block, cin=cin, cout=cout, mid=mid, stride=stride, k=row.k,
                groups=row.groups, se_channels=se_channels, act=row.act, pw_act=row.pw_act,
                residual=row.skip and stride == 1 and cin == cout, k_start=row.k_start,
                se_act=row.se_act or row.act, se_gate=row.se_gate, stage=stage,
            ))
            cin = cout
    return tuple(blocks)
