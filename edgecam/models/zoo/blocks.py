"""Shared building blocks for every architecture (PyTorch).

Module definition order is the order of the published state dicts (expand, depthwise, SE,
project), which is what lets ``weights.py`` map torchvision, timm and EfficientNet-Lite files
onto these modules position by position.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from edgecam.models.zoo.spec import BlockSpec, split_channels

ACTIVATIONS = {"relu": nn.ReLU, "relu6": nn.ReLU6, "swish": nn.SiLU,
               "hard_swish": nn.Hardswish}
GATES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid, "hard_sigmoid": F.hardsigmoid}


def activation(name: str) -> nn.Module:
    return ACTIVATIONS[name](inplace=True)


def same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding (EfficientNet-Lite): output ceil(size / stride), any odd pixel
    on the bottom/right. Computed from the input size, so any rho works."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, padding: str = "symmetric",
         bias: bool = False) -> nn.Module:
    """A Conv2d with the padding rule of the architecture."""
    if padding == "same" and (k > 1 or stride > 1):
        return SameConv(cin, cout, k, stride, groups, bias)
    return nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=bias)


class SameConv(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding; symmetric cases use the conv's own padding."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, groups: int, bias: bool) -> None:
        super().__init__(cin, cout, k, stride, 0, groups=groups, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, stride = self.kernel_size[0], self.stride[0]
        top, bottom = same_pad(int(x.shape[-2]), k, stride)
        left, right = same_pad(int(x.shape[-1]), k, stride)
        if top == bottom and left == right:
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left), 1, self.groups)
        return super().forward(F.pad(x, (left, right, top, bottom)))


class MixedConv(nn.Module):
    """Channels split into contiguous groups, each with its own kernel; outputs concatenated.

    With several kernels it is MixNet's mixed depthwise conv; with kernel 1 and uneven splits
    it is a grouped 1x1 conv that ``nn.Conv2d(groups=g)`` cannot express.
    """

    def __init__(self, cin: int, cout: int, kernels: tuple[int, ...], stride: int,
                 depthwise: bool, padding: str) -> None:
        super().__init__()
        self.in_splits = split_channels(cin, len(kernels))
        out_splits = split_channels(cout, len(kernels))
        self.convs = nn.ModuleList(
            conv(ci, co, k, stride, groups=co if depthwise else 1, padding=padding)
            for ci, co, k in zip(self.in_splits, out_splits, kernels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = torch.split(x, self.in_splits, dim=1)
        return torch.cat([c(p) for c, p in zip(self.convs, parts)], dim=1)


def depthwise(channels: int, kernels: tuple[int, ...], stride: int, padding: str) -> nn.Module:
    if len(kernels) == 1:
        return conv(channels, channels, kernels[0], stride, groups=channels, padding=padding)
    return MixedConv(channels, channels, kernels, stride, depthwise=True, padding=padding)


def pointwise(cin: int, cout: int, groups: int) -> nn.Module:
    """A 1x1 conv split into ``groups`` (MixNet's grouped 1x1); one Conv2d when splits are even."""
    if groups == 1 or (cin % groups == 0 and cout % groups == 0):
        return nn.Conv2d(cin, cout, 1, groups=groups, bias=False)
    return MixedConv(cin, cout, (1,) * groups, 1, depthwise=False, padding="symmetric")


class ConvBN(nn.Module):
    """conv -> BatchNorm (unless ``bn`` is False) -> optional activation."""

    def __init__(self, conv_: nn.Module, channels: int, act: str | None, eps: float,
                 bn: bool = True) -> None:
        super().__init__()
        self.conv = conv_
        self.bn = nn.BatchNorm2d(channels, eps=eps) if bn else nn.Identity()
        self.act = activation(act) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class SqueezeExcite(nn.Module):
    """Global mean -> 1x1 reduce -> act -> 1x1 expand -> gate (sigmoid or hard sigmoid) on
    the input."""

    def __init__(self, channels: int, reduced: int, act: str, gate: str = "sigmoid") -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1, bias=True)
        self.act = activation(act)
        self.expand = nn.Conv2d(reduced, channels, 1, bias=True)
        self.gate = GATES[gate]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.expand(self.act(self.reduce(s))))


class Block(nn.Module):
    """Every block type but "conv", as optional parts in one order:

    start (UIR: depthwise, BN, no act) -> expand (1x1, or the fused k x k conv of "er"; left
    out when a DS/IR block does not expand) -> depthwise (mixed kernels; none in "er" and in a
    UIR without a middle kernel) -> SE -> project 1x1 (linear bottleneck unless ``pw_act``)
    -> residual add when stride 1 and cin == cout. The stride sits on the first spatial conv
    that runs at the block's output size: the depthwise, else the fused expand, else start.
    """

    def __init__(self, spec: BlockSpec, padding: str, eps: float) -> None:
        super().__init__()
        s = spec
        fused = s.block == "er"
        has_dw = bool(s.k) and not fused
        self.start = (ConvBN(depthwise(s.cin, (s.k_start,), 1 if has_dw else s.stride, padding),
                             s.cin, None, eps) if s.k_start else None)
        if fused:
            expand: nn.Module | None = ConvBN(conv(s.cin, s.mid, s.k[0], s.stride,
                                                   padding=padding), s.mid, s.act, eps)
        elif s.mid != s.cin or s.block == "uir":
            expand = ConvBN(pointwise(s.cin, s.mid, s.groups[0]), s.mid, s.act, eps)
        else:
            expand = None
        self.expand = expand
        self.dw = (ConvBN(depthwise(s.mid, s.k, s.stride, padding), s.mid, s.act, eps)
                   if has_dw else None)
        self.se = (SqueezeExcite(s.mid, s.se_channels, s.se_act or s.act, s.se_gate)
                   if s.se_channels else None)
        self.project = ConvBN(pointwise(s.mid, s.cout, s.groups[1]), s.cout,
                              s.act if s.pw_act else None, eps)
        self.residual = s.residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        for part in (self.start, self.expand, self.dw, self.se):
            if part is not None:
                y = part(y)
        y = self.project(y)
        return x + y if self.residual else y


class ConvBlock(nn.Module):
    """A plain k x k conv, BN, act ("conv" rows: MobileNetV4's early layers and the 1x1 conv
    that widens the last stage in MobileNetV3/V4)."""

    def __init__(self, spec: BlockSpec, padding: str, eps: float) -> None:
        super().__init__()
        s = spec
        self.conv = ConvBN(conv(s.cin, s.cout, s.k[0], s.stride, padding=padding), s.cout,
                           s.act, eps)
        self.residual = s.residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return x + y if self.residual else y


def make_block(spec: BlockSpec, padding: str, eps: float) -> nn.Module:
    return (ConvBlock if spec.block == "conv" else Block)(spec, padding, eps)
