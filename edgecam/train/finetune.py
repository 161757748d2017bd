"""``--finetune``: after the classifier, also train the backbone's last stage (the blocks from
the last stride-2 block on, and the 1x1 head conv) on pictures augmented afresh every epoch.
Unknown-folder pictures keep their pull toward the uniform answer (``head.unknown_loss``).

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
from edgecam.train.dataset import UNKNOWN, DataSet
from edgecam.train.features import ViewMaker
from edgecam.train.head import Epoch, unknown_loss
from edgecam.train.tapped import Tapped
from edgecam.util.signals import StopFlag


@dataclass(frozen=True)
class FinetuneConfig:
    epochs: int = 8
    # one cycle: the first epochs, at the highest rates, score low by design; stopping early
    # would stop there
    patience: int = 8
    lr: float = 1e-3  # the peak; 3e-4 without warm-up had moved digits 94.4% -> 94.4%
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    batch: int = 16
    unknown_weight: float = 0.5
    warmup: float = 0.2  # share of the steps the learning rate rises over
    clip: float = 1.0  # largest gradient norm of a step


def one_cycle(opt: torch.optim.Optimizer, peak: float, steps: int, warmup: float
              ) -> torch.optim.lr_scheduler.OneCycleLR:
    """torch's one-cycle schedule over ``steps``; a warm-up that would end exactly at the first
    step (0.2 of 5 steps) divides by zero inside torch, so it is moved half a step later."""
    if abs(warmup * steps - 1.0) < 1e-9:
        warmup += 0.5 / steps
    return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=peak, total_steps=steps,
                                               pct_start=warmup)


def tail_start(net: EdgeNet) -> int:
    """Index of the first trainable block: the last one that halves the resolution."""
    strides = [b.stride for b in net.spec.blocks]
    return max(i for i, s in enumerate(strides) if s > 1)


class _Split:
    """The frozen front and the trainable tail of one ``Tapped`` model (sharing its modules)."""

    def __init__(self, model: Tapped) -> None:
        self.model = model
        self.start = tail_start(model.net)

    def trainable(self) -> list[nn.Parameter]:
        net = self.model.net
        mods = [*cast(nn.Sequential, net.blocks[self.start:]), self.model.classifier]
        mods += [net.head] if net.head is not None else []
        return [p for m in mods for p in m.parameters()]

    def front(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.model.front(x, self.start)

    def after_front(self, mid: tuple[torch.Tensor, list[torch.Tensor]]) -> torch.Tensor:
        return self.model.classifier(self.model.rest(mid[0], mid[1], self.start))


def finetune(model: Tapped, data: DataSet, maker: ViewMaker, config: FinetuneConfig,
             seed: int, stop: StopFlag, augment: bool = True,
             on_epoch: Callable[[Epoch], None] = lambda e: None,
             advance: Callable[[int], None] = lambda n: None) -> tuple[list[Epoch], int, bool]:
    """Train ``model`` in place (its classifier already trained); returns (history, best epoch,
    interrupted). Without ``augment`` every epoch sees the plain pictures (when the classifier
    did better without augmentation, so does its fine-tuning)."""
    torch.manual_seed(seed)
    split = _Split(model)
    model.eval()  # batch-norm statistics frozen
    for p in model.parameters():
        p.requires_grad_(False)
    params = split.trainable()
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    steps = config.epochs * max(1, -(-len(data.train) // config.batch))
    # warm up, then anneal: the first full-size steps on a new tail knocked the classifier off
    sched = one_cycle(opt, config.lr, steps, config.warmup)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)

    known_val = [s for s in data.val if s.label != UNKNOWN]
    with torch.no_grad():
        parts = [split.front(torch.from_numpy(np.stack(
                 [maker.plain(read_image(str(s.path))) for s in known_val[i:i + 32]])))
                 for i in range(0, len(known_val), 32)]
    val_in = (torch.cat([p[0] for p in parts]),
              [torch.cat([p[1][j] for p in parts]) for j in range(len(parts[0][1]))])
    val_y = torch.tensor([s.label for s in known_val])

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
                [maker.augmented(read_image(str(s.path)), rng) if augment
                 else maker.plain(read_image(str(s.path))) for s in picks]))
            y = torch.tensor([s.label for s in picks])
            with torch.no_grad():
                mid = split.front(x)
            loss = unknown_loss(split.after_front(mid), y, loss_fn, config.unknown_weight)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(params, config.clip)  # one odd batch must not undo the head
            opt.step()
            sched.step()
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
