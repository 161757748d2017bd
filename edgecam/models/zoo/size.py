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


def _block(b: BlockSpec, size: int) -> tuple[int, int, int]:
    """(params, macs, output size) of one block at input ``size`` x ``size``."""
    out = math.ceil(size / b.stride)
    params = macs = 0
    if b.mid != b.cin:
        w = _pointwise(b.cin, b.mid, b.groups[0])
        params += w + 2 * b.mid
        macs += w * size * size
    w = _depthwise(b.mid, b.k)
    params += w + 2 * b.mid
    macs += w * out * out
    if b.se_channels:
        w = 2 * b.mid * b.se_channels
        params += w + b.se_channels + b.mid
        macs += w
    w = _pointwise(b.mid, b.cout, b.groups[1])
    params += w + 2 * b.cout
    macs += w * out * out
    return params, macs, out


def net_size(spec: NetSpec, resolution: int) -> Size:
    """Params and MACs of the network ``spec`` describes, run at ``resolution``."""
    size = math.ceil(resolution / 2)  # stem: 3x3 stride 2, any padding rule gives ceil
    params = spec.stem * 27 + 2 * spec.stem
    macs = spec.stem * 27 * size * size
    for b in spec.blocks:
        p, m, size = _block(b, size)
        params += p
        macs += m
    if spec.head is not None:
        w = spec.blocks[-1].cout * spec.head
        params += w + 2 * spec.head
        macs += w * size * size
    params += spec.features * spec.num_classes + spec.num_classes
    macs += spec.features * spec.num_classes
    return Size(params, macs)


def net_spec(arch: str, alpha: float = 1.0) -> NetSpec:
    """The concrete network description of ``arch`` at width ``alpha``."""
    from edgecam.models.catalog import arch_info
    from edgecam.models.zoo import efficientnet_lite, mixnet, mobilenet_v1, mobilenet_v2

    info = arch_info(arch)
    if info.family == "mobilenet_v1":
        return mobilenet_v1.spec(alpha)
    if info.family == "mobilenet_v2":
        return mobilenet_v2.spec(alpha)
    if info.family == "mixnet":
        return mixnet.spec(arch, alpha)
    return efficientnet_lite.spec(arch, alpha)


@functools.cache
def model_size(arch: str, alpha: float, resolution: int) -> Size:
    """Params and MACs of a zoo model (what the built model's hooks count)."""
    return net_size(net_spec(arch, alpha), resolution)
