"""Issue 24 in training: the unknown folder, the rule to answer "unknown" calibrated on the
validation pictures, the classifier over every stage, and fine-tuning that says whether it
helped. In-process pieces first, then real training through the CLI on scikit-learn's digits
(digits never trained on as the pictures nobody showed it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgecam.train.dataset import UNKNOWN, read_dataset
from edgecam.train.evaluation import evaluate, render
from edgecam.train.rejection import answers, calibrate, threshold_keeping
from edgecam.util.errors import EdgecamError

from conftest import assert_one_line_error, needs_torch, run_cli
from labelled_data import DIGIT_NAMES, blocky_digits


def _pictures(folder: Path, n: int, start: int = 0) -> None:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        grey = (start + i) * 3 % 256
        cv2.imwrite(str(folder / f"{start + i}.png"), np.full((8, 8, 3), grey, np.uint8))


# --- the data set -----------------------------------------------------------------------------


def test_an_unknown_folder_is_not_a_class_but_labelled_pictures_of_anything_else(
        tmp_path: Path) -> None:
    for name in ("gate open", "gate closed"):
        _pictures(tmp_path / "d" / name, 5)
    _pictures(tmp_path / "d" / "unknown", 10, start=50)
    data = read_dataset(tmp_path / "d", val_split=0.2)
    assert data.classes == ["gate closed", "gate open"]
    assert data.unknown == tmp_path / "d" / "unknown"
    assert (data.count_unknown(data.train), data.count_unknown(data.val)) == (8, 2)
    assert all(s.path.parent.name == "unknown" for s in data.train + data.val
               if s.label == UNKNOWN)
    described = data.describe()
    assert (described["unknown_train_images"], described["unknown_val_images"]) == (8, 2)
    # the unknown pictures are part of what the data set's fingerprint covers
    without = tmp_path / "plain"
    for name in ("gate open", "gate closed"):
        _pictures(without / name, 5)
    assert read_dataset(without).fingerprint != data.fingerprint


def test_unknown_option_takes_a_folder_from_elsewhere_and_the_users_split_keeps_its_own(
        tmp_path: Path) -> None:
    for side, n in (("train", 4), ("val", 2)):
        for name in ("a", "b"):
            _pictures(tmp_path / "d" / side / name, n)
        _pictures(tmp_path / "d" / side / "unknown", n, start=30)
    data = read_dataset(tmp_path / "d")
    assert data.classes == ["a", "b"]
    assert (data.count_unknown(data.train), data.count_unknown(data.val)) == (4, 2)

    _pictures(tmp_path / "elsewhere" / "deep", 6, start=70)
    for side, n in (("train", 4), ("val", 2)):
        for name in ("a", "b"):
            _pictures(tmp_path / "d2" / side / name, n)
    other = read_dataset(tmp_path / "d2", unknown=tmp_path / "elsewhere")
    assert other.unknown == tmp_path / "elsewhere"
    assert other.count_unknown(other.train) + other.count_unknown(other.val) == 6


@pytest.mark.parametrize("make, message", [
    (lambda root: None, "--unknown folder not found"),
    (lambda root: _pictures(root / "u", 1), "has 1 readable picture"),
])
def test_an_unusable_unknown_folder_says_so(tmp_path: Path, make, message) -> None:
    for name in ("a", "b"):
        _pictures(tmp_path / "d" / name, 4)
    make(tmp_path)
    with pytest.raises(EdgecamError, match=message):
        read_dataset(tmp_path / "d", unknown=tmp_path / "u")


def test_one_class_and_an_unknown_folder_is_one_class_too_few(tmp_path: Path) -> None:
    _pictures(tmp_path / "d" / "gate", 4)
    _pictures(tmp_path / "d" / "unknown", 4, start=20)
    with pytest.raises(EdgecamError, match="1 class folder.s. besides unknown/"):
        read_dataset(tmp_path / "d")


def test_unknown_option_written_another_way_than_the_data_set(tmp_path: Path,
                                                               monkeypatch) -> None:
    for name in ("a", "b"):
        _pictures(tmp_path / "d" / name, 4)
    _pictures(tmp_path / "d" / "unknown", 4, start=20)
    monkeypatch.chdir(tmp_path)
    data = read_dataset(Path("d"), unknown=(tmp_path / "d" / "unknown"))
    assert data.classes == ["a", "b"] and data.count_unknown(data.train + data.val) == 4


@pytest.mark.parametrize("where, message", [
    ("d/a", "inside the data set"),
    ("d/others", "inside the data set"),
    ("d", "holds the data set"),
    (".", "holds the data set"),
    ("elsewhere", "give one"),  # and d/unknown too
])
def test_an_unknown_folder_that_would_also_be_a_class_is_refused(
        tmp_path: Path, where: str, message: str) -> None:
    for name in ("a", "b", "others"):
        _pictures(tmp_path / "d" / name, 4)
    _pictures(tmp_path / "elsewhere", 4, start=20)
    if where == "elsewhere":
        _pictures(tmp_path / "d" / "unknown", 4, start=40)
    with pytest.raises(EdgecamError, match=message):
        read_dataset(tmp_path / "d", unknown=tmp_path / where)


def test_unknown_pictures_for_validation_only(tmp_path: Path) -> None:
    for side, n in (("train", 3), ("val", 1)):
        for name in ("a", "b"):
            _pictures(tmp_path / "d" / side / name, n)
    _pictures(tmp_path / "d" / "val" / "unknown", 3, start=30)
    data = read_dataset(tmp_path / "d")
    assert data.classes == ["a", "b"]
    assert (data.count_unknown(data.train), data.count_unknown(data.val)) == (0, 3)
    assert data.describe()["val_images"] == 2  # the known ones; unknown ones apart


@needs_torch
def test_the_fine_tuning_schedule_builds_for_any_number_of_steps() -> None:
    import torch

    from edgecam.train.finetune import one_cycle

    for steps in range(1, 41):  # 5 steps with a 0.2 warm-up divided by zero inside torch
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.AdamW([p], lr=1e-3)
        sched = one_cycle(opt, 1e-3, steps, 0.2)
        rates = []
        for _ in range(steps):
            opt.step()
            sched.step()
            rates.append(opt.param_groups[0]["lr"])
        assert max(rates) <= 1e-3 + 1e-12


# --- the rule ---------------------------------------------------------------------------------


def test_the_threshold_keeps_the_chosen_share_of_known_pictures() -> None:
    scores = np.linspace(0.05, 1.0, 20)
    t = threshold_keeping(scores, 0.95)
    assert (scores >= t).sum() == 19 and t == pytest.approx(0.1)
    assert threshold_keeping(scores, 1.0) == pytest.approx(0.05)


def test_calibration_measures_known_recall_and_unknown_rejection() -> None:
    rng = np.random.default_rng(0)
    labels = np.array([0] * 40 + [1] * 40 + [UNKNOWN] * 20)
    logits = np.zeros((100, 2), np.float32)
    logits[np.arange(80), labels[:80]] = rng.uniform(1.0, 6.0, 80)  # confident, right
    logits[80:] = rng.normal(0.0, 0.3, (20, 2))  # unsure
    rule = calibrate(logits, labels, keep=0.9)
    assert rule["score"] == "probability" and rule["keep"] == 0.9
    assert rule["known_images"] == 80 and rule["known_kept"] >= 0.9
    assert rule["unknown_images"] == 20 and rule["unknown_rejected"] == 1.0
    answered = answers(logits, rule["threshold"])
    # the rounded threshold in the metadata keeps exactly what the calibration said it keeps
    assert (answered[:80] != UNKNOWN).mean() == pytest.approx(rule["known_kept"])
    got = evaluate(logits.argmax(1), labels, ["cat", "dog"], answered)
    assert got["confusion_labels"] == ["cat", "dog", "unknown"]
    matrix = np.array(got["confusion_matrix"])
    assert matrix[2, 2] == 20 and matrix[2, :2].sum() == 0  # every unknown picture rejected
    assert matrix[:2, 2].sum() == 80 - round(rule["known_kept"] * 80)
    assert got["val_images"] == 80 and got["per_class_accuracy"]["unknown"] == 1.0
    lines = render(got, ["cat", "dog"]).splitlines()  # the folder's row says it is none
    assert len(lines) == 3 and lines[-1].split() == ["unknown/", "(not", "a", "class)",
                                                     "100.0%", "of", "20"]


# --- the network ------------------------------------------------------------------------------


@needs_torch
def test_the_classifier_reads_every_stage_and_the_split_for_fine_tuning_is_the_same_net() -> None:
    import torch

    from edgecam.models.zoo import create_model
    from edgecam.train.finetune import tail_start
    from edgecam.train.tapped import Tapped, stage_ends

    net = create_model("efficientnet_lite0")
    ends = stage_ends(net)
    assert ends == [0, 2, 4, 7, 10, 14, 15]  # the 7 stages of EfficientNet-Lite0
    model = Tapped(net, 3).eval()
    assert model.dim == 16 + 24 + 40 + 80 + 112 + 192 + 320 + 1280
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        whole = model(x)
        t = tail_start(net)
        mid, pooled = model.front(x, t)
        split = model.classifier(model.rest(mid, pooled, t))
    assert whole.shape == (2, 3) and torch.allclose(whole, split, atol=1e-5)


@needs_torch
def test_unknown_pictures_pull_the_classifier_toward_an_unsure_answer() -> None:
    """The same vectors with and without the unknown ones in training: with them, vectors
    like the unknown ones get a lower top-1 probability."""
    from edgecam.train.features import Features
    from edgecam.train.head import HeadConfig, train_head
    from edgecam.train.rejection import top1_probability
    from edgecam.util.signals import StopFlag

    rng = np.random.default_rng(1)
    centres = rng.normal(0, 1, (3, 16)) * 3
    known = np.concatenate([c + rng.normal(0, 1, (60, 16)) for c in centres[:2]])
    other = centres[2] + rng.normal(0, 1, (60, 16))
    labels = np.repeat([0, 1], 60)
    val = np.concatenate([known[::6], other[::6]])
    val_labels = np.concatenate([labels[::6], np.full(10, UNKNOWN)])
    probe = centres[2] + rng.normal(0, 1, (50, 16))
    known, other, val = (a.astype(np.float32) for a in (known, other, val))
    with StopFlag() as stop:
        plain = train_head(Features(known[None], labels, val, val_labels), 2, HeadConfig(),
                           0, stop)
        taught = train_head(Features(np.concatenate([known, other])[None],
                                     np.concatenate([labels, np.full(60, UNKNOWN)]), val,
                                     val_labels), 2, HeadConfig(), 0, stop)
    assert (top1_probability(taught.logits(probe)).mean()
            < top1_probability(plain.logits(probe)).mean() - 0.05)
    assert (taught.logits(known).argmax(1) == labels).mean() > 0.95


# --- through the CLI --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def five_digits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """zero..four to learn, five and six as the unknown folder, seven..nine never shown."""
    root = tmp_path_factory.mktemp("five")
    train, heldout = blocky_digits(root / "all", seed=0, held_out=0.4)
    out = {"data": root / "digits", "heldout": root / "heldout", "never": root / "never"}
    for i, name in enumerate(DIGIT_NAMES):
        files = sorted((train / name).iterdir())[:16]
        held = sorted((heldout / name).iterdir())[:10]
        target = (out["data"] / name if i < 5 else out["data"] / "unknown" if i < 7
                  else None)
        for p in files if target is not None else []:
            target.mkdir(parents=True, exist_ok=True)
            p.rename(target / f"{name}-{p.name}")
        dest = out["heldout"] / name if i < 5 else out["never"] if i >= 7 else None
        for p in held if dest is not None else []:
            dest.mkdir(parents=True, exist_ok=True)
            p.rename(dest / f"{name}-{p.name}")
    return out


@needs_torch
@pytest.mark.slow
def test_train_with_an_unknown_folder_writes_a_calibrated_rule_and_reports_it(
        five_digits: dict[str, Path], tmp_path: Path) -> None:
    from edgecam.runtime.engine import Engine

    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    report_path = tmp_path / "r.json"
    proc = run_cli("train", str(five_digits["data"]), "-r", "64", "-o",
                   str(tmp_path / "five.onnx"), "--json-out", str(report_path), "--keep",
                   "0.9", "--finetune", "--epochs", "2", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "pictures of anything else from" in proc.stderr
    assert "fine-tuning" in proc.stderr  # says whether it helped
    assert "answers 'unknown' below" in proc.stdout and "pictures of anything else" in proc.stdout
    m = json.loads(report_path.read_text())["models"][0]
    meta = Engine(tmp_path / "five.onnx").meta
    assert meta.labels == sorted(DIGIT_NAMES[:5])  # no "unknown" class in the model
    rule = meta.rejection
    assert rule == m["rejection"] and rule["keep"] == 0.9 and rule["known_kept"] >= 0.9
    assert rule["unknown_images"] > 0 and rule["unknown_rejected"] is not None
    assert 0.0 < rule["threshold"] < 1.0
    assert meta.training is not None
    assert meta.training["confusion_labels"][-1] == "unknown"
    assert sum(meta.training["confusion_matrix"][-1]) == rule["unknown_images"]
    assert meta.training["features"].startswith("pooled outputs of blocks")


@needs_torch
@pytest.mark.slow
def test_bad_keep_and_missing_unknown_folder_end_in_one_line(
        five_digits: dict[str, Path], tmp_path: Path) -> None:
    for args, message in ((["--keep", "1.5"], "--keep must be between"),
                          (["--unknown", str(tmp_path / "nope")], "--unknown folder not found")):
        proc = run_cli("train", str(five_digits["data"]), "-o", str(tmp_path / "x.onnx"), *args,
                       env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
        assert message in assert_one_line_error(proc)
        assert not (tmp_path / "x.onnx").exists()
