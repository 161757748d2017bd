"""The product through its real entry point: classify, live and bench on real video files the
tests make, the real pretrained default, and every bad input ending in one line."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from edgecam.commands.democlip import make_clip

from conftest import ROOT, assert_one_line_error, run_cli, wait_for
from tiny_models import tiny_classifier

CAT = {281, 282, 285}  # tabby, tiger cat, Egyptian cat


def write_photo(path: Path, name: str) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(getattr(data, name)(), cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture(scope="module")
def cat_clip(tmp_path_factory) -> Path:
    """45 frames, 320x240, 15 fps, of chelsea the cat with a slow zoom."""
    d = tmp_path_factory.mktemp("clip")
    photo = write_photo(d / "chelsea.png", "chelsea")
    make_clip([photo], d / "cat.mp4", seconds_each=3.0, fps=15, size=(320, 240))
    return d / "cat.mp4"


def read_jsonl(path: Path) -> list[dict]:
    text = path.read_text()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def video_info(path: Path) -> tuple[int, int, int, float]:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    info = (n, int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            cap.get(cv2.CAP_PROP_FPS))
    cap.release()
    return info


def test_classify_video_keeps_every_frame(cat_clip, lite0_onnx, tmp_path):
    out, jl = tmp_path / "out.mp4", tmp_path / "p.jsonl"
    proc = run_cli("classify", str(cat_clip), "--model", str(lite0_onnx), "--output", str(out),
                   "--json-out", str(jl), "--top-k", "3")
    assert proc.returncode == 0, proc.stderr
    assert video_info(out) == (45, 320, 240, pytest.approx(15.0))
    records = read_jsonl(jl)
    assert [r["frame"] for r in records] == list(range(45))
    assert all(r["source"] == str(cat_clip) and len(r["top"]) == 3 for r in records)
    assert set(records[0]["top"][0]) == {"label", "index", "score"}
    cats = sum(r["top"][0]["index"] in CAT for r in records)
    assert cats >= 0.9 * len(records)


def test_classify_images_to_a_directory(lite0_onnx, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("chelsea", "coffee", "rocket"):
        write_photo(photos / f"{name}.jpg", name)
    out, jl = tmp_path / "annotated", tmp_path / "p.jsonl"
    proc = run_cli("classify", str(photos), "--model", str(lite0_onnx), "--output", str(out),
                   "--json-out", str(jl))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["chelsea.jpg", "coffee.jpg", "rocket.jpg"]
    records = read_jsonl(jl)
    assert [r["frame"] for r in records] == [0, 1, 2]
    by_name = {Path(r["source"]).stem: r["top"][0]["label"] for r in records}
    assert by_name["chelsea"] in {"tabby", "tiger cat", "Egyptian cat"}
    assert by_name["coffee"] in {"espresso", "cup", "coffee mug"}
    # without outputs it prints one line per image
    proc = run_cli("classify", str(photos / "coffee.jpg"), "--model", str(lite0_onnx))
    assert proc.returncode == 0 and "espresso" in proc.stdout


def test_videos_in_parallel_keep_order_and_every_frame(lite0_onnx, tmp_path):
    """Several videos side by side (one per core): the same predictions as one at a time,
    JSON lines in input order, every frame in each annotated video."""
    clips = tmp_path / "clips"
    clips.mkdir()
    for name, frames in (("coffee", 20), ("rocket", 12), ("chelsea", 16)):
        write_photo(tmp_path / f"{name}.png", name)
        make_clip([tmp_path / f"{name}.png"], clips / f"{name}.mp4", seconds_each=frames / 10,
                  fps=10, size=(200, 150))
    runs = {}
    for jobs in ("1", "2"):
        out, jl = tmp_path / f"out{jobs}", tmp_path / f"p{jobs}.jsonl"
        proc = run_cli("classify", str(clips), "--model", str(lite0_onnx), "--output", str(out),
                       "--json-out", str(jl), "--jobs", jobs, "--top-k", "1")
        assert proc.returncode == 0, proc.stderr
        runs[jobs] = read_jsonl(jl)
        assert {p.name: video_info(p)[0] for p in out.iterdir()} == {
            "chelsea.labeled.mp4": 16, "coffee.labeled.mp4": 20, "rocket.labeled.mp4": 12}
    order = [(Path(r["source"]).stem, r["frame"]) for r in runs["2"]]
    assert order == ([("chelsea", i) for i in range(16)] + [("coffee", i) for i in range(20)]
                     + [("rocket", i) for i in range(12)])
    assert [r["top"][0]["index"] for r in runs["1"]] == [r["top"][0]["index"] for r in runs["2"]]


def test_one_video_with_two_inferences_at_once_matches_one(lite0_onnx, tmp_path):
    """``--workers 2`` (the default on two cores) keeps every frame in order with the
    predictions of ``--workers 1``, in the JSON lines and the annotated video."""
    for name in ("coffee", "rocket", "chelsea"):
        write_photo(tmp_path / f"{name}.png", name)
    clip = tmp_path / "clip.mp4"
    make_clip([tmp_path / f"{n}.png" for n in ("coffee", "rocket", "chelsea")], clip,
              seconds_each=1.0, fps=12, size=(320, 240))
    runs = {}
    for workers in ("1", "2"):
        out, jl = tmp_path / f"out{workers}.mp4", tmp_path / f"p{workers}.jsonl"
        proc = run_cli("classify", str(clip), "--model", str(lite0_onnx), "--threads", "2",
                       "--workers", workers, "--output", str(out), "--json-out", str(jl))
        assert proc.returncode == 0, proc.stderr
        runs[workers] = read_jsonl(jl)
        assert video_info(out)[0] == 36
    assert [r["frame"] for r in runs["2"]] == list(range(36))
    for one, two in zip(runs["1"], runs["2"]):
        assert [t["index"] for t in one["top"]] == [t["index"] for t in two["top"]]
        assert one["top"][0]["score"] == pytest.approx(two["top"][0]["score"], abs=1e-5)
    assert {r["top"][0]["label"] for r in runs["2"]} & {"espresso", "cup", "coffee mug"}


def test_default_model_on_a_six_subject_clip(lite0_onnx, tmp_path):
    """The quality bar: a 640x480 30 fps clip of real photos, per subject >= 80% acceptable
    top-1 frames, through the same command a user runs."""
    labels = json.loads((ROOT / "calibration" / "labels.json").read_text())
    photos = [ROOT / "calibration" / "images" / name for name in sorted(labels)]
    assert len(photos) >= 6
    clip = tmp_path / "subjects.mp4"
    segments = make_clip(photos, clip, seconds_each=1.0, fps=30, size=(640, 480))
    out, jl = tmp_path / "out.mp4", tmp_path / "p.jsonl"
    proc = run_cli("classify", str(clip), "--model", str(lite0_onnx), "--output", str(out),
                   "--json-out", str(jl))
    assert proc.returncode == 0, proc.stderr
    records = read_jsonl(jl)
    assert len(records) == segments[-1].last + 1
    for seg in segments:
        accept = set(labels[Path(seg.photo).name]["accept"])
        tops = [records[i]["top"][0]["index"] for i in range(seg.first, seg.last + 1)]
        share = sum(t in accept for t in tops) / len(tops)
        assert share >= 0.8, (seg.photo, share, Counter(tops).most_common(3))


def test_live_on_a_video_file_headless(cat_clip, lite0_onnx, tmp_path):
    jl, out = tmp_path / "live.jsonl", tmp_path / "live.mp4"
    proc = run_cli("live", "--source", str(cat_clip), "--model", str(lite0_onnx),
                   "--max-frames", "12", "--json-out", str(jl), "--output", str(out),
                   env={"DISPLAY": "", "WAYLAND_DISPLAY": ""})
    assert proc.returncode == 0, proc.stderr
    assert "running headless" in proc.stderr and proc.stderr.count("headless") == 1
    assert len(read_jsonl(jl)) == 12
    assert video_info(out)[0] == 12


def test_live_headless_without_outputs_prints_label_changes(cat_clip, lite0_onnx):
    proc = run_cli("live", "--source", str(cat_clip), "--model", str(lite0_onnx),
                   "--max-frames", "10", env={"DISPLAY": "", "WAYLAND_DISPLAY": ""})
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith("frame 0: ") and first.split(": ")[1].split(" (")[0] in {
        "tabby", "tiger cat", "Egyptian cat"}


def test_live_newest_frame_from_a_fast_source(lite0_onnx, tmp_path):
    """A source faster than the model: frames are skipped, never queued."""
    jl = tmp_path / "live.jsonl"
    proc = run_cli("live", "--source", "synthetic://640x480?fps=400", "--model",
                   str(lite0_onnx), "--headless", "--max-frames", "20", "--json-out", str(jl))
    assert proc.returncode == 0, proc.stderr
    frames = [r["frame"] for r in read_jsonl(jl)]
    assert frames == sorted(frames) and len(frames) == 20
    assert frames[-1] > 20  # some frames were dropped rather than processed late
    assert "dropped" in proc.stderr


def test_bench_json(lite0_onnx):
    proc = run_cli("bench", str(lite0_onnx), "--frames", "20", "--threads", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert {"model", "fps", "latency_ms", "stages_ms", "rss_mb"} <= set(result)
    assert set(result["stages_ms"]) == {"decode", "preprocess", "infer", "postprocess",
                                        "overlay"}
    assert result["fps"] > 0 and result["latency_ms"]["p90"] >= result["latency_ms"]["p50"]
    assert result["frames"] == 20 and result["model"] == "efficientnet_lite0-1.0-224"


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_finalizes_outputs(lite0_onnx, tmp_path, sig, code):
    """Stopped mid-run: the video plays, the JSON lines end on a whole line, exit 128+N."""
    long_clip = tmp_path / "long.mp4"
    write_photo(tmp_path / "c.png", "coffee")
    make_clip([tmp_path / "c.png"], long_clip, seconds_each=60, fps=30, size=(320, 240))
    out, jl = tmp_path / "out.mp4", tmp_path / "p.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgecam", "classify", str(long_clip), "--model", str(lite0_onnx),
         "--output", str(out), "--json-out", str(jl)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    def written() -> int:
        """Bytes of JSON lines so far: they are written under a temporary name until whole."""
        return sum(p.stat().st_size for p in tmp_path.glob(".p.edgecam-partial-*.jsonl"))

    assert wait_for(lambda: written() >= 2000 or proc.poll() is not None, 120)
    assert proc.poll() is None, "the run ended before it was interrupted"
    assert not out.exists() and not jl.exists()  # nothing at the final paths until whole
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    records = read_jsonl(jl)
    assert 0 < len(records) < 1800
    frames, width, height, _ = video_info(out)
    assert (width, height) == (320, 240) and frames >= len(records) - 5


# --- bad input: one line, non-zero exit, nothing written lost -------------------------------


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    (d / "corrupt.mp4").write_bytes(b"\x00\x01not a video" * 100)
    (d / "model.onnx").write_bytes(b"not onnx")
    (d / "empty").mkdir()
    (d / "file.txt").write_text("x")
    tiny_classifier(d / "wrong.onnx", resolution=48, input_shape=["N", 3, 64, 64])
    write_photo(d / "cat.jpg", "chelsea")
    return d


@pytest.mark.parametrize("args, needle", [
    (["classify", "{d}/missing.mp4"], "no such file"),
    (["classify", "{d}/corrupt.mp4", "--model", "{lite0}"], "corrupt.mp4"),
    (["classify", "{d}/cat.jpg", "--model", "{d}/model.onnx"], "not a loadable ONNX"),
    (["classify", "{d}/cat.jpg", "--model", "{d}/wrong.onnx"], "metadata says"),
    (["classify", "{d}/empty", "--model", "{lite0}"], "empty"),
    (["classify", "{d}/cat.jpg", "--model", "{lite0}", "--json-out", "{d}/file.txt/p.jsonl"],
     "cannot write"),
    (["classify", "{d}/cat.jpg", "--model", "{lite0}", "--output", "{d}/file.txt/annotated"],
     "cannot write"),
    (["classify", "{d}/cat.jpg", "--model", "{lite0}", "--output", "{d}/o.mp4"],
     "exactly one input video"),
    (["live", "--source", "9", "--model", "{lite0}", "--headless"], "camera"),
    (["live", "--source", "9", "--model", "{lite0}"], "camera"),  # no display: still one line
    (["classify", "{d}/cat.jpg", "--model", "{lite0}", "--output", "{d}/x.txt"], "neither"),
    (["classify", "{d}/cat.jpg", "--model", "{lite0}", "--threads", "0"], "--threads"),
    (["live", "--source", "csi://0", "--model", "{lite0}", "--headless"], "GStreamer"),
    (["live", "--source", "picam://0", "--model", "{lite0}", "--headless"], "Picamera2"),
    (["live", "--source", "http://127.0.0.1:{port}/cam", "--model", "{lite0}", "--headless"],
     "after 3 tries"),
    (["bench", "{d}/missing.onnx"], "not found"),
    (["classify", "{d}/cat.jpg", "--model", "{lite0}", "--top-k", "0"], "--top-k"),
])
def test_bad_input_is_one_line(bad_inputs, lite0_onnx, args, needle):
    with socket.socket() as s:  # a port nobody listens on: a stream that never connects
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [a.format(d=bad_inputs, lite0=lite0_onnx, port=port) for a in args]
    proc = run_cli(*args, timeout=60, env={"DISPLAY": "", "WAYLAND_DISPLAY": ""})
    line = assert_one_line_error(proc)
    assert needle.lower() in line.lower(), line


def test_unknown_model_name_without_export_hint(tmp_path):
    """A real picture, so the run gets as far as the model name: an unknown architecture is
    named as such, without suggesting to install torch or to export anything."""
    photo = write_photo(tmp_path / "x.jpg", "chelsea")
    proc = run_cli("classify", str(photo), "--model", "nonet-1.0-224",
                   env={"EDGECAM_MODELS": str(tmp_path / "models")})
    line = assert_one_line_error(proc)
    assert "unknown model 'nonet-1.0-224'" in line and "mobilenet_v2" in line, line
    assert "pip install" not in line and "export" not in line
    assert not (tmp_path / "models").exists()


def test_frames_are_real_pictures(cat_clip):
    """Sanity of the generated clip itself: decodable, not blank."""
    cap = cv2.VideoCapture(str(cat_clip))
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.shape == (240, 320, 3) and np.std(frame) > 20
