"""The new classifier on cached backbone vectors: a linear layer trained with early stopping
on validation accuracy, whose best state survives Ctrl-C.

Pictures of the unknown folder (label ``UNKNOWN``) are trained toward the uniform answer
(outlier exposure, Hendrycks et al. 2019): the classifier learns to be unsure of "anything
else", which the rejection rule then reads as a low top-1 probability, and the model's outputs
stay its real classes. Whether an extra "unknown" class would reject more never-seen pictures,
two measurements on digits disagreed (benchmarks/README.md, "Which score").

The vectors are standardized (so one learning rate suits every backbone and every stage's
scale) and the standardization stays a fixed first step of the classifier: folded into the
weights, the small-scale features of early stages got weights so large that fine-tuning's first
steps blew the classifier up (validation accuracy 94% -> 48% after one epoch on digits).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from edgecam.train.dataset import UNKNOWN
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
    unknown_weight: float = 0.5  # of the unknown pictures' pull toward the uniform answer


@dataclass
class Epoch:
    epoch: int
    loss: float
    val_accuracy: float
    val_loss: float


@dataclass
class TrainedHead:
    weight: np.ndarray  # [K, D], on standardized vectors
    bias: np.ndarray  # [K]
    mean: np.ndarray  # [D]: the standardization, (vector - mean) / scale
    scale: np.ndarray  # [D]
    best_epoch: int
    history: list[Epoch] = field(default_factory=list)
    interrupted: bool = False
    views: int = 1  # views per training picture it learned from

    @property
    def best(self) -> tuple[float, float]:
        """(validation accuracy, -validation loss) of the kept state: higher is better."""
        e = next(e for e in self.history if e.epoch == self.best_epoch)
        return e.val_accuracy, -e.val_loss

    def logits(self, vectors: np.ndarray) -> np.ndarray:
        return ((vectors - self.mean) / self.scale) @ self.weight.T + self.bias

    def layer(self) -> nn.Module:
        out = nn.Linear(self.weight.shape[1], self.weight.shape[0])
        with torch.no_grad():
            out.weight.copy_(torch.from_numpy(self.weight))
            out.bias.copy_(torch.from_numpy(self.bias))
        return nn.Sequential(Standardize(self.mean, self.scale), out)


class Standardize(nn.Module):
    """(x - mean) / scale with fixed statistics of the training vectors."""

    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, mean: np.ndarray, scale: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("mean", torch.from_numpy(mean.astype(np.float32)))
        self.register_buffer("scale", torch.from_numpy(scale.astype(np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.scale


def _score(layer: nn.Linear, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Accuracy and loss on the known pictures."""
    known = y != UNKNOWN
    with torch.no_grad():
        logits = layer(x[known])
        return (float((logits.argmax(1) == y[known]).float().mean()),
                float(nn.functional.cross_entropy(logits, y[known])))


def unknown_loss(logits: torch.Tensor, y: torch.Tensor, loss_fn: nn.Module,
                 unknown_weight: float) -> torch.Tensor:
    """Cross-entropy on the known pictures plus, for the unknown ones, the cross-entropy to
    the uniform answer (fine-tuning uses the same)."""
    known = y != UNKNOWN
    loss = loss_fn(logits[known], y[known]) if known.any() else logits.sum() * 0.0
    if unknown_weight and not known.all():
        loss = loss - unknown_weight * torch.log_softmax(logits[~known], 1).mean()
    return loss


def train_head(feats: Features, classes: int, config: HeadConfig, seed: int, stop: StopFlag,
               on_epoch: Callable[[Epoch], None] = lambda e: None) -> TrainedHead:
    """Every epoch sees each training picture in all its views, shuffled; the kept state is
    the one with the best validation accuracy (lower validation loss breaks ties)."""
    torch.manual_seed(seed)
    views, n, dim = feats.train.shape
    x_all = feats.train.reshape(views * n, dim)
    mean = x_all.mean(0)
    # a feature that never varies on the training pictures must not get a huge weight: floor
    # its scale, and start every weight at zero (the gradient of a constant input is zero, so
    # it stays there)
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
            loss = unknown_loss(layer(drop(x[idx])), y[idx], loss_fn, config.unknown_weight)
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
    return TrainedHead(best_state["weight"].numpy(), best_state["bias"].numpy(),
                       mean.astype(np.float32), std.astype(np.float32), best_epoch, history,
                       interrupted, views)


def train_heads(feats: Features, classes: int, config: HeadConfig, seed: int, stop: StopFlag,
                on_epoch: Callable[[Epoch], None] = lambda e: None,
                on_start: Callable[[str], None] = lambda what: None) -> TrainedHead:
    """With augmented views, also a classifier on the plain views alone, and the one better on
    the validation pictures is kept: augmentation that suits camera pictures (crops, flips)
    can hurt, as on digits, where the plain views alone did better (benchmarks/train.py)."""
    on_start("classifier")
    head = train_head(feats, classes, config, seed, stop, on_epoch)
    if feats.train.shape[0] == 1 or head.interrupted or stop.is_set():
        return head
    on_start("classifier, plain views")
    plain = train_head(feats.plain(), classes, config, seed, stop, on_epoch)
    return plain if plain.best > head.best and not plain.interrupted else head
