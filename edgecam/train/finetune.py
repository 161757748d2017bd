"""``--finetune``: after the classifier, also train the backbone's last stage (the blocks from
the last stride-2 block on, and the 1x1 head conv) on pictures augmented afresh every epoch.

Batch-norm statistics stay frozen (small batches of a small data set would only make them
worse); the frozen front of the network runs without gradients, and validation pictures go
through it once and are kept. Early stopping on validation accuracy as for the classifier; the
best state survives Ctrl-C.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from torch import nn

from edgecam.models.zoo.builder import EdgeNet
from edgecam.sources.media import read_image
from edgecam.train.dataset import DataSet
from edgecam.train.features import ViewMaker
from edgecam.train.head import Epoch
from edgecam.util.signals import StopFlag


@dataclass(frozen=True)
class FinetuneConfig:
    epochs: int = 8
    patience: int = 3
    lr: float = 3e-4
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    batch: int = 16


def tail_start(model: EdgeNet) -> int:
    """Index of the first trainable block: the last one that halves the resolution."""
    strides = [b.stride for b in model.spec.blocks]
    return max(i for i, s in enumerate(strides) if s > 1)


class _Split(nn.Module):
    """The frozen front and the trainable tail of one EdgeNet (sharing its modules)."""

    def __init__(self, model: EdgeNet) -> None:
        super().__init__()
        t = tail_start(model)
        self.model = model
        # a slice of a Sequential is a Sequential (torch annotates it as Module)
        self.front = nn.Sequential(model.stem, *cast(nn.Sequential, model.blocks[:t]))
        self.tail = nn.Sequential(*cast(nn.Sequential, model.blocks[t:]))

    def trainable(self) -> list[nn.Parameter]:
        mods = [self.tail, self.model.classifier] + ([self.model.head] if self.model.head else [])
        return [p for m in mods for p in m.parameters()]

    def after_front(self, x: torch.Tensor) -> torch.Tensor:
        x = self.tail(x)
        if self.model.head is not None:
            x = self.model.head(x)
        return self.model.classifier(x.mean((2, 3)))


def finetune(model: EdgeNet, data: DataSet, maker: ViewMaker, config: FinetuneConfig,
             seed: int, stop: StopFlag, on_epoch: Callable[[Epoch], None] = lambda e: None,
             advance: Callable[[int], None] = lambda n: None) -> tuple[list[Epoch], int, bool]:
    """Train ``model`` in place (its classifier already trained); returns (history, best epoch,
    interrupted)."""
    torch.manual_seed(seed)
    split = _Split(model)
    model.eval()  # batch-norm statistics frozen
    for p in model.parameters():
        p.requires_grad_(False)
    params = split.trainable()
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)

    with torch.no_grad():
        val_in = torch.cat([
            split.front(torch.from_numpy(np.stack(
                [maker.plain(read_image(str(s.path))) for s in data.val[i:i + 32]])))
            for i in range(0, len(data.val), 32)])
    val_y = torch.tensor([s.label for s in data.val])

    def score() -> tuple[float, float]:
        with torch.no_grad():
            logits = split.after_front(val_in)
        return (float((logits.argmax(1) == val_y).float().mean()),
                float(nn.functional.cross_entropy(logits, val_y)))

    start_acc, start_loss = score()
    best = (start_acc, -start_loss)
    best_state = {k: v.clone() for k, v in model.state_dict().items()}
    best_epoch, since_best, history, interrupted = 0, 0, [], False
    order_rng = np.random.default_rng(seed)
    for epoch in range(1, config.epochs + 1):
        order = order_rng.permutation(len(data.train))
        total = 0.0
        for start in range(0, len(order), config.batch):
            picks = [data.train[i] for i in order[start:start + config.batch]]
            rng = np.random.default_rng([seed, epoch, start])
            x = torch.from_numpy(np.stack(
                [maker.augmented(read_image(str(s.path)), rng) for s in picks]))
            y = torch.tensor([s.label for s in picks])
            with torch.no_grad():
                mid = split.front(x)
            loss = loss_fn(split.after_front(mid), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(picks)
            advance(len(picks))
            if stop.is_set():
                interrupted = True
                break
        acc, val_loss = score()
        history.append(Epoch(epoch, total / max(1, len(order)), acc, val_loss))
        on_epoch(history[-1])
        if (acc, -val_loss) > best:
            best, best_epoch, since_best = (acc, -val_loss), epoch, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            since_best += 1
        if interrupted or since_best >= config.patience:
            break
    model.load_state_dict(best_state)
    for p in model.parameters():
        p.requires_grad_(False)
    return history, best_epoch, interrupted
