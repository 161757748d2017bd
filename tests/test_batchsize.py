"""The frames per call of a file run: measured with a real session, remembered per model file,
thread plan and machine, and measured again when the model file changes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from edgecam.runtime import batchsize
from edgecam.runtime.engine import Engine

from tiny_models import tiny_classifier


def test_pick_takes_a_larger_size_only_for_a_clear_gain():
    assert batchsize.pick({1: 10.0, 2: 9.8, 4: 9.7, 8: 12.0}) == 1  # within 5%: the smallest
    assert batchsize.pick({1: 10.0, 2: 9.0, 4: 8.0, 8: 7.9}) == 4  # 8 is not 5% better than 4
    assert batchsize.pick({1: 7.0, 4: 9.0}) == 1


def test_measured_once_then_remembered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    model = tiny_classifier(tmp_path / "m.onnx", resolution=32)
    engine = Engine(model, threads=1)

    short = batchsize.choose_batch(engine, 2, frames=batchsize.MIN_FRAMES - 1)
    assert (short.size, short.ms_per_frame) == (1, {}) and "not measured" in short.how
    assert not batchsize.cache_file().exists()

    first = batchsize.choose_batch(engine, 2, frames=batchsize.MIN_FRAMES)
    assert first.how == batchsize.MEASURED_NOW
    assert set(first.ms_per_frame) == set(batchsize.SIZES)
    assert all(ms > 0 for ms in first.ms_per_frame.values())
    assert first.size == batchsize.pick(first.ms_per_frame)
    saved = json.loads(batchsize.cache_file().read_text())
    assert [e["size"] for e in saved.values()] == [first.size]

    again = batchsize.choose_batch(engine, 2, frames=None)  # even a short run reuses it
    assert (again.size, again.how) == (first.size, "measured here before")
    assert again.ms_per_frame == pytest.approx(first.ms_per_frame, abs=1e-3)
    # another plan is another measurement; a rewritten model file too
    assert batchsize.cache_key(engine, 1) != batchsize.cache_key(engine, 2)
    stat = model.stat()
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert batchsize.choose_batch(engine, 2, frames=None).how != "measured here before"


def test_a_broken_cache_file_is_measured_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    batchsize.cache_file().parent.mkdir(parents=True)
    batchsize.cache_file().write_text("{not json")
    engine = Engine(tiny_classifier(tmp_path / "m.onnx", resolution=32), threads=1)
    assert batchsize.choose_batch(engine, 1, frames=10_000).how == batchsize.MEASURED_NOW
    assert len(json.loads(batchsize.cache_file().read_text())) == 1


def test_classify_says_which_batch_and_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Through the CLI: a long video measures, the next run remembers, --batch overrides."""
    import cv2
    import numpy as np

    from conftest import assert_one_line_error, run_cli

    video = tmp_path / "long.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 48))
    for i in range(batchsize.MIN_FRAMES):
        writer.write(np.full((48, 64, 3), i % 256, np.uint8))
    writer.release()
    model = tiny_classifier(tmp_path / "m.onnx", resolution=32)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the CLI's too
    args = ("classify", str(video), "--model", str(model), "--json-out", str(tmp_path / "p.jsonl"))
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    assert "measured here now (ms/frame 1: " in first.stderr
    size = next(iter(json.loads(batchsize.cache_file().read_text()).values()))["size"]
    assert f"edgecam: --batch {size}, measured here now" in first.stderr
    second = run_cli(*args)  # remembered: nothing to say
    assert second.returncode == 0 and "--batch" not in second.stderr
    fixed = run_cli(*args, "--batch", "3")
    assert fixed.returncode == 0 and "measured" not in fixed.stderr
    lines = (tmp_path / "p.jsonl").read_text().splitlines()
    assert [json.loads(x)["frame"] for x in lines] == list(range(batchsize.MIN_FRAMES))
    assert "--batch must be >= 1" in assert_one_line_error(run_cli(*args, "--batch", "0"))
