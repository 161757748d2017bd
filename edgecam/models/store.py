"""The local model store: turns a model argument (an ``.onnx`` path or a name such as
``mobilenet_v2-0.5-160``) into an ONNX file, exporting it on first use when torch is installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from edgecam.models.catalog import ARCHS, DEFAULT_ARCH, ModelConfig, models_dir, parse_model_name
from edgecam.util.errors import EdgecamError, MissingExtraError

DEFAULT_MODEL = f"{DEFAULT_ARCH}-1.0-{ARCHS[DEFAULT_ARCH].resolution}"


def has_export_extra() -> bool:
    """True when torch and onnx are importable (without importing them)."""
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "onnx"))


def resolve_model(spec: str | None = None, weights: str = "imagenet") -> Path:
    """Path of the ONNX file for ``spec`` (default: the pretrained EfficientNet-Lite0)."""
    spec = spec or DEFAULT_MODEL
    path = Path(spec)
    if spec.endswith(".onnx") or "/" in spec or path.is_file():
        if not path.is_file():
            raise EdgecamError(f"model file not found: {spec}")
        return path
    ref = parse_model_name(spec)
    target = models_dir() / f"{ref.name}.onnx"
    if target.is_file():
        return target
    return _export_on_first_use(ref, target, weights)


def _export_on_first_use(ref: ModelConfig, target: Path, weights: str) -> Path:
    if ref.precision == "int8":
        fp32 = resolve_model(ref.fp32().name, weights)
        raise EdgecamError(
            f"{target} does not exist; make it with: edgecam quantize {fp32} "
            f"--calibration calibration/images --output {target}"
        )
    if not has_export_extra():
        raise MissingExtraError(
            f"{target} is not in the model store and exporting it needs torch: "
            f"pip install 'edgecam[export,pretrained]' (or pass an .onnx file with --model)"
        )
    from edgecam.util.progress import working

    with working(f"exporting {ref.name} to {target.parent}/ (first use only)"):
        from edgecam.models.export import export_model

        export_model(ref.arch, ref.alpha, ref.resolution, weights=weights, output=target)
    return target
