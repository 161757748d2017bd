"""Issue 22, careless use of file runs: through the real CLI with real files, real sessions and
a real FIFO. Each test names its case."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import assert_one_line_error, run_cli, wait_for
from tiny_models import tiny_classifier


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    return str(tiny_classifier(tmp_path_factory.mktemp("tiny") / "tiny.onnx", resolution=32))


def make_video(path: Path, frames: int, size=(64, 48)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), (i * 9) % 256, np.uint8))
    writer.release()
    return path


def make_picture(path: Path, bgr=(0, 0, 200), size=(40, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((size[1], size[0], 3), bgr, np.uint8))
    return path


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- 14: --cluster banana; 28: bounds of --batch, --workers, --jobs ---------------------------


@pytest.mark.parametrize("args, text", [
    (["--cluster", "banana"], "--cluster takes a Dask scheduler address"),
    (["--cluster", "tcp://host"], "--cluster takes a Dask scheduler address"),
    (["--cluster", "tcp://host:99999"], "--cluster takes a Dask scheduler address"),
    (["--batch", "20000"], "--batch must be at most 32"),
    (["--workers", "5000"], "--workers must be at most 64"),
    (["--jobs", "100000"], "--jobs must be at most 64"),
    (["--cluster", "tcp://127.0.0.1:1", "--chunk", "0"], "--chunk must be >= 1"),
])
def test_bad_counts_and_cluster_addresses_are_one_line(args, text, tiny, tmp_path):
    """Cases 14 and 28: refused in one line before the model or any input is opened."""
    picture = make_picture(tmp_path / "a.png")
    line = assert_one_line_error(run_cli("classify", str(picture), "--model", tiny, *args,
                                         "--json-out", str(tmp_path / "o.jsonl")))
    assert text in line
    assert not (tmp_path / "o.jsonl").exists()
