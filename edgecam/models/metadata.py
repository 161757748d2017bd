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

from edgecam.util.errors import EdgecamError

FORMAT = "edgecam-1"


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
    def name(self) -> str:
        from edgecam.models.catalog import model_name

        name = model_name(self.arch, self.alpha, self.resolution, self.precision)
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
        """Parse metadata_props; a file without edgecam metadata is a user error."""
        if props.get("format") != FORMAT:
            raise EdgecamError(
                f"{source} has no edgecam metadata (export it with `edgecam export`)"
            )
        try:
            def num(key: str):
                return json.loads(props[key])

            return cls(
                arch=props["arch"],
                alpha=float(num("alpha")),
                resolution=int(num("resolution")),
                mean=tuple(num("mean")),
                std=tuple(num("std")),
                normalization=props["normalization"],
                crop_pct=float(num("crop_pct")),
                interpolation=props["interpolation"],
                labels=list(num("labels")),
                weights=props.get("weights", ""),
                weights_sha256=props.get("weights_sha256", ""),
                params=int(num("params")),
                macs=int(num("macs")),
                top1=num("top1"),
                top1_source=props.get("top1_source", ""),
                precision=props.get("precision", "fp32"),
                dataset=props.get("dataset", ""),
                training=json.loads(props["training"]) if "training" in props else None,
                rejection=json.loads(props["rejection"]) if "rejection" in props else None,
                color=props.get("color", "RGB"),
                layout=props.get("layout", "NCHW"),
                crop=props.get("crop", "centre"),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise EdgecamError(f"{source} has broken edgecam metadata ({exc})") from None


def write_metadata(path: Path, meta: ModelMeta) -> None:
    """Replace an ONNX file's metadata_props with ``meta`` (export and quantize write it)."""
    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    for key, value in meta.to_props().items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name = "edgecam"
    onnx.save(proto, str(path))
