"""Real labelled pictures that ship in wheels, written out as data set folders (one sub-folder
per class) for the train tests and benchmarks:

- ``digits``: scikit-learn's ``load_digits()`` (1,797 handwritten 8x8 digits, 10 classes);
- ``textures``: scikit-image's brick, grass and gravel photos cut into patches, the left part
  of each photo for training and the right part held out, so no held-out patch overlaps a
  training one;
- ``blocky_digits``: the same digits as 64 px blocks (each of the 8x8 pixels a square), dark ink
  on white, 60% / 40% of each class: the split on which the old last-vector recipe got 83-86%;
- ``faces``: scikit-image's ``lfw_subset()`` (100 face and 100 non-face photo crops, LFW).

Each writer returns the training folder and a held-out folder of the same layout that the
training never sees.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _write(folder: Path, label: str, index: int, picture: np.ndarray) -> None:
    (folder / label).mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / label / f"{index:04d}.png"), picture)


def _split_indices(labels: np.ndarray, per_class: int | None, held_out: int, seed: int
                   ) -> tuple[list[int], list[int]]:
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        test += idx[:held_out].tolist()
        rest = idx[held_out:]
        train += (rest if per_class is None else rest[:per_class]).tolist()
    return train, test


def digits(root: Path, per_class: int | None = None, held_out: int = 20, size: int = 32,
           seed: int = 0) -> tuple[Path, Path]:
    """``root/train/<name>/*.png`` and ``root/heldout/<name>/*.png``: digits scaled from 8x8
    to ``size`` px, white ink on black as scanned."""
    from sklearn.datasets import load_digits

    d = load_digits()
    train, test = _split_indices(d.target, per_class, held_out, seed)
    for folder, picks in ((root / "train", train), (root / "heldout", test)):
        for i in picks:
            pixels = (d.images[i] * (255.0 / 16.0)).astype(np.uint8)
            big = cv2.resize(pixels, (size, size), interpolation=cv2.INTER_CUBIC)
            _write(folder, DIGIT_NAMES[d.target[i]], i, big)
    return root / "train", root / "heldout"


def blocky_digits(root: Path, seed: int = 0, held_out: float = 0.4, size: int = 64
                  ) -> tuple[Path, Path]:
    """``root/train`` and ``root/heldout``: every digit, nearest-neighbour scaled to ``size``
    px, dark on white; a stratified ``held_out`` share of each class held out."""
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.default_rng(seed)
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(d.target == c))
        n_test = int(round(len(idx) * held_out))
        for folder, picks in ((root / "heldout", idx[:n_test]), (root / "train", idx[n_test:])):
            for i in picks:
                pixels = 255 - (d.images[i] * (255.0 / 16.0)).astype(np.uint8)
                _write(folder, DIGIT_NAMES[c], int(i),
                       cv2.resize(pixels, (size, size), interpolation=cv2.INTER_NEAREST))
    return root / "train", root / "heldout"


def faces(root: Path, per_class: int | None = None, held_out: int = 30, size: int = 64,
          seed: int = 0) -> tuple[Path, Path]:
    """LFW crops (25x25 grey) as ``face`` and ``not face``, scaled to ``size`` px."""
    from skimage.data import lfw_subset

    pictures = lfw_subset()
    labels = np.array([0] * 100 + [1] * 100)
    names = ["face", "not face"]
    train, test = _split_indices(labels, per_class, held_out, seed)
    for folder, picks in ((root / "train", train), (root / "heldout", test)):
        for i in picks:
            grey = (pictures[i] * 255).astype(np.uint8)
            _write(folder, names[labels[i]], i,
                   cv2.resize(grey, (size, size), interpolation=cv2.INTER_CUBIC))
    return root / "train", root / "heldout"


def textures(root: Path, per_class: int = 12, held_out: int = 6, patch: int = 96,
             seed: int = 0, names: tuple[str, ...] = ("brick", "grass", "gravel")
             ) -> tuple[Path, Path]:
    """Random ``patch`` px squares of each texture photo: training ones from the left 60%,
    held-out ones from the right 40%."""
    from skimage import data

    rng = np.random.default_rng(seed)
    for name in names:
        grey = getattr(data, name)()
        h, w = grey.shape[:2]
        split = int(w * 0.6)
        for folder, count, (x0, x1) in ((root / "train", per_class, (0, split - patch)),
                                        (root / "heldout", held_out, (split, w - patch))):
            for k in range(count):
                x = int(rng.integers(x0, x1 + 1))
                y = int(rng.integers(0, h - patch + 1))
                _write(folder, name, k, grey[y:y + patch, x:x + patch])
    return root / "train", root / "heldout"


def pictures_by_class(folder: Path) -> list[tuple[Path, str]]:
    """(picture, class) for every picture of a data set folder."""
    return [(p, d.name) for d in sorted(folder.iterdir()) if d.is_dir()
            for p in sorted(d.iterdir())]
