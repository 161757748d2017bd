"""The whole custom-class flow a user runs, through the real CLI: `capture` fills a folder from
a network stream, `train` makes models at two sizes, `classify` and `live` print the custom
labels, and `tune --models --data` chooses between the trained sizes by measured accuracy and
frame rate. The classes are real photos (scikit-image's brick and grass), shown to the stream
as a slow pan over the left part of each photo; the held-out pictures come from the right part.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import free_port, needs_torch, run_cli
from labelled_data import pictures_by_class, textures
from mjpeg_server import start_camera

CLASSES = ("brick", "grass")


def _pan(photo: np.ndarray, path: Path, frames: int = 30) -> Path:
    """A 160x120 window sliding over the left 60% of ``photo`` (grey -> BGR), 10 fps."""
    bgr = cv2.cvtColor(photo, cv2.COLOR_GRAY2BGR)
    h, w = bgr.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (160, 120))
    for i in range(frames):
        x = int((w * 0.6 - 160) * i / (frames - 1))
        y = int((h - 120) * (i % 7) / 6)
        writer.write(np.ascontiguousarray(bgr[y:y + 120, x:x + 160]))
    writer.release()
    return path


@needs_torch
@pytest.mark.slow
def test_capture_train_classify_live_and_tune(tmp_path: Path) -> None:
    from skimage import data as photos

    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    dataset = tmp_path / "yard"
    for label in CLASSES:
        clip = _pan(getattr(photos, label)(), tmp_path / f"{label}.mp4")
        port = free_port()
        camera = start_camera(port, fps=20, video=str(clip))
        try:
            proc = run_cli("capture", "--source", f"http://127.0.0.1:{port}/", "--label",
                           label, "--out", str(dataset), "--count", "10", "--every", "0.1")
        finally:
            camera.kill()
            camera.wait()
        assert proc.returncode == 0, proc.stderr
        assert len(list((dataset / label).glob("*.jpg"))) == 10

    proc = run_cli("train", str(dataset), "-r", "64,96", "-o", str(tmp_path / "m.onnx"),
                   env=env)
    assert proc.returncode == 0, proc.stderr
    models = sorted(tmp_path.glob("m-*.onnx"))
    assert [p.name for p in models] == ["m-64.onnx", "m-96.onnx"]

    _, heldout = textures(tmp_path / "photos", per_class=0, held_out=6, names=CLASSES)
    out = tmp_path / "heldout.jsonl"
    proc = run_cli("classify", str(heldout / "*" / "*.png"), "--model", str(models[1]),
                   "--json-out", str(out), env=env)
    assert proc.returncode == 0, proc.stderr
    truth = {str(p): c for p, c in pictures_by_class(heldout)}
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["top"][0]["label"] for r in rows} <= set(CLASSES)
    assert sum(truth[r["source"]] == r["top"][0]["label"] for r in rows) / len(rows) >= 0.75

    live = run_cli("live", "--source", str(tmp_path / "grass.mp4"), "--model", str(models[0]),
                   "--headless", "--max-frames", "5", env=env)
    assert live.returncode == 0, live.stderr
    assert any(label in live.stdout for label in CLASSES), live.stdout

    tune_json = tmp_path / "tune.json"
    proc = run_cli("tune", "--target-fps", "5", "--models", str(tmp_path / "m-*.onnx"),
                   "--data", str(heldout), "--budget-s", "120", "--no-save-profile",
                   "--json-out", str(tune_json), env=env)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(tune_json.read_text())
    chosen = result["chosen"]
    assert chosen is not None and chosen["resolution"] in (64, 96), proc.stdout
    measured = [c for c in result["candidates"] if c.get("measured")]
    assert measured and all(c["top1_source"] == "measured" for c in measured)
