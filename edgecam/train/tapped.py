"""The network a trained model is: the ImageNet backbone read at several depths, then one
``Linear``.

The classifier reads the pooled output of every stage's last block beside the final pooled
vector. Early stages keep shapes and strokes that the last stage, tuned to ImageNet's 1000
classes, has pooled away: on blocky 64 px digits the last vector alone gave 83-86% held-out
and the stages together 94.9% ± 0.4% over three splits at 128 px (benchmarks/train.py recipe);
on faces both did as well.
"""

from __future__ import annotations

import torch
from torch import nn

from edgecam.models.zoo.builder import EdgeNet


def stage_ends(net: EdgeNet) -> list[int]:
    """Indices of the blocks that end a stage (the stage tables say which block is in which:
    where the stride or the width changes, or as the publisher groups them)."""
    blocks = net.spec.blocks
    return [i for i, b in enumerate(blocks)
            if i == len(blocks) - 1 or blocks[i + 1].stage != b.stage]


class Tapped(nn.Module):
    """``net`` with a classifier over its stage outputs and final vector, concatenated.

    ``front``/``rest`` split the same computation at a block, so fine-tuning can run the
    frozen front once without gradients and only the tail with them."""

    def __init__(self, net: EdgeNet, classes: int) -> None:
        super().__init__()
        net.classifier = nn.Identity()  # the ImageNet classifier is not part of this network
        self.net = net
        self.taps = stage_ends(net)
        widths = [net.spec.blocks[i].cout for i in self.taps] + [net.spec.features]
        self.dim = sum(widths)
        self.classifier: nn.Module = nn.Linear(self.dim, classes)

    def front(self, x: torch.Tensor, upto: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The stem and blocks ``[0, upto)``: the activation and the pooled taps so far."""
        x = self.net.stem(x)
        pooled = []
        for i in range(upto):
            x = self.net.blocks[i](x)
            if i in self.taps:
                pooled.append(x.mean((2, 3)))
        return x, pooled

    def rest(self, x: torch.Tensor, pooled: list[torch.Tensor], start: int) -> torch.Tensor:
        """Blocks from ``start`` on and the head: the concatenated feature vector."""
        pooled = list(pooled)
        for i in range(start, len(self.net.blocks)):
            x = self.net.blocks[i](x)
            if i in self.taps:
                pooled.append(x.mean((2, 3)))
        pooled.append(self.net.vector(x))
        return torch.cat(pooled, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The vector the classifier reads (what the cached features are)."""
        mid, pooled = self.front(x, 0)
        return self.rest(mid, pooled, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
