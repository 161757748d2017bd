"""Params and multiply-adds from the stage tables alone (no torch).

The same count as ``complexity.py``'s forward hooks on the built model (conv + linear layers, SE
convs included, BN params counted as weights), computed layer by layer from the ``NetSpec``, so
``edgecam models`` and ``edgecam tune`` get exact figures in microseconds on a device without
torch. ``tests/test_zoo.py`` checks the two counts agree.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from edgecam.models.zoo.spec import BlockSpec, NetSpec, split_channels


@dataclass(frozen=True)
class Size:
    params: int
    macs: int


def _pointwise(cin: int, cout: int, groups: int) -> int:
    """Weights of a (possibly grouped, possibly unevenly split) 1x1 conv."""
    if groups == 1 or (cin % groups == 0 and cout % groups == 0):
        return cout * cin // groups
    return sum(ci * co for ci, co in zip(split_channels(cin, groups),
                                          split_channels(cout, groups)))


def _depthwise(channels: int, kernels: tuple[int, ...]) -> int:
    return sum(c * k * k for c, k in zip(split_channels(channels, len(kernels)), kernels))


def _conv(cin: int, cout: int, k: int, size: int, stride: int) -> tuple[int, int, int]:
    """(weights + BN, macs, output size) of a dense k x k conv followed by a BN."""
    out = math.ceil(size / stride)
    w = cin * cout * k * k
    return w + 2 * cout, w * out * out, out


def _block(b: BlockSpec, size: int) -> tuple[int, int, int]:
    """(params, macs, output size) of one block at input ``size`` x ``size`` (the parts and
    strides of ``blocks.Block``/``ConvBlock``)."""
    if b.block == "conv":
        return _conv(b.cin, b.cout, b.k[0], size, b.stride)
    fused = b.block == "er"
    has_dw = bool(b.k) and not fused
    params = macs = 0
    if b.k_start:
        size = math.ceil(size / (1 if has_dw else b.stride))
        w = b.cin * b.k_start * b.k_start
        params += w + 2 * b.cin
        macs += w * size * size
    if fused:
        p, m, size = _conv(b.cin, b.mid, b.k[0], size, b.stride)
        params += p
        macs += m
    elif b.mid != b.cin or b.block == "uir":
        w = _pointwise(b.cin, b.mid, b.groups[0])
        params += w + 2 * b.mid
        macs += w * size * size
    if has_dw:
        size = math.ceil(size / b.stride)
        w = _depthwise(b.mid, b.k)
        params += w + 2 * b.mid
        macs += w * size * size
    if b.se_channels:
        w = 2 * b.mid * b.se_channels
        params += w + b.se_channels + b.mid
        macs += w
    w = _pointwise(b.mid, b.cout, b.groups[1])
    params += w + 2 * b.cout
    macs += w * size * size
    return params, macs, size


def net_size(spec: NetSpec, resolution: int) -> Size:
    """Params and MACs of the network ``spec`` describes, run at ``resolution``."""
    params, macs, size = _conv(3, spec.stem, 3, resolution, 2)  # stem: 3x3 stride 2 (ceil)
    for b in spec.blocks:
        p, m, size = _block(b, size)
        params += p
        macs += m
    if spec.head is not None:
        w = spec.blocks[-1].cout * spec.head
        params += w + (spec.head if spec.head_bias else 0) + (2 * spec.head if spec.head_bn else 0)
        macs += w * (1 if spec.head_pooled else size * size)
    params += spec.features * spec.num_classes + spec.num_classes
    macs += spec.features * spec.num_classes
    return Size(params, macs)


def net_spec(arch: str, alpha: float = 1.0) -> NetSpec:
    """The concrete network description of ``arch`` at width ``alpha``."""
    from edgecam.models.catalog import arch_info
    from edgecam.models.zoo import (
        efficientnet_lite,
        mixnet,
        mobilenet_v1,
        mobilenet_v2,
        mobilenet_v3,
        mobilenet_v4,
    )

    info = arch_info(arch)
    if info.family == "mobilenet_v1":
        return mobilenet_v1.spec(alpha)
    if info.family == "mobilenet_v2":
        return mobilenet_v2.spec(alpha)
    if info.family == "mixnet":
        return mixnet.spec(arch, alpha)
    if info.family == "mobilenet_v3":
        return mobilenet_v3.spec(arch, alpha)
    if info.family == "mobilenet_v4":
        return mobilenet_v4.spec(arch, alpha)
    return efficientnet_lite.spec(arch, alpha)


@functools.cache
def model_size(arch: str, alpha: float, resolution: int) -> Size:
    """Params and MACs of a zoo model (what the built model's hooks count)."""
    return net_size(net_spec(arch, alpha), resolution)
