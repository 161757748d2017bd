"""``classify --cluster`` on a real Dask cluster on 127.0.0.1: a ``dask scheduler`` and two
``dask worker`` processes started here, one of them killed mid-run; the JSON lines and the
annotated outputs must equal a local run's. Also the one-line failures: no scheduler, workers
without edgecam."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecam.cluster.tasks import plan_tasks
from edgecam.commands.classify import classify_inputs
from edgecam.commands.options import ClassifyOptions
from edgecam.run.predict import predict

from conftest import assert_one_line_error, free_port, run_cli, wait_for
from tiny_models import tiny_classifier, with_rejection

distributed = pytest.importorskip("distributed")
NO_EDGECAM = [sys.executable, "-c",
              "import sys; sys.modules['edgecam'] = None; "
              "from distributed.cli.dask_worker import main; sys.argv[0] = 'dask-worker'; main()"]


def test_tasks_cover_every_frame_once():
    units = [(["x.jpg", "y.png", "z.png"], True, 0, None), (["a.mp4"], False, 0, 100),
             (["b.mp4"], False, 0, None), (["w.jpg"], True, 3, None), (["c.mp4"], False, 0, 40)]
    tasks = plan_tasks(units, 2 * 20)
    assert [(t.unit, t.paths[0], t.start, t.stop) for t in tasks] == [
        (0, "x.jpg", 0, None), (1, "a.mp4", 0, 40), (1, "a.mp4", 40, 80),
        (1, "a.mp4", 80, None), (2, "b.mp4", 0, None), (3, "w.jpg", 3, None),
        (4, "c.mp4", 0, None)]
    assert [t.number for t in tasks] == list(range(7))
    assert tasks[0].paths == ("x.jpg", "y.png", "z.png") and tasks[0].pictures
    assert [t.paths for t in plan_tasks(units[:1], 2)] == [("x.jpg", "y.png"), ("z.png",)]
    assert [t.start for t in plan_tasks(units[:1], 2)] == [0, 2]


def write_video(path: Path, frames: int, size=(96, 72)) -> Path:
    """Colour that drifts frame by frame, so top-1 of the tiny model changes along the way."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, size)
    rng = np.random.default_rng(0)
    for i in range(frames):
        img = rng.integers(0, 6, (size[1], size[0], 3), dtype=np.uint8)
        img += np.array([(i * 7) % 190, (i * 3) % 190, (255 - i * 5) % 190], np.uint8)
        writer.write(img)
    writer.release()
    return path


def same_labels(a: np.ndarray, b: np.ndarray) -> bool:
    """The top third (the top-1 line of the overlay) is identical."""
    return a.shape == b.shape and np.array_equal(a[:a.shape[0] // 3], b[:b.shape[0] // 3])


def lines_of(path: Path) -> list[dict]:
    text = path.read_text()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.slow
def test_cluster_run_survives_a_dead_worker_and_equals_a_local_run(cluster, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_video(inputs / "long.mp4", 400)
    write_video(inputs / "short.mp4", 30, size=(64, 48))
    for name in ("a", "b"):
        cv2.imwrite(str(inputs / f"{name}.png"), np.full((40, 50, 3), ord(name) % 200, np.uint8))
    # with a rejection rule that answers about half the frames "unknown", as a trained model's
    plain = tiny_classifier(tmp_path / "plain.onnx", resolution=32)
    scores = [r.top[0].score for r in predict(str(inputs / "long.mp4"), plain)]
    model = with_rejection(plain, tmp_path / "tiny.onnx", float(np.median(scores)))
    workers = [cluster.worker(), cluster.worker()]
    cluster.wait_workers(2)

    local = classify_inputs(ClassifyOptions(inputs=[str(inputs)], model=str(model),
                                     output=str(tmp_path / "local"),
                                     json_out=str(tmp_path / "local.jsonl"), top_k=1,
                                     progress=False))
    jl = tmp_path / "cluster.jsonl"
    seen_at_kill: list[int] = []

    def written() -> int:
        """Lines in the JSON lines file so far (it is written under a temporary name)."""
        return sum(p.read_text().count("\n") for p in tmp_path.glob(".cluster*partial*"))

    def kill_one_worker() -> None:
        """SIGKILL a worker as soon as the first results are written: its running and
        queued tasks must run again on the other one."""
        if wait_for(written, 120, every=0.005):
            seen_at_kill.append(written())
            workers[0].send_signal(signal.SIGKILL)

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    remote = classify_inputs(ClassifyOptions(inputs=[str(inputs)], model=str(model),
                                      output=str(tmp_path / "remote"),
                                      json_out=str(jl), top_k=1, progress=False,
                                      cluster=cluster.address, chunk=16))
    killer.join()
    assert workers[0].wait(timeout=10) == -signal.SIGKILL
    assert seen_at_kill and seen_at_kill[0] < 432  # killed mid-run, not after it
    assert remote.frames == local.frames == 432
    assert lines_of(jl) == lines_of(tmp_path / "local.jsonl")
    assert remote.top1 == local.top1
    answers = [line["label"] for line in lines_of(jl)]
    assert 100 < answers.count("unknown") < 332, answers.count("unknown")
    # the label panel (top) is the same picture; the local run's footer shows its own timing
    for name in ("a.png", "b.png"):
        assert same_labels(cv2.imread(str(tmp_path / "remote" / name)),
                           cv2.imread(str(tmp_path / "local" / name)))
    # videos: every frame annotated like the local one (mp4v is lossy and spreads the local
    # footer's pixels over the frame: the label panel is near the local one, far from the
    # bare input)
    for name in ("long", "short"):
        got = cv2.VideoCapture(str(tmp_path / "remote" / f"{name}.labeled.mp4"))
        want = cv2.VideoCapture(str(tmp_path / "local" / f"{name}.labeled.mp4"))
        bare = cv2.VideoCapture(str(inputs / f"{name}.mp4"))
        frames = 0
        while True:
            ok_got, a = got.read()
            ok_want, b = want.read()
            assert ok_got == ok_want
            if not ok_got:
                break
            raw = bare.read()[1]
            top = slice(0, a.shape[0] // 3)
            to_local = np.abs(a[top].astype(int) - b[top]).mean()
            assert to_local < np.abs(a[top].astype(int) - raw[top]).mean() / 3
            frames += 1
        assert frames == (400 if name == "long" else 30)


@pytest.mark.slow
def test_unreachable_scheduler_and_workers_without_edgecam_are_one_line(cluster, tmp_path):
    model = tiny_classifier(tmp_path / "tiny.onnx", resolution=32)
    video = write_video(tmp_path / "v.mp4", 10)
    nobody = f"tcp://127.0.0.1:{free_port()}"
    line = assert_one_line_error(run_cli("classify", str(video), "--model", str(model),
                                         "--cluster", nobody))
    assert "cannot reach the Dask scheduler" in line and nobody in line

    cluster.worker(NO_EDGECAM)
    cluster.wait_workers(1)
    line = assert_one_line_error(run_cli("classify", str(video), "--model", str(model),
                                         "--cluster", cluster.address))
    assert "cannot import edgecam" in line and "edgecam[cluster]" in line
