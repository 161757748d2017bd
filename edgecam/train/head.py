"""The new classifier on cached backbone vectors: a linear layer trained with early stopping
on validation accuracy, whose best state survives Ctrl-C.

The vectors are standardized for training (so one learning rate suits every backbone) and the
standardization is folded into the layer afterwards, so the exported network is the backbone
plus one plain ``Linear``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from edgecam.train.features import Features
from edgecam.util.signals import StopFlag


@dataclass(frozen=True)
class HeadConfig:
    epochs: int = 40
    patience: int = 8  # epochs without a better validation score before stopping
    lr: float = 2e-3
    weight_decay: float = 1e-4
    dropout: float = 0.2
    label_smoothing: float = 0.1
    batch: int = 64


@dataclass
class Epoch:
    epoch: int
    loss: float
    val_accuracy: float
    val_loss: float


@dataclass
class TrainedHead:
    weight: np.ndarray  # [K, D], on raw (unstandardized) vectors
    bias: np.ndarray  # [K]
    best_epoch: int
    history: list[Epoch] = field(default_factory=list)
    interrupted: bool = False

    def logits(self, vectors: np.ndarray) -> np.ndarray:
        return vectors @ self.weight.T + self.bias

    def layer(self) -> nn.Linear:
        out = nn.Linear(self.weight.shape[1], self.weight.shape[0])
        with torch.no_grad():
            out.weight.copy_(torch.from_numpy(self.weight))
            out.bias.copy_(torch.from_numpy(self.bias))
        return out


def _score(layer: nn.Linear, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    with torch.no_grad():
        logits = layer(x)
        return (float((logits.argmax(1) == y).float().mean()),
                float(nn.functional.cross_entropy(logits, y)))


def train_head(feats: Features, classes: int, config: HeadConfig, seed: int, stop: StopFlag,
               on_epoch: Callable[[Epoch], None] = lambda e: None) -> TrainedHead:
    """Every epoch sees each training picture in all its views, shuffled; the kept state is
    the one with the best validation accuracy (lower validation loss breaks ties)."""
    torch.manual_seed(seed)
    views, n, dim = feats.train.shape
    x_all = feats.train.reshape(views * n, dim)
    mean = x_all.mean(0)
    # a feature that never varies on the training pictures must not get a huge weight once
    # the standardization is folded in: floor its scale, and start every weight at zero (the
    # gradient of a constant input is zero, so it stays there)
    std = x_all.std(0)
    std = np.maximum(std, 0.1 * float(np.median(std)) + 1e-6)
    x = torch.from_numpy((x_all - mean) / std)
    y = torch.from_numpy(np.tile(feats.train_labels, views))
    xv = torch.from_numpy((feats.val - mean) / std)
    yv = torch.from_numpy(feats.val_labels)

    layer = nn.Linear(dim, classes)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    drop = nn.Dropout(config.dropout)
    opt = torch.optim.AdamW(layer.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, config.epochs))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    best: tuple[float, float] | None = None
    best_state = {k: v.clone() for k, v in layer.state_dict().items()}
    best_epoch, since_best, history, interrupted = 0, 0, [], False
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(1, config.epochs + 1):
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for start in range(0, len(x), config.batch):
            idx = order[start:start + config.batch]
            loss = loss_fn(layer(drop(x[idx])), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        sched.step()
        acc, val_loss = _score(layer, xv, yv)
        history.append(Epoch(epoch, total / len(x), acc, val_loss))
        on_epoch(history[-1])
        if best is None or (acc, -val_loss) > best:
            best, best_epoch, since_best = (acc, -val_loss), epoch, 0
            best_state = {k: v.clone() for k, v in layer.state_dict().items()}
        else:
            since_best += 1
        if stop.is_set():
            interrupted = True
            break
        if since_best >= config.patience:
            break
    w = best_state["weight"].numpy() / std  # fold the standardization into the layer
    b = best_state["bias"].numpy() - w @ mean
    return TrainedHead(w.astype(np.float32), b.astype(np.float32), best_epoch, history,
                       interrupted)
