"""Execution providers: real onnxruntime sessions on the CPU provider, and the one-line errors
for providers this onnxruntime does not have (CUDA, TensorRT, OpenVINO are absent here); and the
apt line for a system library OpenCV cannot load."""

from __future__ import annotations

import json

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from edgecam.runtime.engine import Engine
from edgecam.runtime.providers import (
    CPU,
    PROVIDERS,
    parse_provider,
    parse_providers,
    session_providers,
)
from edgecam.util.errors import EdgecamError
from edgecam.util.syslibs import missing_library_hint

from conftest import assert_one_line_error, run_cli
from tiny_models import tiny_classifier

TRT, CUDA = "TensorrtExecutionProvider", "CUDAExecutionProvider"


def test_parse_names_modifiers_and_lists():
    assert str(parse_provider("TensorRT:FP16")) == "tensorrt:fp16"
    assert str(parse_provider(None)) == "auto"
    assert [str(p) for p in parse_providers("cpu, openvino:gpu:fp16")] == [
        "cpu", "openvino:fp16:gpu"]
    with pytest.raises(EdgecamError, match="unknown provider 'tpu'; choose from auto, cpu"):
        parse_provider("tpu")
    with pytest.raises(EdgecamError, match="provider cuda has no option fp16"):
        parse_provider("cuda:fp16")


@pytest.mark.parametrize("choice", ["cpu", "auto"])
def test_cpu_provider_runs_a_real_session(tmp_path, choice):
    engine = Engine(tiny_classifier(tmp_path / "t.onnx", resolution=32), 1, choice)
    assert engine.provider == "cpu"
    assert engine.session.get_providers() == [CPU]


@pytest.mark.parametrize("name, package", [
    ("cuda", "onnxruntime-gpu"),
    ("tensorrt:fp16", "TensorRT"),
    ("openvino", "onnxruntime-openvino"),
    ("xnnpack", "--use_xnnpack"),
])
def test_absent_provider_names_its_package(tmp_path, name, package):
    if PROVIDERS[name.split(":")[0]].ort_name in ort.get_available_providers():
        pytest.skip(f"this onnxruntime has {name}")
    model = tiny_classifier(tmp_path / "t.onnx", resolution=32)
    with pytest.raises(EdgecamError) as err:
        Engine(model, 1, name)
    message = str(err.value)
    assert "\n" not in message
    assert f"provider {name.split(':')[0]} is not in this onnxruntime (it has: " in message
    assert package in message


def test_tensorrt_gets_an_engine_cache_fp16_and_cuda_behind_it(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECAM_TRT_CACHE", str(tmp_path / "trt"))
    have = [TRT, CUDA, CPU]
    fp16 = session_providers(parse_provider("tensorrt:fp16"), 2, have)
    assert [name for name, _ in fp16] == [TRT, CUDA, CPU]
    trt = fp16[0][1]
    assert trt["trt_engine_cache_enable"] == "True"
    assert trt["trt_engine_cache_path"] == str(tmp_path / "trt")
    assert (tmp_path / "trt").is_dir()
    assert trt["trt_fp16_enable"] == "True"
    assert session_providers(parse_provider("tensorrt"), 2, have)[0][1]["trt_fp16_enable"] == \
        "False"


def test_auto_prefers_a_gpu_but_not_tensorrt():
    auto = parse_provider("auto")
    assert [n for n, _ in session_providers(auto, 2, [TRT, CUDA, CPU])] == [CUDA, CPU]
    assert [n for n, _ in session_providers(auto, 2, ["OpenVINOExecutionProvider", CPU])] == \
        [CPU]
    openvino = session_providers(parse_provider("openvino:gpu:fp16"), 2,
                                 ["OpenVINOExecutionProvider", CPU])
    assert openvino[0][1] == {"device_type": "GPU", "precision": "FP16"}


def test_cli_names_the_package_or_runs_on_the_cpu(tmp_path):
    model = str(tiny_classifier(tmp_path / "t.onnx", resolution=32))
    image = tmp_path / "red.png"
    cv2.imwrite(str(image), np.full((40, 40, 3), (0, 0, 255), np.uint8))
    line = assert_one_line_error(run_cli("classify", str(image), "--model", model,
                                         "--provider", "cuda"))
    assert "provider cuda is not in this onnxruntime" in line and "onnxruntime-gpu" in line
    bench = run_cli("bench", model, "--frames", "3", "--provider", "cpu", "--json")
    assert bench.returncode == 0, bench.stderr
    assert json.loads(bench.stdout)["provider"] == "cpu"


def test_missing_system_library_names_the_apt_packages():
    exc = ImportError("libGL.so.1: cannot open shared object file: No such file or directory",
                      name="cv2")
    hint = missing_library_hint(exc)
    assert hint == ("cv2 cannot load the system library libGL.so.1; install it with: sudo apt "
                    "install libgl1 libglib2.0-0 libsm6 libice6 libx11-6 libxext6 libxcb1")
    assert missing_library_hint(ImportError("No module named 'cv2'")) is None
