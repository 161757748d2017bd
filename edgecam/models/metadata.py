"""The metadata that makes an exported ONNX file self-describing.

Written by ``edgecam.models.export`` into the file's ``metadata_props`` and read back by the runtime
(through onnxruntime, so reading needs neither torch nor onnx). Every value is a string; lists
are JSON.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from edgecam.util.errors import EdgecamError

if TYPE_CHECKING:
    from edgecam.models.catalog import ModelConfig

FORMAT = "edgecam-1"
# what a model from elsewhere must carry (besides format); every other key has a default
REQUIRED = ("format", "labels", "resolution", "mean", "std")
DEFAULT_CROP_PCT = 0.875  # resize the shorter side to R / 0.875, crop R: ImageNet's usual eval


@dataclass
class ModelMeta:
    arch: str
    alpha: float
    resolution: int
    mean: tuple[float, float, float]  # on 0..1 RGB
    std: tuple[float, float, float]
    normalization: str  # "imagenet", "lite" ((x-127)/128) or "inception"
    crop_pct: float  # resize shorter side to resolution / crop_pct, then center crop
    interpolation: str  # what the weights were trained with: "bilinear" or "bicubic"
    labels: list[str] = field(repr=False)
    weights: str = "random"  # "imagenet:<origin>/<model>", "random" or "file:<name>"
    weights_sha256: str = ""
    params: int = 0
    macs: int = 0
    top1: float | None = None
    top1_source: str = ""
    precision: str = "fp32"
    dataset: str = ""  # the folder a trained model learned its labels from ("" = ImageNet)
    training: dict | None = field(default=None, repr=False)  # what `edgecam train` measured
    # when to answer "unknown" (trained models): {"score": "probability", "threshold": t,
    # "keep": share of known validation pictures the threshold keeps, ...what was measured}
    rejection: dict | None = field(default=None, repr=False)
    color: str = "RGB"
    layout: str = "NCHW"
    format: str = FORMAT
    # how the model saw its pictures: "centre" (the centred square of ``crop_pct`` of the
    # shorter side, as ImageNet weights are evaluated) or "whole" (the whole picture resized
    # to R x R, as ``edgecam train`` teaches it, so nothing at a picture's edge is cut off)
    crop: str = "centre"

    @property
    def trained_with_centre_crop(self) -> bool:
        """Whether the classes were taught on centre crops (``edgecam train`` before it
        recorded its policy): then a region's crop is centre-cropped too, like its pictures
        were; ImageNet weights classify a region's crop whole."""
        return self.crop == "centre" and self.training is not None

    @property
    def config(self) -> ModelConfig:
        """The zoo config this file is (a trained model: its backbone's)."""
        from edgecam.models.catalog import ModelConfig

        return ModelConfig(self.arch, self.alpha, self.resolution, self.precision)

    @property
    def name(self) -> str:
        name = self.config.name
        if self.dataset:  # trained models: names stay usable as file names and MQTT topics
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.dataset).strip("_") + "-" + name
        return name

    def to_props(self) -> dict[str, str]:
        """Flatten to ONNX metadata_props (string -> string)."""
        out = {}
        for key, value in asdict(self).items():
            if key in ("dataset", "training", "rejection") and not value or (
                    key == "crop" and value == "centre"):
                continue  # ImageNet models keep exactly the keys they always had
            if isinstance(value, str):
                out[key] = value
            else:
                out[key] = json.dumps(list(value) if isinstance(value, tuple) else value)
        return out

    @classmethod
    def from_props(cls, props: dict[str, str], source: str = "model") -> ModelMeta:
        """Parse metadata_props; a file without edgecam metadata is a user error that says
        what to add (the keys of ``REQUIRED``; the rest have defaults), or ``--labels``.

        An edgecam export writes every key; a classifier from elsewhere needs only what its
        preprocessing and answers depend on (docs/foreign-models.md)."""
        if props.get("format") != FORMAT:
            raise EdgecamError(
                f"{source} has no edgecam metadata: run it with --labels FILE (one label per "
                "line; ImageNet mean/std and its own input size are assumed), or add the "
                f"metadata keys {', '.join(REQUIRED)} to the file (see docs/foreign-models.md)"
            )
        try:
            def num(key: str, default: object = None):
                return json.loads(props[key]) if key in props or default is None else default

            meta = cls(
                arch=props.get("arch") or re.sub(r"[^A-Za-z0-9_.]+", "_", Path(source).stem),
                alpha=float(num("alpha", 1.0)),
                resolution=int(num("resolution")),
                mean=_rgb(num("mean"), "mean"),
                std=_rgb(num("std"), "std"),
                normalization=props.get("normalization", "custom"),
                crop_pct=float(num("crop_pct", DEFAULT_CROP_PCT)),
                interpolation=props.get("interpolation", "bilinear"),
                labels=_labels(num("labels")),
                weights=props.get("weights", ""),
                weights_sha256=props.get("weights_sha256", ""),
                params=int(num("params", 0)),
                macs=int(num("macs", 0)),
                top1=num("top1") if "top1" in props else None,
                top1_source=props.get("top1_source", ""),
                precision=props.get("precision", "fp32"),
                dataset=props.get("dataset", ""),
                training=json.loads(props["training"]) if "training" in props else None,
                rejection=json.loads(props["rejection"]) if "rejection" in props else None,
                color=props.get("color", "RGB"),
                layout=props.get("layout", "NCHW"),
                crop=props.get("crop", "centre"),
            )
        except KeyError as exc:
            raise EdgecamError(f"{source} has edgecam metadata without the key {exc.args[0]} "
                               f"(needed: {', '.join(REQUIRED)})") from None
        except (ValueError, TypeError) as exc:
            raise EdgecamError(f"{source} has broken edgecam metadata ({exc})") from None
        return meta


def _labels(value: list) -> list[str]:
    """Class names: text that every output can carry (OpenCV's text drawing crashes on a
    string that is not valid UTF-8)."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("labels is a JSON list of names")
    for label in value:
        try:
            label.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"label {label!r} is not valid UTF-8") from None
    return value


def _rgb(value: list, key: str) -> tuple[float, float, float]:
    """Three numbers, R, G, B on 0..1 (a std above 0)."""
    if not isinstance(value, list) or len(value) != 3:
        raise ValueError(f"{key} is three numbers, R, G, B on 0..1; got {value!r}")
    r, g, b = (float(v) for v in value)
    if key == "std" and min(r, g, b) <= 0:
        raise ValueError(f"std must be above 0, got {value!r}")
    return r, g, b


def write_metadata(path: Path, meta: ModelMeta) -> None:
    """Replace an ONNX file's metadata_props with ``meta`` (export and quantize write it)."""
    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    for key, value in meta.to_props().items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name = "edgecam"
    onnx.save(proto, str(path))
