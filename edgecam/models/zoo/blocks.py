"""Shared building blocks for every architecture (PyTorch).

Module definition order is the order of the published state dicts (expand, depthwise, SE,
project), which is what lets ``weights.py`` map torchvision, timm and EfficientNet-Lite files
onto these modules position by position.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from edgecam.models.zoo.spec import split_channels

ACTIVATIONS = {"relu": nn.ReLU, "relu6": nn.ReLU6, "swish": nn.SiLU}


def activation(name: str) -> nn.Module:
    return ACTIVATIONS[name](inplace=True) if name != "swish" else nn.SiLU(inplace=True)


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
    """conv -> BatchNorm -> optional activation."""

    def __init__(self, conv_: nn.Module, channels: int, act: str | None, eps: float) -> None:
        super().__init__()
        self.conv = conv_
        self.bn = nn.BatchNorm2d(channels, eps=eps)
        self.act = activation(act) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class SqueezeExcite(nn.Module):
    """Global mean -> 1x1 reduce -> act -> 1x1 expand -> sigmoid gate on the input."""

    def __init__(self, channels: int, reduced: int, act: str) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1, bias=True)
        self.act = activation(act)
        self.expand = nn.Conv2d(reduced, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.expand(self.act(self.reduce(s))))


class Block(nn.Module):
    """Depthwise-separable (no expansion) or inverted residual / MBConv block.

    expand 1x1 (when mid != cin) -> depthwise (mixed kernels) -> SE -> project 1x1 (linear
    bottleneck unless ``pw_act``) -> residual add when stride 1 and cin == cout.
    """

    def __init__(self, spec, padding: str, eps: float) -> None:
        super().__init__()
        s = spec
        self.expand = (ConvBN(pointwise(s.cin, s.mid, s.groups[0]), s.mid, s.act, eps)
                       if s.mid != s.cin else None)
        self.dw = ConvBN(depthwise(s.mid, s.k, s.stride, padding), s.mid, s.act, eps)
        self.se = SqueezeExcite(s.mid, s.se_channels, s.act) if s.se_channels else None
        self.project = ConvBN(pointwise(s.mid, s.cout, s.groups[1]), s.cout,
                              s.act if s.pw_act else None, eps)
        self.residual = s.residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.expand is not None:
            y = self.expand(y)
        y = self.dw(y)
        if self.se is not None:
            y = self.se(y)
        y = self.project(y)
        return x + y if self.residual else y
