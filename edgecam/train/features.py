"""Backbone features of a data set, computed once and cached on disk.

The frozen ImageNet backbone turns every picture into the vector the classifier reads (its stages'
pooled outputs and the final pooled vector, ``network.Tapped``):
validation pictures through the run-time preprocessing exactly (the same ``Preprocessor`` the
pipeline uses, from the model's metadata), training pictures once that way and ``views - 1``
more times augmented. Training the classifier on these vectors takes seconds; computing them is
the expensive part, so they are cached under ``$XDG_CACHE_HOME/edgecam/features`` by everything
that decides them (the pictures' bytes, backbone, resolution, augmentation, seed).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from edgecam.models.catalog import cache_dir
from edgecam.models.metadata import ModelMeta
from edgecam.runtime.preprocess import Preprocessor
from edgecam.sources.media import read_image
from edgecam.train.augment import Augment
from edgecam.train.dataset import DataSet, Sample, relative
from edgecam.train.tapped import Tapped
from edgecam.util.atomic import Staged
from edgecam.util.errors import EdgecamError
from edgecam.util.signals import StopFlag

BATCH = 32
CACHE_VERSION = 2  # 2: the stages' pooled outputs beside the final vector


class Interrupted(Exception):
    """Ctrl-C arrived before there was anything worth keeping."""


@dataclass
class Features:
    train: np.ndarray  # [views, N, D]; view 0 is the plain run-time preprocessing
    train_labels: np.ndarray  # [N]
    val: np.ndarray  # [M, D]
    val_labels: np.ndarray  # [M]
    cached: bool = False

    def plain(self) -> Features:
        """The same pictures with only the run-time view of each training picture."""
        return replace(self, train=self.train[:1])


def cache_key(data: DataSet, meta: ModelMeta, views: int, augment: Augment, seed: int) -> str:
    """Everything the vectors depend on; the pictures enter through their sha256 (fingerprint)
    and which split each one is in."""
    recipe = {
        "v": CACHE_VERSION, "fingerprint": data.fingerprint, "arch": meta.arch,
        "alpha": meta.alpha, "resolution": meta.resolution, "weights": meta.weights_sha256,
        "crop_pct": meta.crop_pct, "crop": meta.crop, "normalization": meta.normalization,
        "views": views,
        "augment": asdict(augment), "seed": seed,
        "train": [(relative(s.path, data.root), s.label) for s in data.train],
        "val": [(relative(s.path, data.root), s.label) for s in data.val],
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:32]


def _cache_path(key: str) -> Path:
    return cache_dir() / "features" / f"{key}.npz"


def _load_cached(path: Path) -> Features | None:
    try:
        with np.load(path) as f:
            return Features(f["train"], f["train_labels"], f["val"], f["val_labels"], cached=True)
    except (OSError, KeyError, ValueError):
        return None


def _save_cached(path: Path, feats: Features) -> None:
    """Best effort: a cache that cannot be written only costs time next run."""
    try:
        with Staged(path) as staged, staged.file("wb") as out:
            np.savez(out, train=feats.train, train_labels=feats.train_labels, val=feats.val,
                     val_labels=feats.val_labels)
    except (OSError, EdgecamError):
        pass


class ViewMaker:
    """Picture -> input tensors: the run-time view, and augmented views of the same size."""

    def __init__(self, meta: ModelMeta, augment: Augment, seed: int) -> None:
        self.runtime = Preprocessor(meta)
        # an augmented view is already R x R: only normalization is left to do
        self.normalize = Preprocessor(replace(meta, crop_pct=1.0))
        self.augment = augment
        self.seed = seed
        self.resolution = meta.resolution

    def plain(self, image: np.ndarray) -> np.ndarray:
        return self.runtime(image)[0]

    def augmented(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.normalize(self.augment(image, self.resolution, rng))[0]

    def views(self, image: np.ndarray, index: int, count: int) -> list[np.ndarray]:
        """``count`` tensors for training picture ``index``: plain first, then augmented (the
        random draws depend only on the seed and the index, so runs repeat)."""
        rng = np.random.default_rng([self.seed, index])
        return [self.plain(image)] + [self.augmented(image, rng) for _ in range(count - 1)]


def _batches(samples: list[Sample], size: int):
    for start in range(0, len(samples), size):
        yield start, samples[start:start + size]


class _Features(torch.nn.Module):
    def __init__(self, net: Tapped) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(x)


class Embedder:
    """The backbone's pooled vectors through onnxruntime: on batches it ran 4-5x faster than
    PyTorch eager on this project's 2-core machine, and it is the engine the model will run on.
    """

    def __init__(self, model: Tapped, resolution: int) -> None:
        import onnxruntime as ort

        from edgecam.models.export import to_onnx
        from edgecam.util.device import default_threads

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = default_threads()
        opts.log_severity_level = 3
        with tempfile.TemporaryDirectory(prefix="edgecam-train-") as tmp:
            path = Path(tmp) / "backbone.onnx"
            to_onnx(_Features(model).eval(), resolution, path, output="features")
            self.session = ort.InferenceSession(str(path), opts,
                                                providers=["CPUExecutionProvider"])

    def __call__(self, tensors: list[np.ndarray]) -> np.ndarray:
        return self.session.run(["features"], {"input": np.stack(tensors)})[0]


def extract(model: Tapped, meta: ModelMeta, data: DataSet, views: int, augment: Augment,
            seed: int, stop: StopFlag, advance: Callable[[int], None] = lambda n: None
            ) -> Features:
    """Vectors for every picture (cached); ``advance(n)`` after each batch of n pictures."""
    path = _cache_path(cache_key(data, meta, views, augment, seed))
    cached = _load_cached(path) if path.is_file() else None
    if cached is not None:
        advance(len(data.train) + len(data.val))
        return cached
    maker = ViewMaker(meta, augment, seed)
    embed = Embedder(model.eval(), meta.resolution)
    train_parts: list[np.ndarray] = []
    for start, batch in _batches(data.train, max(1, BATCH // views)):
        tensors = []
        for i, sample in enumerate(batch):
            tensors += maker.views(read_image(str(sample.path)), start + i, views)
        # [B*views, D] -> [views, B, D]
        vecs = embed(tensors)
        train_parts.append(vecs.reshape(len(batch), views, -1).transpose(1, 0, 2))
        advance(len(batch))
        if stop.is_set():
            raise Interrupted
    val_parts: list[np.ndarray] = []
    for _, batch in _batches(data.val, BATCH):
        val_parts.append(embed([maker.plain(read_image(str(s.path))) for s in batch]))
        advance(len(batch))
        if stop.is_set():
            raise Interrupted
    feats = Features(
        np.concatenate(train_parts, axis=1).astype(np.float32),
        np.array([s.label for s in data.train], np.int64),
        np.concatenate(val_parts).astype(np.float32),
        np.array([s.label for s in data.val], np.int64),
    )
    _save_cached(path, feats)
    return feats
