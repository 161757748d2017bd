"""``edgecam train``: the data set taught to the backbone at each size, with the bars while it
works and the lines it ends with (each model, its rule to answer "unknown", its classes)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from edgecam.models.store import has_export_extra
from edgecam.train.settings import TrainOptions
from edgecam.util.errors import MissingExtraError
from edgecam.util.safewrite import write_whole


@dataclass
class TrainSummary:
    report: dict
    lines: list[str] = field(default_factory=list)
    interrupted: str | None = None  # the line to say when Ctrl-C ended it


def run_train(opts: TrainOptions, note: Callable[[str], None]) -> TrainSummary:
    """Train (``note`` hears what happens meanwhile) and write the models and the report."""
    if not has_export_extra():
        raise MissingExtraError("training needs torch and onnx: pip install "
                                "'edgecam[export,pretrained]'")
    from edgecam.train.bars import TrainBars
    from edgecam.train.evaluation import rejection_line, render
    from edgecam.train.trainer import train_models

    with TrainBars(progress=opts.progress_json) as bars:
        report = train_models(opts, bars, say=note)
    summary = TrainSummary(report)
    for m in report["models"]:
        summary.lines += [
            f"wrote {m['output']}  ({m['name']}, {m['resolution']} px, validation accuracy "
            f"{m['val_accuracy']:.1%} of {m['val_images']}, best epoch {m['best_epoch']} of "
            f"{m['epochs_run']}, {m['seconds']:.0f} s"
            + (", features from cache" if m["cached_features"] else "") + ")",
            rejection_line(m["rejection"]),
            render(m, list(m["per_class_accuracy"]))]
    if opts.json_out is not None:
        write_whole(opts.json_out, json.dumps(report, indent=2) + "\n")
        summary.lines.append(f"JSON: {opts.json_out}")
    if report["interrupted"]:
        models = report["models"]
        kept = (f"; kept the best model so far in {models[-1]['output']}"
                if models and models[-1]["interrupted"] else "")
        summary.interrupted = f"edgecam: interrupted{kept}"
    return summary
