"""What ``edgecam train`` takes: one keyword-only object, checked and defaulted when made (the
discipline of ``edgecam.commands.options``), before torch loads, so a typo costs no seconds.
Light on purpose: no torch here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgecam.models.catalog import (
    ARCHS,
    arch_info,
    check_alpha_resolution,
    format_alpha,
    models_dir,
    weight_source,
)
from edgecam.train.dataset import check_folder
from edgecam.train.rejection import KEEP
from edgecam.util.errors import EdgecamError, UsageError
from edgecam.util.safewrite import check_writable, refuse_inputs


@dataclass(kw_only=True)
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
    json_out: Path | None = None  # the report (written by the command; checked up front)
    progress_json: Path | None = None  # each step appended as a JSON line (the browser's bar)
    views: int = 3  # training views per picture: the plain one + augmented ones
    augment: bool = True
    seed: int = 0
    unknown: Path | None = None  # "anything else" pictures (default: DATA/unknown if present)
    keep: float = KEEP  # share of known validation pictures the rejection rule keeps

    def __post_init__(self) -> None:
        self.data = check_folder(self.data)
        arch_info(self.arch)
        if weight_source(self.arch, self.alpha) is None:
            have = ", ".join(f"{a} {format_alpha(al)}" for a, info in ARCHS.items()
                             for al in info.weights)
            raise EdgecamError(
                f"no ImageNet weights for {self.arch} alpha {format_alpha(self.alpha)} to "
                f"start from; train starts from one of: {have}")
        self.resolutions = sorted(set(self.resolutions or [ARCHS[self.arch].resolution]))
        for res in self.resolutions:
            check_alpha_resolution(self.alpha, res)
        if not 0.5 <= self.keep <= 1.0:
            raise EdgecamError(f"--keep must be between 0.5 and 1, got {self.keep}")
        for name, value in (("--epochs", self.epochs), ("--patience", self.patience),
                            ("--views", self.views)):
            if value is not None and value < 1:
                raise EdgecamError(f"{name} must be at least 1, got {value}")
        # the outputs named on the command line, before torch loads or a picture is read (the
        # default names wait for the data set's name)
        named = output_paths(self, str) if self.output is not None else {}
        check_outputs(self.data, [*named.values(), *filter(None, [self.json_out])],
                      self.unknown)
        if self.progress_json is not None:  # opened before any picture is read
            check_outputs(self.data, [self.progress_json])


def int_list(text: str | None, what: str) -> list[int]:
    """``"128,160"`` -> [128, 160] (``--resolution``), one line when it is not numbers."""
    try:
        return [int(v) for v in text.split(",") if v.strip()] if text else []
    except ValueError:
        raise UsageError(f"{what} takes whole numbers separated by commas, got {text!r}"
                         ) from None


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


def check_outputs(data: Path, outputs: list[Path], unknown: Path | None = None) -> None:
    """Before any work: every output can be written and none is in the data set (a picture
    replaced by a model, or a file that the next training would read as a picture)."""
    folders = [data] + ([unknown] if unknown is not None else [])
    for out in outputs:
        refuse_inputs(out, folders=folders, folder_what="inside the data set")
        check_writable(out)
