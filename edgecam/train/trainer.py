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
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from edgecam.models.catalog import (
    ARCHS,
    arch_info,
    check_alpha_resolution,
    format_alpha,
    models_dir,
    preprocess_for,
    weight_source,
)
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
from edgecam.train.rejection import KEEP, answers, calibrate
from edgecam.train.tapped import Tapped
from edgecam.util.device import default_threads
from edgecam.util.errors import EdgecamError
from edgecam.util.safewrite import check_writable, refuse_inputs
from edgecam.util.signals import StopFlag


@dataclass
class TrainOptions:
    data: Path
    arch: str = "efficientnet_lite0"
    alpha: float = 1.0
    resolutions: list[int] = field(default_factory=list)  # empty: the arch's native size
    epochs: int | None = None  # classifier epochs, or fine-tuning epochs with finetune
    patience: int | None = None  # epochs without a better validation score before stopping
    finetune: bool = False
    val_split: float = 0.2
    output: Path | None = None
    json_out: Path | None = None  # the report (written by the caller; checked here, up front)
    views: int = 3  # training views per picture: the plain one + augmented ones
    augment: bool = True
    seed: int = 0
    unknown: Path | None = None  # "anything else" pictures (default: DATA/unknown if present)
    keep: float = KEEP  # share of known validation pictures the rejection rule keeps


def output_paths(opts: TrainOptions, stem_name: Callable[[int], str]) -> dict[int, Path]:
    """One file per resolution: ``--output m.onnx`` as given for one resolution, ``m-R.onnx``
    for several; by default ``models/<data set>-<arch>-<alpha>-<R>.onnx``."""
    out = {}
    for res in opts.resolutions:
        if opts.output is None:
            out[res] = models_dir() / f"{stem_name(res)}.onnx"
        elif len(opts.resolutions) == 1:
            out[res] = opts.output
        else:
            out[res] = opts.output.with_name(f"{opts.output.stem}-{res}{opts.output.suffix}")
    return out


def _check_options(opts: TrainOptions) -> None:
    arch_info(opts.arch)
    if weight_source(opts.arch, opts.alpha) is None:
        have = ", ".join(f"{a} {format_alpha(al)}" for a, info in ARCHS.items()
                         for al in info.weights)
        raise EdgecamError(
            f"no ImageNet weights for {opts.arch} alpha {format_alpha(opts.alpha)} to start "
            f"from; train starts from one of: {have}")
    if not opts.resolutions:
        opts.resolutions = [ARCHS[opts.arch].resolution]
    opts.resolutions = sorted(set(opts.resolutions))
    for res in opts.resolutions:
        check_alpha_resolution(opts.alpha, res)
    if not 0.5 <= opts.keep <= 1.0:
        raise EdgecamError(f"--keep must be between 0.5 and 1, got {opts.keep}")
    for name, value in (("--epochs", opts.epochs), ("--patience", opts.patience),
                        ("--views", opts.views)):
        if value is not None and value < 1:
            raise EdgecamError(f"{name} must be at least 1, got {value}")


def check_outputs(data: Path, outputs: list[Path], unknown: Path | None = None) -> None:
    """Before any work: every output can be written and none is in the data set (a picture
    replaced by a model, or a file that the next training would read as a picture)."""
    folders = [data] + ([unknown] if unknown is not None else [])
    for out in outputs:
        refuse_inputs(out, folders=folders, folder_what="inside the data set")
        check_writable(out)


def _meta(opts: TrainOptions, data: DataSet, res: int, backbone: str) -> ModelMeta:
    pre = preprocess_for(opts.arch, opts.alpha, "imagenet")
    return ModelMeta(
        arch=opts.arch, alpha=float(opts.alpha), resolution=res, mean=pre.mean, std=pre.std,
        normalization=pre.normalization, crop_pct=pre.crop_pct, interpolation=pre.interpolation,
        labels=list(data.classes), weights=f"trained:{data.name} from {backbone}",
        dataset=data.name,
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
    bars.start(f"{res}px {what}", epochs, "epochs")


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
    _check_options(opts)
    started = time.monotonic()
    if opts.output is not None or opts.json_out is not None:  # before reading the pictures
        named = output_paths(opts, str) if opts.output is not None else {}
        check_outputs(opts.data, [*named.values(), *filter(None, [opts.json_out])],
                      opts.unknown)
    data = read_dataset(opts.data, opts.val_split, opts.seed, opts.unknown)
    src = weight_source(opts.arch, opts.alpha)
    assert src is not None  # _check_options() made sure
    metas = {r: _meta(opts, data, r, f"imagenet:{src.origin}/{src.model}")
             for r in opts.resolutions}
    outputs = output_paths(opts, lambda r: metas[r].name)
    check_outputs(opts.data, list(outputs.values()), opts.unknown)
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
    backbone = create_model(opts.arch, opts.alpha)
    loaded = load_imagenet(backbone, opts.arch, opts.alpha)
    for meta in metas.values():
        meta.weights_sha256 = loaded.sha256
    model = Tapped(backbone, len(data.classes)).eval()  # batch-norm statistics stay ImageNet's
    # each resolution starts from the ImageNet backbone (fine-tuning changes it)
    pretrained = {k: v.clone() for k, v in model.net.state_dict().items()}

    views = max(1, opts.views) if opts.augment else 1
    augment = Augment()
    head_cfg = _configured(HeadConfig(), None if opts.finetune else opts.epochs, opts.patience)
    tune_cfg = _configured(FinetuneConfig(), opts.epochs, opts.patience)
    reports: list[dict] = []
    interrupted = False
    bars = bars or TrainBars(enabled=False)
    with StopFlag() as stop:
        for res in opts.resolutions:
            t0 = time.monotonic()
            meta = metas[res]
            model.net.load_state_dict(pretrained)
            bars.start(f"{res}px features", len(data.train) + len(data.val), "pictures")
            try:
                feats = extract(model, meta, data, views, augment, opts.seed, stop, bars.advance)
            except Interrupted:
                interrupted = True
                break
            t_feat = time.monotonic() - t0
            say(f"{res} px: features of {len(data.train) + len(data.val)} pictures in "
                f"{t_feat:.1f} s{' (cached)' if feats.cached else ''}; training the classifier")
            head = train_heads(feats, len(data.classes), head_cfg, opts.seed, stop, bars.epoch,
                               functools.partial(_start_bar, bars, res, head_cfg.epochs))
            model.classifier = head.layer()
            history: list[Epoch] = head.history
            # Ctrl-C during the second classifier leaves the first one, not interrupted itself
            best_epoch, stopped = head.best_epoch, head.interrupted or stop.is_set()
            mode = "features"
            maker = ViewMaker(meta, augment, opts.seed)
            logits = head.logits(feats.val)
            if opts.finetune and not stopped:
                mode = "finetune"
                head_acc = head.best[0]  # the kept classifier's validation accuracy
                bars.start(f"{res}px fine-tune", tune_cfg.epochs, "epochs")
                with torch_threads(default_threads()):
                    history, best_epoch, stopped = finetune(
                        model, data, maker, tune_cfg, opts.seed, stop, head.views > 1,
                        bars.epoch)
                logits = _val_logits(model, maker, data)
            rule = calibrate(logits, feats.val_labels, opts.keep)
            evaluation = evaluate(logits.argmax(1), feats.val_labels, data.classes,
                                  answers(logits, rule["threshold"]))
            if mode == "finetune":
                say(f"{res} px: " + _finetune_verdict(head_acc, best_epoch,
                                                      evaluation["val_accuracy"]))
            meta.rejection = {**rule, "calibrated_on":
                              f"validation pictures of {data.name}"}
            meta.top1 = round(evaluation["val_accuracy"] * 100, 2)
            meta.top1_source = f"validation: {evaluation['val_images']} pictures of {data.name}"
            meta.params, meta.macs = count_params(model), count_macs(model, res)
            dataset_info = {k: v for k, v in data.describe().items()
                            if k not in ("skipped_files", "videos_not_read")}
            meta.training = {
                "mode": mode, **evaluation, "dataset": dataset_info,
                "best_epoch": best_epoch, "epochs_run": len(history), "views": views,
                "views_used": head.views,
                "seed": opts.seed, "interrupted": stopped, "backbone": loaded.source,
                "features": f"pooled outputs of blocks {model.taps} and the final vector",
            }
            parity = write_checked(model, meta, outputs[res])
            reports.append({
                "output": str(outputs[res]), "name": meta.name, "resolution": res,
                **evaluation, "rejection": meta.rejection, "mode": mode,
                "best_epoch": best_epoch,
                "epochs_run": len(history), "cached_features": feats.cached,
                "feature_seconds": round(t_feat, 2), "views_used": head.views,
                "seconds": round(time.monotonic() - t0, 2), "parity": parity,
                "params": meta.params, "macs": meta.macs, "interrupted": stopped,
                "history": [vars(e) for e in history],
            })
            if stopped or stop.is_set():  # Ctrl-C during the export: the model is whole, stop
                interrupted = True
                break
    return {"dataset": data.describe(), "arch": opts.arch, "alpha": float(opts.alpha),
            "models": reports, "interrupted": interrupted,
            "seconds": round(time.monotonic() - started, 2)}
