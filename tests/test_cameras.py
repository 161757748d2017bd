"""Several cameras in one process: one engine, each camera its own capture, smoothing, stats,
preview channel and MQTT topics; frames ready together are inferred in one call."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import cv2
import numpy as np

from edgecam.pipeline.cameras import camera_results
from edgecam.pipeline.loop import Pipeline
from edgecam.pipeline.model import Model
from edgecam.pipeline.result import Result
from edgecam.runtime.engine import Engine
from edgecam.sinks.mqtt import camera_name
from edgecam.sources.files import SyntheticSource
from edgecam.sources.frames import Stream

from conftest import ROOT, Subscriber, free_port, wait_for
from tiny_models import tiny_classifier


class Frames(SyntheticSource):
    """A short file-like pattern: every frame, then the end."""

    def __init__(self, uri: str, size: tuple[int, int], count: int) -> None:
        super().__init__(uri, size, count=7)
        self.count = count

    def __iter__(self):
        for i, frame in enumerate(super().__iter__()):
            if i == self.count:
                return
            yield frame


def cameras(engine: Engine, batch: bool, smoothing: float) -> list[list[Result]]:
    sources = [Frames("a", (96, 72), 12), Frames("b", (64, 48), 9)]
    pipelines = []
    for index, source in enumerate(sources):
        pipeline = Pipeline(Model(engine, top_k=3, smoothing=smoothing))
        pipelines.append(pipeline.attach(Stream.of(source, index), source))
    done = [0, 0]
    per_camera: list[list[Result]] = [[], []]
    for result in camera_results(pipelines, sources, batch=batch, done=done):
        assert result.stream is not None
        per_camera[result.stream.index].append(result)
    assert done == [12, 9]
    return per_camera


def test_cameras_batched_or_not_give_each_camera_its_own_results(tmp_path: Path):
    """Batched across cameras or one call each: the same predictions, each camera's smoothing
    and stats its own (a camera's results equal a run of that camera alone)."""
    engine = Engine(tiny_classifier(tmp_path / "t.onnx", resolution=32), threads=1)
    batched, single = cameras(engine, True, 0.7), cameras(engine, False, 0.7)
    for camera, (got, want) in enumerate(zip(batched, single)):
        assert [r.frame.index for r in got] == list(range(len(got)))
        assert {r.stream.index for r in got} == {camera}
        assert [r.stats.frames for r in got] == list(range(1, len(got) + 1))
        for a, b in zip(got, want):
            assert [p.index for p in a.top] == [p.index for p in b.top]
            np.testing.assert_allclose([p.score for p in a.top], [p.score for p in b.top],
                                       rtol=1e-5)
    source = Frames("b", (64, 48), 9)
    alone = list(Pipeline(Model(engine, top_k=3, smoothing=0.7)).results(source))
    assert [[p.index for p in r.top] for r in alone] == [
        [p.index for p in r.top] for r in batched[1]]


def test_live_two_cameras_preview_mqtt_and_json_lines(tmp_path: Path, broker):
    """The real CLI with two paced synthetic cameras: JSON lines carry each source, the
    preview serves each camera and a grid, MQTT has topics per camera."""
    model = tiny_classifier(tmp_path / "t.onnx", resolution=32)
    port = free_port()
    jl = tmp_path / "p.jsonl"
    uris = ["synthetic://160x120?fps=20", "synthetic://96x72?fps=10"]
    sub = Subscriber(broker.port, "cams/#")
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgecam", "live", "--source", uris[0], "--source", uris[1],
         "--model", str(model), "--headless", "--serve", str(port), "--json-out", str(jl),
         "--mqtt", f"mqtt://127.0.0.1:{broker.port}/cams", "--threads", "1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"

        def stats(camera: int) -> dict | None:
            try:
                with urllib.request.urlopen(f"{base}/stats.json?camera={camera}", timeout=5) as r:
                    data = json.loads(r.read())
            except OSError:
                return None
            return data if data["frames"] >= 5 else None

        first, second = wait_for(lambda: stats(0), 60), wait_for(lambda: stats(1), 60)
        assert first["source"] == uris[0] and second["source"] == uris[1]
        assert first["cameras"] == second["cameras"] == 2
        with urllib.request.urlopen(f"{base}/", timeout=5) as r:
            assert "grid" in r.read().decode()
        with urllib.request.urlopen(f"{base}/frame.jpg?camera=1", timeout=5) as r:
            image = cv2.imdecode(np.frombuffer(r.read(), np.uint8), cv2.IMREAD_COLOR)
            assert image.shape == (72, 96, 3)
        topics = wait_for(lambda: {t for t in sub.topics if t.endswith("/prediction")}
                          if len({t for t in sub.topics if t.endswith("/prediction")}) >= 2
                          else None, 30)
        assert topics and {t.split("/")[-2] for t in topics} == {camera_name(u) for u in uris}
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        sub.close()
    assert proc.returncode == 143, err
    lines = [json.loads(line) for line in jl.read_text().splitlines()]
    assert {line["source"] for line in lines} == set(uris)
    for uri in uris:
        frames = [line["frame"] for line in lines if line["source"] == uri]
        assert frames == sorted(frames) and len(frames) >= 5
    assert all(uri in err for uri in uris)  # a line per camera in the summary
