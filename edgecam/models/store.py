"""The local model store: turns a model argument (an ``.onnx`` path or a name such as
``mobilenet_v2-0.5-160``) into an ONNX file, exporting it on first use when torch is installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from edgecam.models.catalog import (
    ARCHS,
    DEFAULT_ARCH,
    ModelConfig,
    models_dir,
    parse_model_name,
    published_weights,
)
from edgecam.util.errors import EdgecamError, MissingExtraError

DEFAULT_MODEL = f"{DEFAULT_ARCH}-1.0-{ARCHS[DEFAULT_ARCH].resolution}"


def has_export_extra() -> bool:
    """True when torch and onnx are importable (without importing them)."""
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "onnx"))


def resolve_model(spec: str | None = None, weights: str = "imagenet") -> Path:
    """Path of the ONNX file for ``spec`` (default: the pretrained EfficientNet-Lite0)."""
    path, ref = _locate(spec or DEFAULT_MODEL)
    if ref is None:
        return path
    return _export_on_first_use(ref, path, weights)


def check_model(spec: str | None = None, weights: str = "imagenet") -> None:
    """What ``resolve_model`` would refuse, found without exporting anything (``edgecam
    service install``): a missing file, an unknown name, an INT8 model not made yet, an export
    without torch or without published weights."""
    path, ref = _locate(spec or DEFAULT_MODEL)
    if ref is not None and ref.precision == "int8":
        raise EdgecamError(f"{path} does not exist; an INT8 model is made by edgecam quantize")
    if ref is not None:
        _exportable(ref, path, weights)


def _locate(spec: str) -> tuple[Path, ModelConfig | None]:
    """The file ``spec`` names, and the config to export when it is a store name whose file
    is not there yet (None: the file exists)."""
    path = Path(spec)
    if spec.endswith(".onnx") or "/" in spec or path.is_file():
        if not path.is_file():
            raise EdgecamError(f"model file not found: {spec}")
        return path, None
    ref = parse_model_name(spec)
    target = models_dir() / f"{ref.name}.onnx"
    return target, None if target.is_file() else ref


def _exportable(ref: ModelConfig, target: Path, weights: str) -> None:
    if not has_export_extra():
        raise MissingExtraError(
            f"{target} is not in the model store and exporting it needs torch: "
            f"pip install 'edgecam[export,pretrained]' (or pass an .onnx file with --model)"
        )
    if weights == "imagenet":
        published_weights(ref.arch, ref.alpha)


def _export_on_first_use(ref: ModelConfig, target: Path, weights: str) -> Path:
    if ref.precision == "int8":
        fp32 = resolve_model(ref.fp32().name, weights)
        raise EdgecamError(
            f"{target} does not exist; make it with: edgecam quantize {fp32} "
            f"--calibration calibration/images --output {target}"
        )
    _exportable(ref, target, weights)
    from edgecam.util.progress import working

    with working(f"exporting {ref.name} to {target.parent}/ (first use only)"):
        from edgecam.models.export import export_model

        export_model(ref.arch, ref.alpha, ref.resolution, weights=weights, output=target)
    return target
