"""Tiny but real ONNX classifiers (built with onnx.helper in milliseconds) for tests that need a
model file, not a good model: signature checks, pipeline plumbing, tuning arithmetic."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgecam.models.labels import imagenet_labels
from edgecam.models.metadata import ModelMeta, write_metadata
from edgecam.runtime.engine import Engine


def tiny_meta(resolution: int = 64, **overrides) -> ModelMeta:
    fields = dict(arch="mobilenet_v2", alpha=0.35, resolution=resolution,
                  mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                  normalization="imagenet", crop_pct=0.875, interpolation="bilinear",
                  labels=imagenet_labels(), weights="random", params=3000, macs=3000)
    fields.update(overrides)
    return ModelMeta(**fields)


def tiny_classifier(path: Path, resolution: int = 64, classes: int = 1000,
                    input_shape: list | None = None, metadata: bool = True,
                    seed: int = 0, **meta_overrides) -> Path:
    """input [N,3,R,R] -> global average pool -> linear(3 -> classes) -> logits [N,classes].

    The class with the largest weight for the mean red, green or blue wins, so the label of a
    solid-colour picture is predictable."""
    rng = np.random.default_rng(seed)
    weight = rng.normal(size=(3, classes)).astype(np.float32)
    bias = np.zeros(classes, np.float32)
    shape = input_shape or ["N", 3, resolution, resolution]
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
            helper.make_node("Gemm", ["flat", "W", "B"], ["logits"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])],
        [numpy_helper.from_array(weight, "W"), numpy_helper.from_array(bias, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if metadata:
        meta = tiny_meta(resolution, **meta_overrides)
        helper.set_model_props(model, meta.to_props())
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return Path(path)


def with_rejection(source: Path, path: Path, threshold: float, score: str = "probability",
                   **meta_overrides) -> Path:
    """A copy of the model ``source`` whose metadata carries a rejection rule, as
    ``edgecam train`` writes it: frames whose top-1 probability is below ``threshold`` are
    answered "unknown"."""
    shutil.copyfile(source, path)
    rule = {"score": score, "threshold": threshold, "keep": 0.95, "val_images": 40}
    meta = dataclasses.replace(Engine(source, 1).meta, rejection=rule, **meta_overrides)
    write_metadata(path, meta)
    return Path(path)
