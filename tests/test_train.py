"""edgecam train: data set folders, augmentation and scoring in-process; then real training
through the CLI on scikit-learn's digits and scikit-image's texture photos, checked on held-out
pictures through the runtime (classify, bench, quantize), and every bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgecam.train.augment import Augment
from edgecam.train.dataset import read_dataset
from edgecam.train.evaluation import evaluate
from edgecam.util.errors import EdgecamError

from conftest import assert_one_line_error, needs_torch, run_cli
from labelled_data import digits, pictures_by_class, textures


@pytest.fixture(scope="module")
def digit_folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """12 training and 8 held-out digits per class, 10 classes, 32 px."""
    root = tmp_path_factory.mktemp("digits")
    train, heldout = digits(root, per_class=12, held_out=8)
    return train.rename(root / "digits"), heldout


@pytest.fixture(scope="module")
def train_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A private feature cache, so runs here neither read nor fill the user's."""
    return {"XDG_CACHE_HOME": str(tmp_path_factory.mktemp("cache"))}


# --- the data set folder ----------------------------------------------------------------------


def _folder(root: Path, counts: dict[str, int]) -> Path:
    import cv2

    for name, n in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            cv2.imwrite(str(root / name / f"{i}.png"), np.full((8, 8, 3), i * 20, np.uint8))
    return root


def test_folders_split_per_class_and_fingerprint_follows_the_bytes(tmp_path: Path) -> None:
    root = _folder(tmp_path / "d", {"gate open": 10, "gate/closed".replace("/", "_"): 3})
    (root / "gate open" / "broken.jpg").write_bytes(b"not a picture")
    (root / "notes.txt").write_text("ignored")
    data = read_dataset(root, val_split=0.2, seed=0)
    assert data.classes == ["gate open", "gate_closed"]
    by_class = lambda samples, c: sum(s.label == c for s in samples)  # noqa: E731
    assert (by_class(data.train, 0), by_class(data.val, 0)) == (8, 2)
    assert (by_class(data.train, 1), by_class(data.val, 1)) == (2, 1)  # at least one each side
    assert data.skipped == ["gate open/broken.jpg"]
    assert read_dataset(root, 0.2, 0).fingerprint == data.fingerprint
    assert read_dataset(root, 0.2, 1).val != data.val  # the seed draws the split
    (root / "gate_closed" / "0.png").write_bytes((root / "gate_closed" / "1.png").read_bytes())
    assert read_dataset(root, 0.2, 0).fingerprint != data.fingerprint


def test_train_and_val_folders_are_the_users_split(tmp_path: Path) -> None:
    _folder(tmp_path / "d" / "train", {"a": 3, "b": 2})
    _folder(tmp_path / "d" / "val", {"a": 1, "b": 1})
    data = read_dataset(tmp_path / "d")
    assert data.layout == "train/val" and (len(data.train), len(data.val)) == (5, 2)


@pytest.mark.parametrize("counts, message", [
    ({"only": 5}, "1 class folder"),
    ({"a": 5, "b": 1}, "class 'b' has 1 readable picture"),
    ({}, "0 class folder"),
])
def test_too_few_classes_or_pictures_name_the_problem(tmp_path: Path, counts, message) -> None:
    root = _folder(tmp_path / "d", counts)
    root.mkdir(exist_ok=True)
    with pytest.raises(EdgecamError, match=message):
        read_dataset(root)


def test_augmented_views_repeat_with_the_seed_and_differ_from_the_picture() -> None:
    from skimage.data import chelsea

    picture = chelsea()[:, :, ::-1].copy()
    aug = Augment()
    a = aug(picture, 64, np.random.default_rng([0, 1]))
    b = aug(picture, 64, np.random.default_rng([0, 1]))
    c = aug(picture, 64, np.random.default_rng([0, 2]))
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_confusion_matrix_and_per_class_accuracy() -> None:
    got = evaluate(np.array([0, 0, 1, 1, 1]), np.array([0, 1, 1, 1, 0]), ["cat", "dog"])
    assert got["confusion_matrix"] == [[1, 1], [1, 2]]
    assert got["per_class_accuracy"] == {"cat": 0.5, "dog": pytest.approx(2 / 3)}
    assert got["val_accuracy"] == pytest.approx(0.6)


# --- training for real ------------------------------------------------------------------------


def _heldout_accuracy(model: Path, heldout: Path, tmp_path: Path, env: dict) -> float:
    """Top-1 of ``edgecam classify`` (the runtime, no torch) on pictures training never saw."""
    out = tmp_path / f"{model.stem}.jsonl"
    proc = run_cli("classify", str(heldout / "*" / "*.png"), "--model", str(model),
                   "--json-out", str(out), env=env)
    assert proc.returncode == 0, proc.stderr
    truth = {str(p): c for p, c in pictures_by_class(heldout)}
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(truth)
    return sum(truth[r["source"]] == r["top"][0]["label"] for r in rows) / len(rows)


@needs_torch
@pytest.mark.slow
def test_digits_train_at_two_resolutions_and_run_everywhere(
        digit_folders: tuple[Path, Path], train_env: dict, tmp_path: Path) -> None:
    from edgecam.runtime.engine import Engine

    train, heldout = digit_folders
    report_path = tmp_path / "report.json"
    proc = run_cli("train", str(train), "--resolution", "64,96", "--output",
                   str(tmp_path / "m.onnx"), "--json-out", str(report_path), env=train_env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(report_path.read_text())
    assert [m["resolution"] for m in report["models"]] == [64, 96]
    assert report["dataset"]["classes"] == 10 and report["dataset"]["train_images"] == 100
    for m in report["models"]:
        path = Path(m["output"])
        assert path.name == f"m-{m['resolution']}.onnx"
        assert m["parity"] <= 1e-4
        meta = Engine(path).meta
        assert sorted(meta.labels) == sorted(p.name for p in train.iterdir())
        assert meta.name == f"digits-efficientnet_lite0-1.0-{m['resolution']}"
        assert meta.dataset == "digits"
        t = meta.training
        assert t["dataset"]["fingerprint"] == report["dataset"]["fingerprint"]
        assert t["confusion_matrix"] == m["confusion_matrix"]
        # the matrix is with the rule to answer unknown: its last column holds what it rejected
        rule = meta.rejection
        assert rule is not None and rule["score"] == "probability" and rule["keep"] == 0.95
        assert rule["known_kept"] >= 0.95 and rule["unknown_rejected"] is None
        matrix = np.array(t["confusion_matrix"])
        assert t["confusion_labels"] == meta.labels + ["unknown"]
        assert np.trace(matrix) == round(rule["known_recall"] * rule["known_images"])
        assert matrix[:, -1].sum() == round((1 - rule["known_kept"]) * rule["known_images"])
        assert set(t["per_class_accuracy"]) == set(meta.labels) | {"unknown"}
        assert meta.top1 == pytest.approx(100 * m["val_accuracy"], abs=0.01)
        # the headline: pictures the training never saw, through the runtime
        assert _heldout_accuracy(path, heldout, tmp_path, train_env) >= 0.6
    model = report["models"][1]["output"]

    bench = run_cli("bench", model, "--frames", "20", "--json", env=train_env)
    assert bench.returncode == 0, bench.stderr
    assert json.loads(bench.stdout)["fps"] > 0
    quant = run_cli("quantize", model, "--calibration", str(train), "--json",
                    "--output", str(tmp_path / "m-int8.onnx"), env=train_env)
    assert quant.returncode == 0, quant.stderr
    int8 = Engine(tmp_path / "m-int8.onnx").meta
    assert int8.labels == Engine(model).meta.labels and int8.precision == "int8"
    assert int8.training is not None  # the training report survives quantization

    again = run_cli("train", str(train), "--resolution", "64", "--output",
                    str(tmp_path / "again.onnx"), env=train_env)
    assert again.returncode == 0 and "features from cache" in again.stdout


@needs_torch
@pytest.mark.slow
def test_texture_photos_generalise_to_the_held_out_part_of_each_photo(
        tmp_path: Path, train_env: dict) -> None:
    train, heldout = textures(tmp_path / "photos", per_class=20, held_out=10)
    train = train.rename(tmp_path / "textures")
    proc = run_cli("train", str(train), "-r", "96", "-o", str(tmp_path / "tex.onnx"),
                   env=train_env)
    assert proc.returncode == 0, proc.stderr
    assert "gravel" in proc.stdout
    assert _heldout_accuracy(tmp_path / "tex.onnx", heldout, tmp_path, train_env) >= 0.8


@needs_torch
@pytest.mark.slow
def test_ctrl_c_keeps_the_best_classifier_so_far(
        digit_folders: tuple[Path, Path], train_env: dict, tmp_path: Path) -> None:
    from edgecam.runtime.engine import Engine

    out = tmp_path / "stopped.onnx"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgecam", "train", str(digit_folders[0]), "-r", "64",
         "--epochs", "100000", "--patience", "100000", "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **train_env})
    for line in proc.stderr:  # features done, the classifier is training: stop it
        if "training the classifier" in line:
            proc.send_signal(signal.SIGINT)
            break
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "kept the best model so far" in err and "Traceback" not in err
    meta = Engine(out).meta
    assert meta.training["interrupted"] is True and meta.training["epochs_run"] >= 1
    assert not list(tmp_path.glob("*.edgecam-partial-*"))


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["--resolution", "abc"], "--resolution takes whole numbers"),
    (["--arch", "efficientnet_lite3"], "no ImageNet weights for efficientnet_lite3"),
    (["--val-split", "1.5"], "--val-split must be between 0 and 1"),
    (["--output", "{file}/m.onnx"], "a-file is not a directory"),
])
@needs_torch
def test_bad_options_end_in_one_line(digit_folders: tuple[Path, Path], tmp_path: Path,
                                     args: list[str], message: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    args = [a.replace("{file}", str(blocker)) for a in args]
    line = assert_one_line_error(run_cli("train", str(digit_folders[0]), *args))
    assert message in line
    assert not list(tmp_path.glob("**/*.onnx"))


@needs_torch
def test_a_folder_with_one_class_ends_in_one_line(tmp_path: Path) -> None:
    root = _folder(tmp_path / "d", {"only": 3})
    line = assert_one_line_error(run_cli("train", str(root)))
    assert "training needs at least two" in line
