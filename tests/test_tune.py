"""edgecam tune: the latency model on real measurements, the choice, profiles, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecam import profiles
from edgecam.errors import EdgecamError
from edgecam.latency_model import error_summary, fit_latency
from edgecam.tune import (
    Candidate,
    TuneOptions,
    candidates,
    choose,
    fastest,
    fit_models,
    ladder,
    measure_ms,
    model_path,
    predict,
    resolve_families,
    sample_source,
    top1_for,
)

from conftest import assert_one_line_error, run_cli

SMALL = [(0.35, 96), (0.35, 128), (0.5, 128), (0.5, 160)]


def cand(alpha: float, res: int, threads: int = 1) -> Candidate:
    from edgecam.tune import count_macs

    top1, est = top1_for("mobilenet_v2", alpha, res)
    return Candidate("mobilenet_v2", alpha, res, "fp32", threads,
                     count_macs("mobilenet_v2", alpha, res), top1, est)


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> list[Candidate]:
    """Four small MobileNetV2 configs with random weights, really measured (1 thread)."""
    store = tmp_path_factory.mktemp("tune-models")
    mp = pytest.MonkeyPatch()
    mp.setenv("EDGECAM_MODELS", str(store))
    frames = sample_source(4)
    out = []
    try:
        for alpha, res in SMALL:
            c = cand(alpha, res)
            path = model_path(c, "random", Path("nowhere"))
            c.measured_fps = 1000.0 / measure_ms(path, 1, frames, min_frames=15, min_s=0.3)
            out.append(c)
    finally:
        mp.undo()
    return out


def test_fit_exact_line_and_fallbacks() -> None:
    m = fit_latency([(10e6, 2.0), (20e6, 3.0), (40e6, 5.0)])
    assert m.a == pytest.approx(0.1) and m.b == pytest.approx(1.0)
    assert m.ms(30e6) == pytest.approx(4.0)
    one = fit_latency([(10e6, 2.0)])
    assert one.b == 0.0 and one.ms(20e6) == pytest.approx(4.0)
    assert fit_latency([]) is None
    assert error_summary([(110.0, 100.0), (90.0, 100.0)])["median_abs_pct"] == 10.0


def test_fit_and_predict_on_measured_data(measured: list[Candidate]) -> None:
    anchors, held_out = measured[:1] + measured[2:], measured[1]
    model = fit_latency([(c.macs, 1000.0 / c.measured_fps) for c in anchors])
    assert model.a > 0  # bigger models take longer
    pred = model.fps(held_out.macs)
    # a loose sanity band only: the machine is shared, timings are noisy
    assert held_out.measured_fps / 3 < pred < held_out.measured_fps * 3
    # through the tune helpers: predictions fill the unmeasured, measured values stay
    saved = held_out.measured_fps
    held_out.measured_fps = None
    try:
        predict(measured, fit_models(anchors))
        assert held_out.predicted_fps == pytest.approx(pred)
    finally:
        held_out.measured_fps = saved


def test_choice_on_real_measurements(measured: list[Candidate]) -> None:
    by_fps = sorted(measured, key=lambda c: c.measured_fps)
    slowest, quickest = by_fps[0], by_fps[-1]
    most_accurate = max(measured, key=lambda c: c.top1)
    # every config reaches: the most accurate wins
    assert choose(measured, slowest.measured_fps / 1.2) is most_accurate
    # only the fastest reaches
    target = (quickest.measured_fps + by_fps[-2].measured_fps) / 2 / 1.05
    assert choose(measured, target) is quickest
    # nothing reaches: no choice, the fastest is named
    assert choose(measured, quickest.measured_fps * 2) is None
    assert fastest(measured) is quickest
    # the margin counts: exactly the target is not enough
    assert choose([quickest], quickest.measured_fps) is None
    steps = ladder(measured, most_accurate)
    assert steps[-1] is most_accurate
    assert all(a.fps >= b.fps for a, b in zip(steps, steps[1:]))


def test_candidate_space() -> None:
    assert resolve_families([], "imagenet") == ["efficientnet_lite0", "efficientnet_lite1",
                                                "efficientnet_lite2"]
    cands = candidates(TuneOptions(30, ["mobilenet_v2"], "random", ["fp32"], [1, 2]))
    assert len(cands) == 6 * 5 * 2
    published = [c for c in cands if not c.top1_estimated]
    assert {(c.alpha, c.resolution) for c in published} >= {(1.0, 224), (0.35, 96)}
    # one published point: the resolution curve is borrowed, so a smaller rho costs accuracy
    assert top1_for("efficientnet_lite0", 1.0, 160)[0] < 75.1
    with pytest.raises(EdgecamError, match="unknown family"):
        resolve_families(["resnet"], "random")


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
    data = {"device": dev, "target_fps": 200.0, "chosen": entry, "margin": 0.05}
    path = profiles.save_profile(profiles.make_profile(data, [entry, fast]))
    assert path.parent == tmp_path and path.name.endswith(".json")
    found, loaded = profiles.this_device_profile()
    assert found == path and loaded["chosen"] == entry
    assert [c["fps"] for c in loaded["frontier"]] == [500.0, 300.0]
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(EdgecamError, match="cannot read profile"):
        profiles.load_profile(tmp_path / "bad.json")


# --- the real CLI -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict[str, str], Path]:
    """One real `edgecam tune` run on small MobileNetV2 configs (1 thread)."""
    tmp = tmp_path_factory.mktemp("tune-cli")
    env = {"EDGECAM_MODELS": str(tmp / "models"), "EDGECAM_PROFILES": str(tmp / "profiles")}
    out = tmp / "t.json"
    proc = run_cli("tune", "--target-fps", "150", "--family", "mobilenet_v2", "--weights",
                   "random", "--threads", "1", "--provider", "cpu", "--budget-s", "25",
                   "--json-out", str(out),
                   env=env, cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text()), env, tmp


def test_tune_cli_json(tuned: tuple[dict, dict[str, str], Path]) -> None:
    data, env, tmp = tuned
    assert {"device", "target_fps", "chosen", "candidates", "seconds"} <= set(data)
    keys = {"arch", "alpha", "resolution", "precision", "threads", "provider", "macs", "top1",
            "top1_estimated", "fps", "measured"}
    assert all(set(c) == keys and c["provider"] == "cpu" for c in data["candidates"])
    measured = [c for c in data["candidates"] if c["measured"]]
    assert 3 <= len(measured) <= len(data["candidates"]) // 3
    chosen = data["chosen"]
    if chosen is not None:
        assert set(chosen) == {"arch", "alpha", "resolution", "precision", "threads",
                               "provider", "fps", "top1", "macs", "model"}
        assert chosen["fps"] >= 150 * 1.05
        assert Path(chosen["model"]).is_file()
        better = [c for c in measured if c["top1"] > chosen["top1"]]
        assert all(c["fps"] < 150 * 1.05 for c in better)
    else:
        assert data["fastest"]["fps"] < 150 * 1.05
    assert list((tmp / "profiles").glob("*.json"))


def _video(path: Path, frames: int = 40) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (640, 480))
    rng = np.random.default_rng(0)
    for i in range(frames):
        img = np.full((480, 640, 3), (i * 5) % 255, np.uint8)
        img[100:300, 100:400] = rng.integers(0, 255, 3)
        writer.write(img)
    writer.release()
    return path


def test_live_profile_auto_cli(tuned: tuple[dict, dict[str, str], Path]) -> None:
    data, env, tmp = tuned
    video = _video(tmp / "clip.mp4")
    proc = run_cli("live", "--source", str(video), "--headless", "--max-frames", "20",
                   "--profile", "auto", env=env, cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    config = data["chosen"] or data["fastest"]
    name = f"mobilenet_v2-{config['alpha']}-{config['resolution']}"
    assert "running " + name in proc.stderr
    assert "20 frames" in proc.stderr


def test_live_profile_auto_without_profile(tmp_path: Path) -> None:
    proc = run_cli("live", "--source", "synthetic://64x48", "--headless", "--max-frames", "1",
                   "--profile", "auto", env={"EDGECAM_PROFILES": str(tmp_path)})
    line = assert_one_line_error(proc)
    assert "edgecam tune --target-fps" in line


@pytest.mark.parametrize("args, text", [
    (["--target-fps", "0"], "--target-fps must be > 0"),
    (["--target-fps", "-5", "--weights", "random"], "--target-fps must be > 0"),
    (["--target-fps", "30", "--family", "resnet"], "unknown family"),
    (["--target-fps", "30", "--precision", "int4"], "--precision"),
])
def test_tune_bad_input(args: list[str], text: str, tmp_path: Path) -> None:
    proc = run_cli("tune", *args, env={"EDGECAM_PROFILES": str(tmp_path)}, cwd=tmp_path)
    assert text in assert_one_line_error(proc)


def test_tune_refuses_a_provider_that_is_not_installed(tmp_path: Path) -> None:
    line = assert_one_line_error(run_cli(
        "tune", "--target-fps", "30", "--weights", "random", "--provider", "cpu,openvino",
        cwd=tmp_path, env={"EDGECAM_MODELS": str(tmp_path / "m"),
                           "EDGECAM_PROFILES": str(tmp_path / "p")}))
    assert "provider openvino is not in this onnxruntime" in line
    assert "onnxruntime-openvino" in line
