"""The one builder: any ``NetSpec`` -> a PyTorch classifier (stem, blocks, head, classifier)."""

from __future__ import annotations

import torch
from torch import nn

from edgecam.models.zoo.blocks import ConvBN, conv, make_block
from edgecam.models.zoo.spec import NetSpec


class EdgeNet(nn.Module):
    """stem conv 3x3/2 -> blocks -> 1x1 head conv before or after the global mean (or none)
    -> Linear."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        self.spec = spec
        eps, pad = spec.bn_eps, spec.padding
        self.stem = ConvBN(conv(3, spec.stem, 3, 2, padding=pad), spec.stem, spec.stem_act, eps)
        self.blocks = nn.Sequential(*(make_block(b, pad, eps) for b in spec.blocks))
        last = spec.blocks[-1].cout
        self.head = (ConvBN(conv(last, spec.head, 1, bias=spec.head_bias), spec.head,
                            spec.head_act, eps, bn=spec.head_bn)
                     if spec.head is not None else None)
        self.classifier: nn.Module = nn.Linear(spec.features, spec.num_classes)

    def vector(self, x: torch.Tensor) -> torch.Tensor:
        """The last block's output -> the pooled vector the classifier reads."""
        if self.head is None:
            return x.mean((2, 3))
        if not self.spec.head_pooled:
            return self.head(x).mean((2, 3))
        return self.head(x.mean((2, 3), keepdim=True)).flatten(1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled vector the classifier reads (what transfer learning trains on)."""
        return self.vector(self.blocks(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def build(spec: NetSpec) -> EdgeNet:
    return EdgeNet(spec)
