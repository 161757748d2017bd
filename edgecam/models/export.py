"""PyTorch -> ONNX export: self-describing metadata and a numerical check on the spot.

The exported file has input ``input`` float32 [N,3,R,R] (dynamic N) and output ``logits``
[N,1000]; it is checked with ``onnx.checker``, run through onnxruntime next to PyTorch, and
refused (nothing written) when they differ by more than 1e-4 x max|logit|.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from edgecam.models.catalog import (
    ARCHS,
    ModelConfig,
    check_alpha_resolution,
    checkpoint_crop,
    format_alpha,
    preprocess_for,
)
from edgecam.models.labels import imagenet_labels
from edgecam.models.metadata import ModelMeta, write_metadata
from edgecam.models.zoo import create_model
from edgecam.models.zoo.complexity import count_macs, count_params
from edgecam.models.zoo.weights import LoadedWeights, init_random, load_imagenet, load_into
from edgecam.util.atomic import Staged
from edgecam.util.errors import CannotWrite, EdgecamError
from edgecam.util.safewrite import check_writable, refuse_inputs

__all__ = ["check_writable", "export_model", "load_weights", "onnx_parity", "to_onnx",
           "write_checked"]

PARITY_TOLERANCE = 1e-4  # x max|logit|, the bound the reference fixtures recommend
OPSET = 17


def load_weights(model: torch.nn.Module, arch: str, alpha: float, weights: str, seed: int = 0
                 ) -> LoadedWeights | None:
    """Fill ``model`` with ``weights`` ("imagenet", "random" or a file path)."""
    if weights == "random":
        init_random(model, seed)
        return None
    if weights == "imagenet":
        return load_imagenet(model, arch, alpha)
    return load_into(model, Path(weights), f"{arch} alpha {format_alpha(alpha)}")


def onnx_parity(path: Path, model: torch.nn.Module, resolution: int, seed: int = 1) -> float:
    """max|onnxruntime - torch| / max|torch| on a random batch of 2."""
    import onnxruntime as ort

    x = torch.randn(2, 3, resolution, resolution, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        ref = model(x).numpy()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(["logits"], {"input": x.numpy()})[0]
    return float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-12))


def to_onnx(model: torch.nn.Module, resolution: int, path: Path, output: str = "logits"
            ) -> None:
    """Trace ``model`` at ``resolution`` into an ONNX file with a dynamic batch."""
    import onnx

    x = torch.zeros(1, 3, resolution, resolution)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (x,), str(path), dynamo=False, opset_version=OPSET,
            input_names=["input"], output_names=[output],
            dynamic_axes={"input": {0: "N"}, output: {0: "N"}},
        )
    onnx.checker.check_model(str(path))


def write_checked(model: torch.nn.Module, meta: ModelMeta, output: Path) -> float:
    """Write ``model`` with ``meta`` to ``output`` only if onnxruntime matches PyTorch; returns
    the parity. The file is built under a temporary name beside ``output`` and renamed, so an
    interruption or a refusal never leaves half a file (export and train share this)."""
    try:
        with Staged(output) as staged:
            to_onnx(model, meta.resolution, staged.temp)
            write_metadata(staged.temp, meta)
            parity = onnx_parity(staged.temp, model, meta.resolution)
            if not parity <= PARITY_TOLERANCE:
                raise EdgecamError(
                    f"onnxruntime differs from PyTorch by {parity:.2e} x max|logit| "
                    f"(limit {PARITY_TOLERANCE:.0e}); {output} not written"
                )
    except OSError as exc:
        raise CannotWrite(output, exc) from None
    return parity


def export_model(arch: str, alpha: float = 1.0, resolution: int | None = None,
                 weights: str = "imagenet", output: Path | str | None = None,
                 seed: int = 0) -> dict:
    """Build, load weights, export, check; returns a report (also the CLI's JSON)."""
    if arch not in ARCHS:
        from edgecam.models.catalog import arch_info

        arch_info(arch)  # raises the helpful error
    res = ARCHS[arch].resolution if resolution is None else resolution
    check_alpha_resolution(alpha, res)
    config = ModelConfig(arch, float(alpha), res)
    output = Path(output) if output else Path(f"{config.name}.onnx")
    if weights not in ("imagenet", "random"):
        refuse_inputs(output, [weights], what="the weights file (an input of this export)")
    check_writable(output)

    model = create_model(arch, alpha, res)
    loaded = load_weights(model, arch, alpha, weights, seed)
    model.eval()
    pre = preprocess_for(arch, alpha, "imagenet" if weights == "imagenet"
                         else loaded.format if loaded else "random")
    pub = config.published()
    # the checkpoint's own crop, or the tighter one measured better at this size
    crop = checkpoint_crop(arch, res, pre.crop_pct) if weights == "imagenet" else pre.crop_pct
    meta = ModelMeta(
        arch=arch, alpha=float(alpha), resolution=res, mean=pre.mean, std=pre.std,
        normalization=pre.normalization, crop_pct=crop, interpolation=pre.interpolation,
        labels=list(imagenet_labels()),
        weights=loaded.source if loaded else f"random:seed={seed}",
        weights_sha256=loaded.sha256 if loaded else "",
        params=count_params(model), macs=count_macs(model, res),
        top1=pub.top1 if pub else None, top1_source=pub.source if pub else "",
    )

    parity = write_checked(model, meta, output)
    return {
        "output": str(output), "name": meta.name, "arch": arch, "alpha": float(alpha),
        "resolution": res, "weights": meta.weights, "weights_format":
        loaded.format if loaded else None, "weights_sha256": meta.weights_sha256,
        "params": meta.params, "macs": meta.macs, "top1": meta.top1, "parity": parity,
    }
