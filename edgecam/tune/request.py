"""What a tune run is asked to do: one options object, checked and defaulted when made (the
discipline of ``edgecam.commands.options``), so a new knob (an execution provider, a frame
size) is one field here and one option in the CLI."""

from __future__ import annotations

import glob
import math
from dataclasses import dataclass, field
from pathlib import Path

from edgecam.util.errors import EdgecamError
from edgecam.util.safewrite import check_writable, refuse_inputs

MARGIN = 0.05  # the conservative FPS must beat the target by this much


def required_fps(target_fps: float, margin: float) -> float:
    """The frame rate a config's conservative FPS must reach: the target plus the margin."""
    return target_fps * (1 + margin)


@dataclass(kw_only=True)
class TuneOptions:
    target_fps: float
    families: list[str] = field(default_factory=list)
    weights: str = "imagenet"
    precisions: list[str] = field(default_factory=list)  # [] = default_precisions()
    threads: list[int] = field(default_factory=list)
    budget_s: float = 90.0
    margin: float = MARGIN
    calibration: Path = Path("calibration/images")
    data: Path | None = None  # labelled images, one folder per class: measured top-1
    sample: Path | None = None  # unlabelled footage: agreement with the most accurate
    models: str | None = None  # a glob of existing .onnx files instead of the zoo
    passes: int = 3  # frame-rate passes per config before the deciding ones get more
    progress: bool | None = None
    providers: list[str] = field(default_factory=list)  # measured like threads; [] = auto
    precision_note: str | None = None  # why the default search left INT8 out
    # what the tune command does with the result
    json_out: Path | None = None
    plot: Path | None = None  # a PNG
    save_profile: bool = True
    profile_name: str | None = None  # default: the candidate set's name
    all_rows: bool = False  # every config in the table

    def __post_init__(self) -> None:
        check_options(self)
        if self.plot is not None and self.plot.suffix.lower() != ".png":
            raise EdgecamError(f"--plot writes a PNG; give a file name ending in .png, got "
                               f"{self.plot}")
        check_outputs(self, [p for p in (self.json_out, self.plot) if p is not None])

    @property
    def need(self) -> float:
        return required_fps(self.target_fps, self.margin)


def default_precisions() -> tuple[list[str], str | None]:
    """FP32 and INT8 wherever onnxruntime's quantization runs (INT8 is quantized on
    ``calibration`` and its frame rate measured like any config: on a CPU where it is slower it
    loses by measurement); FP32 alone otherwise, and the reason, for the user."""
    try:
        import onnx  # noqa: F401
        import onnxruntime.quantization  # noqa: F401
    except ImportError as exc:
        return ["fp32"], (f"INT8 left out of the search: onnxruntime's quantization cannot run "
                          f"here ({exc}); pip install 'edgecam[quantize]' to add it")
    return ["fp32", "int8"], None


def parse_list(text: str | None, kind: type = str) -> list:
    """``"1,2"`` -> [1, 2] (``--threads``, ``--precision``, ``--provider``)."""
    if not text:
        return []
    try:
        return [kind(x.strip()) for x in text.split(",") if x.strip()]
    except ValueError:
        raise EdgecamError(f"cannot read {text!r} as a comma-separated list") from None


def check_options(opts: TuneOptions) -> None:
    """User errors in one line, before any time is spent; fills the default precisions and
    thread counts."""
    from edgecam.runtime.providers import parse_provider, session_providers
    from edgecam.util.device import check_threads, default_threads

    if not math.isfinite(opts.target_fps):
        raise EdgecamError(f"--target-fps must be a finite number of frames per second, "
                           f"got {opts.target_fps}")
    if opts.target_fps <= 0:
        raise EdgecamError(f"--target-fps must be > 0, got {opts.target_fps}")
    if opts.weights not in ("imagenet", "random"):
        raise EdgecamError(f"--weights must be imagenet or random, got {opts.weights!r}")
    bad = [p for p in opts.precisions if p not in ("fp32", "int8")]
    if bad:
        raise EdgecamError(f"--precision takes fp32 and/or int8, got {','.join(bad) or 'none'}")
    if not opts.precisions:
        opts.precisions, opts.precision_note = default_precisions()
    if not opts.threads:
        opts.threads = list(range(1, default_threads() + 1))
    for t in opts.threads:
        check_threads(t)
    if not opts.budget_s > 0:
        raise EdgecamError(f"--budget-s must be > 0, got {opts.budget_s}")
    if opts.data is not None and not Path(opts.data).is_dir():
        raise EdgecamError(f"--data {opts.data} is not a directory (one folder of images per "
                           "class, named by the model's labels)")
    if opts.sample is not None and not Path(opts.sample).exists():
        raise EdgecamError(f"--sample {opts.sample} does not exist (a video or a directory "
                           "of pictures)")
    for name in opts.providers:  # one that is not installed fails now, not mid-run
        session_providers(parse_provider(name), 1)
    if opts.models is not None and opts.families:
        raise EdgecamError("--models and --family both choose the candidates; give only one")


def check_outputs(opts: TuneOptions, outputs: list[Path]) -> None:
    """``--json-out`` and ``--plot`` before any time is spent: writable, and none of the
    files tune reads (a ``--models`` file, the exported zoo files are new ones) nor inside a
    folder it reads (``--data``, ``--sample``, ``--calibration``)."""
    files: list[str | Path] = []
    if opts.models:
        files += [*glob.glob(opts.models, recursive=True), opts.models]
    if opts.sample is not None and Path(opts.sample).is_file():
        files.append(opts.sample)
    folders = [f for f in (opts.data, opts.sample, opts.calibration)
               if f is not None and Path(f).is_dir()]
    for out in outputs:
        refuse_inputs(out, files, what="one of the inputs of tune", folders=folders,
                      folder_what="inside the input folder")
        check_writable(out)
