"""``edgecam train``: a data set folder -> one self-describing ONNX model per resolution.

For each resolution: backbone vectors (cached), the new classifier on them, optionally the
last stage fine-tuned, the rejection rule calibrated on the validation pictures (``rejection``),
then the same checked export every model gets (``export.write_checked``:
onnxruntime against PyTorch, atomic). Ctrl-C stops the epoch loop and the best state so far is
written; models of earlier resolutions are already in place.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from edgecam.models.catalog import preprocess_for, weight_source
from edgecam.models.export import write_checked
from edgecam.models.metadata import ModelMeta
from edgecam.models.zoo import create_model
from edgecam.models.zoo.complexity import count_macs, count_params
from edgecam.models.zoo.weights import load_imagenet
from edgecam.sources.media import read_image
from edgecam.train.augment import Augment
from edgecam.train.bars import TrainBars
from edgecam.train.dataset import DataSet, read_dataset
from edgecam.train.evaluation import evaluate
from edgecam.train.features import Interrupted, ViewMaker, extract
from edgecam.train.finetune import FinetuneConfig, finetune
from edgecam.train.head import Epoch, HeadConfig, train_heads
from edgecam.train.rejection import answers, calibrate
from edgecam.train.settings import TrainOptions, check_outputs, output_paths
from edgecam.train.tapped import Tapped
from edgecam.util.device import default_threads
from edgecam.util.signals import StopFlag


def _meta(opts: TrainOptions, data: DataSet, res: int, backbone: str) -> ModelMeta:
    """A trained model's metadata: its backbone's normalization, and the crop policy it was
    taught with, recorded: the whole picture resized to R x R, so a region's crop (or a whole
    frame) is seen the way its pictures were, nothing at an edge cut off."""
    pre = preprocess_for(opts.arch, opts.alpha, "imagenet")
    return ModelMeta(
        arch=opts.arch, alpha=float(opts.alpha), resolution=res, mean=pre.mean, std=pre.std,
        normalization=pre.normalization, crop_pct=1.0, interpolation=pre.interpolation,
        labels=list(data.classes), weights=f"trained:{data.name} from {backbone}",
        dataset=data.name, crop="whole",
    )


def _configured(config, epochs: int | None, patience: int | None):
    """A head or fine-tune config with the user's epochs and patience where given."""
    changes = {k: v for k, v in (("epochs", epochs), ("patience", patience)) if v is not None}
    return replace(config, **changes)


@torch.no_grad()
def _val_logits(model: Tapped, maker: ViewMaker, data: DataSet) -> np.ndarray:
    out = []
    for i in range(0, len(data.val), 32):
        batch = [maker.plain(read_image(str(s.path))) for s in data.val[i:i + 32]]
        out.append(model(torch.from_numpy(np.stack(batch))).numpy())
    return np.concatenate(out)


def _start_bar(bars: TrainBars, res: int, epochs: int, what: str) -> None:
    bars.start(what, epochs, "epochs", resolution=res)


def _finetune_verdict(head_acc: float, best_epoch: int, acc: float) -> str:
    if best_epoch == 0:
        return (f"fine-tuning did not beat the classifier alone on the validation pictures "
                f"({head_acc:.1%}); kept the classifier alone")
    if acc > head_acc:
        return f"fine-tuning raised the validation accuracy from {head_acc:.1%} to {acc:.1%}"
    return (f"fine-tuning kept the validation accuracy at {acc:.1%} with a lower validation "
            "loss (more confident on the right labels)")


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    saved = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def train_models(opts: TrainOptions, bars: TrainBars | None = None,
                 say: Callable[[str], None] = lambda m: None) -> dict:
    """Train and write the models; the report is also ``--json-out``'s content.

    PyTorch runs on one thread except for fine-tuning: what is left to it (the classifier's
    tiny steps, tracing, the parity check) only waits at its thread pool's barriers, which on a
    busy 2-core machine made those steps about 10x slower. The heavy part, the backbone
    features, runs in onnxruntime on every core."""
    with torch_threads(1):
        return _train(opts, bars, say)


def _train(opts: TrainOptions, bars: TrainBars | None, say: Callable[[str], None]) -> dict:
    started = time.monotonic()
    data = read_dataset(opts.data, opts.val_split, opts.seed, opts.unknown)
    src = weight_source(opts.arch, opts.alpha)
    assert src is not None  # the options made sure
    metas = {r: _meta(opts, data, r, f"imagenet:{src.origin}/{src.model}")
             for r in opts.resolutions}
    outputs = output_paths(opts, lambda r: metas[r].name)
    check_outputs(opts.data, list(outputs.values()), opts.unknown)
    _describe(data, say)
    reports: list[dict] = []
    interrupted = False
    with StopFlag() as stop:
        sizes = Sizes(opts, data, stop, bars or TrainBars(enabled=False), say)
        for res in opts.resolutions:
            report = sizes.train(metas[res], outputs[res])
            if report is None:  # stopped while reading the features: nothing to keep
                interrupted = True
                break
            reports.append(report)
            if report["interrupted"] or stop.is_set():  # the model is whole: stop here
                interrupted = True
                break
    return {"dataset": data.describe(), "arch": opts.arch, "alpha": float(opts.alpha),
            "models": reports, "interrupted": interrupted,
            "seconds": round(time.monotonic() - started, 2)}


def _describe(data: DataSet, say: Callable[[str], None]) -> None:
    """What was read: the counts, and what would make the validation accuracy mislead."""
    for line in data.notes():
        say(line)
    if data.duplicates:
        val, train = data.duplicates[0]
        say(f"warning: {len(data.duplicates)} of the {len(data.val)} validation pictures are "
            f"byte copies of training pictures (e.g. {val} = {train}): the validation "
            "accuracy will not tell how the model does on new pictures")
    unknown_train, unknown_val = data.count_unknown(data.train), data.count_unknown(data.val)
    say(f"{data.name}: {len(data.classes)} classes, {len(data.train) - unknown_train} training "
        f"and {len(data.val) - unknown_val} validation pictures ({data.layout})"
        + (f"; {unknown_train} + {unknown_val} pictures of anything else from {data.unknown}"
           if data.unknown else ""))
    if (kept_together := data.split_note()) is not None:
        say(kept_together)


@dataclass
class Fit:
    """What training at one size gave: validation logits and how training went."""

    logits: np.ndarray
    labels: np.ndarray  # the validation pictures' classes
    history: list[Epoch]
    best_epoch: int
    stopped: bool
    mode: str  # "features" (the classifier alone) or "finetune"
    views_used: int
    cached: bool
    feature_seconds: float
    head_accuracy: float  # the kept classifier's validation accuracy, before fine-tuning


class Sizes:
    """One data set taught to the backbone at each size in turn, each size from the ImageNet
    weights (fine-tuning changes them)."""

    def __init__(self, opts: TrainOptions, data: DataSet, stop: StopFlag, bars: TrainBars,
                 say: Callable[[str], None]) -> None:
        self.opts, self.data, self.stop, self.bars, self.say = opts, data, stop, bars, say
        backbone = create_model(opts.arch, opts.alpha)
        self.loaded = load_imagenet(backbone, opts.arch, opts.alpha)
        self.model = Tapped(backbone, len(data.classes)).eval()  # batch-norm stays ImageNet's
        self.pretrained = {k: v.clone() for k, v in self.model.net.state_dict().items()}
        self.views = max(1, opts.views) if opts.augment else 1
        self.augment = Augment()
        self.head_cfg = _configured(HeadConfig(), None if opts.finetune else opts.epochs,
                                    opts.patience)
        self.tune_cfg = _configured(FinetuneConfig(), opts.epochs, opts.patience)

    def train(self, meta: ModelMeta, output: Path) -> dict | None:
        """Train at ``meta.resolution``, calibrate the rule, write the checked model; its
        report (None when stopped before the features were read)."""
        t0 = time.monotonic()
        meta.weights_sha256 = self.loaded.sha256
        self.model.net.load_state_dict(self.pretrained)
        fit = self.fit(meta)
        if fit is None:
            return None
        data, model = self.data, self.model
        rule = calibrate(fit.logits, fit.labels, self.opts.keep)
        evaluation = evaluate(fit.logits.argmax(1), fit.labels, data.classes,
                              answers(fit.logits, rule["threshold"]))
        if fit.mode == "finetune":
            self.say(f"{meta.resolution} px: " + _finetune_verdict(
                fit.head_accuracy, fit.best_epoch, evaluation["val_accuracy"]))
        meta.rejection = {**rule, "calibrated_on": f"validation pictures of {data.name}"}
        meta.top1 = round(evaluation["val_accuracy"] * 100, 2)
        meta.top1_source = f"validation: {evaluation['val_images']} pictures of {data.name}"
        meta.params, meta.macs = count_params(model), count_macs(model, meta.resolution)
        dataset_info = {k: v for k, v in data.describe().items()
                        if k not in ("skipped_files", "videos_not_read")}
        meta.training = {
            "mode": fit.mode, **evaluation, "dataset": dataset_info,
            "best_epoch": fit.best_epoch, "epochs_run": len(fit.history), "views": self.views,
            "views_used": fit.views_used, "seed": self.opts.seed, "interrupted": fit.stopped,
            "backbone": self.loaded.source,
            "features": f"pooled outputs of blocks {model.taps} and the final vector",
        }
        parity = write_checked(model, meta, output)
        return {
            "output": str(output), "name": meta.name, "resolution": meta.resolution,
            **evaluation, "rejection": meta.rejection, "mode": fit.mode,
            "best_epoch": fit.best_epoch, "epochs_run": len(fit.history),
            "cached_features": fit.cached, "feature_seconds": round(fit.feature_seconds, 2),
            "views_used": fit.views_used, "seconds": round(time.monotonic() - t0, 2),
            "parity": parity, "params": meta.params, "macs": meta.macs,
            "interrupted": fit.stopped, "history": [vars(e) for e in fit.history],
        }

    def fit(self, meta: ModelMeta) -> Fit | None:
        """The classifier on the cached features, then with --finetune the last stage."""
        res, data, model, bars = meta.resolution, self.data, self.model, self.bars
        t0 = time.monotonic()
        bars.start("features", len(data.train) + len(data.val), "pictures", resolution=res)
        try:
            feats = extract(model, meta, data, self.views, self.augment, self.opts.seed,
                            self.stop, bars.advance)
        except Interrupted:
            return None
        t_feat = time.monotonic() - t0
        self.say(f"{res} px: features of {len(data.train) + len(data.val)} pictures in "
                 f"{t_feat:.1f} s{' (cached)' if feats.cached else ''}; training the classifier")
        head = train_heads(feats, len(data.classes), self.head_cfg, self.opts.seed, self.stop,
                           bars.epoch,
                           functools.partial(_start_bar, bars, res, self.head_cfg.epochs))
        model.classifier = head.layer()
        # Ctrl-C during the second classifier leaves the first one, not interrupted itself
        fit = Fit(head.logits(feats.val), feats.val_labels, head.history, head.best_epoch,
                  head.interrupted or self.stop.is_set(), "features", head.views,
                  feats.cached, t_feat, head.best[0])
        if self.opts.finetune and not fit.stopped:
            maker = ViewMaker(meta, self.augment, self.opts.seed)
            bars.start("fine-tune", self.tune_cfg.epochs, "epochs", resolution=res)
            with torch_threads(default_threads()):
                fit.history, fit.best_epoch, fit.stopped = finetune(
                    model, data, maker, self.tune_cfg, self.opts.seed, self.stop,
                    head.views > 1, bars.epoch)
            fit.logits, fit.mode = _val_logits(model, maker, data), "finetune"
        return fit
