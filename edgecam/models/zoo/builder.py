"""The one builder: any ``NetSpec`` -> a PyTorch classifier (stem, blocks, head, classifier)."""

from __future__ import annotations

import torch
from torch import nn

from edgecam.models.zoo.blocks import Block, ConvBN, conv
from edgecam.models.zoo.spec import NetSpec


class EdgeNet(nn.Module):
    """stem conv 3x3/2 -> blocks -> optional 1x1 head -> global mean -> Linear."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        self.spec = spec
        eps, pad = spec.bn_eps, spec.padding
        self.stem = ConvBN(conv(3, spec.stem, 3, 2, padding=pad), spec.stem, spec.stem_act, eps)
        self.blocks = nn.Sequential(*(Block(b, pad, eps) for b in spec.blocks))
        last = spec.blocks[-1].cout
        self.head = (ConvBN(conv(last, spec.head, 1), spec.head, spec.head_act, eps)
                     if spec.head is not None else None)
        self.classifier: nn.Module = nn.Linear(spec.features, spec.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled vector the classifier reads (what transfer learning trains on)."""
        x = self.blocks(self.stem(x))
        if self.head is not None:
            x = self.head(x)
        return x.mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def build(spec: NetSpec) -> EdgeNet:
    return EdgeNet(spec)
