"""Issue 22, careless use of file runs: through the real CLI with real files, real sessions and
a real FIFO. Each test names its case."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import assert_one_line_error, finish, needs_torch, run_cli
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


# --- 31: a tune that chose nothing keeps a profile that chose something ----------------------


@pytest.mark.slow
def test_tune_that_chose_nothing_keeps_the_profile_that_chose(tmp_path):
    """Case 31: ``--target-fps 1e9`` chooses nothing; the device's profile that chose a config
    stays as it was (byte for byte), and the run says it was kept."""
    from edgecam.tune import profiles

    tiny_classifier(tmp_path / "tiny-32.onnx", 32)
    env = {"EDGECAM_PROFILES": str(tmp_path / "profiles")}
    entry = {"arch": "mobilenet_v2", "alpha": 0.35, "resolution": 32, "precision": "fp32",
             "threads": 1, "fps": 300.0, "top1": 10.0, "macs": 3000,
             "model": str(tmp_path / "tiny-32.onnx"), "name": "tiny-32"}
    old = {"device": profiles.device_info(), "target_fps": 30.0, "chosen": entry,
           "margin": 0.05, "frontier": [entry]}
    name = profiles.set_name(str(tmp_path / "tiny-32.onnx"), "imagenet", [])
    path = tmp_path / "profiles" / profiles.profile_path(name=name).name
    profiles.save_profile(profiles.Profile.from_json({**old, "name": name}), path)
    before = path.read_bytes()
    proc = run_cli("tune", "--target-fps", "1e9", "--models", str(tmp_path / "tiny-32.onnx"),
                   "--threads", "1", "--budget-s", "20", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"profile: kept {path}" in proc.stdout and "chose nothing" in proc.stdout
    assert path.read_bytes() == before
    # a run that chooses something replaces it
    proc = run_cli("tune", "--target-fps", "1", "--models", str(tmp_path / "tiny-32.onnx"),
                   "--threads", "1", "--budget-s", "20", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"profile: {path}" in proc.stdout and path.read_bytes() != before


# --- 13: a model with a fixed batch of 1 ------------------------------------------------------


@pytest.mark.slow
def test_fixed_batch_model_runs_a_long_video(tmp_path, monkeypatch):
    """Case 13: ``[1,3,32,32]`` on a 300-frame video: the batch-size measurement measures only
    the size the model allows (nothing to measure), and ``--batch 4`` runs it one frame per
    call; every frame is classified, as with a model of dynamic batch."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    fixed = tiny_classifier(tmp_path / "fixed.onnx", 32, input_shape=[1, 3, 32, 32])
    dynamic = tiny_classifier(tmp_path / "dynamic.onnx", 32)
    video = make_video(tmp_path / "v.mp4", 310)
    want = run_cli("classify", str(video), "--model", str(dynamic), "--batch", "1",
                   "--json-out", str(tmp_path / "want.jsonl"))
    assert want.returncode == 0, want.stderr
    for extra in ([], ["--batch", "4"]):
        jl = tmp_path / "got.jsonl"
        proc = run_cli("classify", str(video), "--model", str(fixed), *extra,
                       "--json-out", str(jl))
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
        got, expected = lines_of(jl), lines_of(tmp_path / "want.jsonl")
        assert len(got) == 310
        assert [g["top"] for g in got] == [e["top"] for e in expected]


# --- 29: a failed capture leaves no empty class folder -----------------------------------------


@pytest.mark.slow
def test_failed_capture_leaves_no_class_folder(tmp_path):
    """Case 29: a source that cannot be read saves nothing and creates nothing; the folder
    appears with the first picture."""
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 100)
    line = assert_one_line_error(run_cli("capture", "--source", str(broken), "--label", "gate",
                                         "--out", str(tmp_path / "ds")))
    assert "broken.mp4" in line
    assert not (tmp_path / "ds").exists()
    (tmp_path / "kept").mkdir()
    assert_one_line_error(run_cli("capture", "--source", str(broken), "--label", "gate",
                                  "--out", str(tmp_path / "kept")))
    assert list((tmp_path / "kept").iterdir()) == []
    video = make_video(tmp_path / "ok.mp4", 10)
    proc = run_cli("capture", "--source", str(video), "--label", "gate", "--out",
                   str(tmp_path / "kept"), "--count", "2", "--every", "0")
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "kept" / "gate").glob("*.jpg"))) == 2


# --- 12: a FIFO as an input ----------------------------------------------------------------------


def run_bounded(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """The CLI with a bound on waiting: a run that hangs is killed and fails the test."""
    proc = subprocess.Popen([sys.executable, "-m", "edgecam", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out, err = finish(proc, timeout, f"edgecam {' '.join(args)} hung")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("name", ["clip.mp4", "shot.jpg", "stream"])
def test_fifo_input_is_refused_not_waited_on(name, tiny, tmp_path):
    """Case 12: nobody writes to the FIFO; opening it would block in native code. One line
    naming it, at once."""
    fifo = tmp_path / name
    os.mkfifo(fifo)
    line = assert_one_line_error(run_bounded("classify", str(fifo), "--model", tiny))
    assert str(fifo) in line and "named pipe" in line


# --- 22: directories are walked recursively ------------------------------------------------------


def test_directory_is_walked_recursively_and_sources_keep_their_path(tiny, tmp_path):
    """Case 22: ``capture``'s layout (DIR/LABEL/*.jpg) holds pictures only in sub-folders;
    every one is classified and its JSON ``source`` is its path; hidden folders are not
    entered."""
    ds = tmp_path / "ds"
    for path in ("red/0.png", "red/1.png", "blue/0.png", "blue/deep/2.png", ".thumbs/t.png"):
        make_picture(ds / path)
    jl = tmp_path / "o.jsonl"
    proc = run_cli("classify", str(ds), "--model", tiny, "--json-out", str(jl),
                   "--output", str(tmp_path / "annotated"))
    assert proc.returncode == 0, proc.stderr
    want = [str(ds / p) for p in ("blue/0.png", "blue/deep/2.png", "red/0.png", "red/1.png")]
    assert [line["source"] for line in lines_of(jl)] == want
    assert (tmp_path / "annotated" / "red" / "0.png").is_file()  # same names keep folders
    assert (tmp_path / "annotated" / "blue" / "0.png").is_file()


# --- 25: one unreadable file among many ---------------------------------------------------------


@pytest.mark.slow
def test_unreadable_files_among_many_are_named_counted_and_passed_over(tiny, tmp_path):
    """Case 25: 41 pictures (one damaged), a damaged video and a good one: every readable
    file is classified and written, each unreadable one named in one line and counted, and
    the exit code is 1 so scripts notice."""
    folder = tmp_path / "in"
    for i in range(41):
        make_picture(folder / f"p{i:02d}.png", bgr=(i * 5, 0, 0))
    (folder / "p20.png").write_bytes(b"\x89PNG damaged" * 20)
    (folder / "bad.mp4").write_bytes(b"not a video" * 50)
    make_video(folder / "good.mp4", 12)
    out, jl = tmp_path / "out", tmp_path / "o.jsonl"
    proc = run_cli("classify", str(folder), "--model", tiny, "--output", str(out),
                   "--json-out", str(jl))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    named = [line for line in proc.stderr.splitlines() if line.startswith("edgecam: skipped")]
    assert len(named) == 2
    assert any(str(folder / "p20.png") in line for line in named)
    assert any(str(folder / "bad.mp4") in line for line in named)
    assert "skipped 2 unreadable file(s)" in proc.stderr
    sources = [line["source"] for line in lines_of(jl)]
    assert len(sources) == 40 + 12
    assert str(folder / "p20.png") not in sources and sources.count(str(folder / "good.mp4")) == 12
    assert sorted(p.name for p in out.glob("*.png")) == [f"p{i:02d}.png" for i in range(41)
                                                          if i != 20]
    assert (out / "good.labeled.mp4").is_file() and not (out / "bad.labeled.mp4").exists()
    # one unreadable file on its own is still an error of one line
    line = assert_one_line_error(run_cli("classify", str(folder / "p20.png"), "--model", tiny))
    assert "p20.png" in line


# --- 21: validation pictures that are byte copies of training pictures -------------------------


def _copy_split(root: Path) -> Path:
    """train/ with two classes of distinct pictures, val/ a byte copy of it."""
    import shutil

    for label, channel in (("red", 2), ("blue", 0)):
        for i in range(4):
            bgr = [0, 0, 0]
            bgr[channel] = 120 + 30 * i
            make_picture(root / "train" / label / f"{i}.png", bgr=tuple(bgr), size=(24, 24))
    shutil.copytree(root / "train", root / "val")
    return root


def test_dataset_names_validation_pictures_copied_from_training(tmp_path):
    """Case 21, the data set: the fingerprint's per-file hashes find every copy."""
    from edgecam.train.dataset import read_dataset

    data = read_dataset(_copy_split(tmp_path / "ds"))
    assert sorted(data.duplicates) == sorted(
        (f"val/{c}/{i}.png", f"train/{c}/{i}.png") for c in ("red", "blue") for i in range(4))
    assert data.describe()["val_copies_of_train"] == 8
    (tmp_path / "ds" / "val" / "red" / "0.png").unlink()
    make_picture(tmp_path / "ds" / "val" / "red" / "0.png", bgr=(9, 9, 9), size=(24, 24))
    assert len(read_dataset(tmp_path / "ds").duplicates) == 7


@needs_torch
@pytest.mark.slow
def test_train_warns_when_validation_is_a_copy_of_training(tmp_path):
    """Case 21: ``train`` says so before it reports a validation accuracy of 100%."""
    root = _copy_split(tmp_path / "ds")
    proc = run_cli("train", str(root), "-r", "64", "--epochs", "2", "--views", "1",
                   "-o", str(tmp_path / "m.onnx"),
                   env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr
    warning = [line for line in proc.stderr.splitlines() if "byte copies" in line]
    assert len(warning) == 1 and "8 of the 8 validation pictures" in warning[0]
    assert "val/blue/0.png = train/blue/0.png" in warning[0]


# --- 27: a picture above the pixel limit ---------------------------------------------------------


def huge_png(path: Path, side: int) -> Path:
    """A real side x side PNG (1-bit grey, so the file is small and made in a moment); OpenCV
    decodes it into side*side*3 bytes."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\0" + b"\0" * ((side + 7) // 8)
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side,
                                                                        1, 0, 0, 0, 0))
                     + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


@pytest.mark.slow
def test_pictures_above_the_pixel_limit_are_refused_before_decoding(tiny, tmp_path):
    """Case 27: a 10000x10000 PNG (100 megapixels, 300 MB decoded) is refused from its header
    by default; among other pictures it is skipped; --max-megapixels moves the limit."""
    folder = tmp_path / "in"
    folder.mkdir()
    big = huge_png(folder / "big.png", 10_000)
    assert big.stat().st_size < 100_000
    line = assert_one_line_error(run_cli("classify", str(big), "--model", tiny))
    assert "big.png is 10000x10000 (100 megapixels)" in line and "--max-megapixels" in line
    make_picture(folder / "small.png", size=(400, 300))
    proc = run_cli("classify", str(folder), "--model", tiny, "--json-out", "-")
    assert proc.returncode == 1 and "skipped" in proc.stderr and "big.png" in proc.stderr
    assert [json.loads(x)["source"] for x in proc.stdout.splitlines()] == [
        str(folder / "small.png")]
    small = str(folder / "small.png")
    assert "above the limit of 0.1 megapixels" in assert_one_line_error(
        run_cli("classify", small, "--model", tiny, "--max-megapixels", "0.1"))
    proc = run_cli("classify", small, "--model", tiny, "--max-megapixels", "0.2")
    assert proc.returncode == 0, proc.stderr


# --- 26: a full disk under a folder of PNG outputs -----------------------------------------------


@pytest.mark.slow
def test_full_disk_with_png_outputs_is_one_line_with_the_reason(tiny, tmp_path, full_disk):
    """Case 26: noisy PNGs fill the disk: one line saying so, no codec text; the pictures
    written before it are whole."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(12):
        cv2.imwrite(str(folder / f"n{i:02d}.png"),
                    rng.integers(0, 256, (120, 160, 3), dtype=np.uint8))
    proc = run_cli("classify", str(folder), "--model", tiny, "--output", str(full_disk / "o"))
    line = assert_one_line_error(proc)
    assert "no space left on device" in line and str(full_disk / "o") in line
    assert "Write Error" not in proc.stderr and "libpng" not in proc.stderr
    for png in (full_disk / "o").glob("*.png"):
        assert cv2.imread(str(png)) is not None
    assert not list((full_disk / "o").glob(".*"))  # no temporary left


# --- 23: classify --mqtt says how many events were delivered and lost ---------------------------


def mqtt_report(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in proc.stderr.splitlines() if "prediction event(s)" in line]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture
def drifting_clip(tmp_path) -> Path:
    """Colour that drifts, so the tiny model's top-1 changes several times."""
    path = tmp_path / "drift.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (64, 48))
    for i in range(60):
        writer.write(np.full((48, 64, 3), ((i * 7) % 190, (i * 3) % 190, (255 - i * 5) % 190),
                             np.uint8))
    writer.release()
    return path


@pytest.mark.slow
def test_classify_mqtt_says_what_was_delivered_and_lost(tiny, drifting_clip, tmp_path):
    """Case 23: a batch run ends with the events delivered and lost: all delivered to a real
    broker; all lost, and why, with no broker there; a port that is not MQTT is named."""
    import http.server
    import threading

    from conftest import MOSQUITTO, Broker, free_port

    if MOSQUITTO is None:
        pytest.skip("mosquitto not installed (scripts/system-deps installs it)")
    broker = Broker(tmp_path, free_port())
    broker.start()
    try:
        proc = run_cli("classify", str(drifting_clip), "--model", tiny, "--mqtt",
                       f"mqtt://127.0.0.1:{broker.port}/t")
        assert proc.returncode == 0, proc.stderr
        line = mqtt_report(proc)
        events = int(line.split(" of ")[1].split()[0])
        assert events > 1 and f"{events} of {events} prediction event(s) delivered, 0 lost" in line
    finally:
        broker.stop()
    proc = run_cli("classify", str(drifting_clip), "--model", tiny, "--mqtt",
                   f"mqtt://127.0.0.1:{broker.port}/t")
    line = mqtt_report(proc)
    assert f"0 of {events} prediction event(s) delivered, {events} lost" in line
    assert f"no MQTT broker could be reached at 127.0.0.1:{broker.port}" in line
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        proc = run_cli("classify", str(drifting_clip), "--model", tiny, "--mqtt",
                       f"mqtt://127.0.0.1:{web.server_address[1]}/t")
    finally:
        web.shutdown()
    line = mqtt_report(proc)
    assert f"127.0.0.1:{web.server_address[1]} is not an MQTT broker" in line
    assert f"{events} lost" in line
