"""Ordinary mistakes and unusual files through the real CLI: each ends in one clear line or
does what a user expects, and nothing from OpenCV or FFmpeg's own logs reaches the terminal."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from edgecam.util.device import default_threads

from conftest import assert_one_line_error, needs_torch, run_cli
from tiny_models import tiny_classifier

NATIVE_LOG_MARKS = ("[ERROR:", "[WARN:", "[OPENCV:", "Corrupt JPEG", "Premature end", "libpng")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("inputs")
    tiny_classifier(d / "tiny.onnx")
    cat = cv2.cvtColor(data.chelsea(), cv2.COLOR_RGB2BGR)
    jpeg = cv2.imencode(".jpg", cat)[1].tobytes()
    (d / "cat.jfif").write_bytes(jpeg)  # a JPEG under the name browsers save it with
    (d / "crc.png").write_bytes(png_with_bad_text_chunk(cat))
    (d / "a.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8">'
                             '<rect width="8" height="8"/></svg>\n')
    write_video(d / "clip.MTS", 12, "mpg2")  # an MPEG transport stream, as camcorders name it
    shutil.copy(d / "clip.MTS", d / "clip.rec")  # an extension nobody knows: probed
    return d


def write_video(path: Path, frames: int, fourcc: str = "MJPG", size=(96, 64),
                fps: float = 25.0, level: int = 40) -> Path:
    """Frames of a moving bar; the container comes from ``fourcc``'s usual extension and the
    file is then renamed to ``path``."""
    ext = {"mpg2": ".ts", "MJPG": ".avi"}[fourcc]
    tmp = path.with_name(path.stem + ".tmp" + ext)
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    for i in range(frames):
        image = np.full((size[1], size[0], 3), level, np.uint8)
        image[:, : (i * 5) % size[0]] = (0, 200, 0)
        writer.write(image)
    writer.release()
    tmp.replace(path)
    return path


def png_with_bad_text_chunk(image: np.ndarray) -> bytes:
    """A PNG that decodes, with an ancillary tEXt chunk whose CRC is wrong: libpng says so on
    file descriptor 2 itself ("libpng warning: tEXt: CRC error"), past any log level."""
    png = cv2.imencode(".png", image)[1].tobytes()
    after_ihdr = 8 + 25  # signature, then IHDR (length, type, 13 bytes, CRC)
    body = b"tEXt" + b"Comment\0hello"
    chunk = struct.pack(">I", len(body) - 4) + body + b"\0\0\0\0"
    return png[:after_ihdr] + chunk + png[after_ihdr:]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def no_native_logs(stderr: str) -> None:
    for mark in NATIVE_LOG_MARKS:
        assert mark not in stderr, stderr


# --- case 10: tracebacks ------------------------------------------------------------------


@pytest.mark.slow
def test_demo_runs_from_any_directory(files, tmp_path):
    proc = run_cli("demo", "--model", str(files / "tiny.onnx"), "--threads", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    records = read_jsonl(tmp_path / "out" / "demo.jsonl")
    assert len(records) >= 30 and (tmp_path / "out" / "demo.labeled.mp4").stat().st_size > 0


def test_demo_without_photos_is_one_line(files, tmp_path):
    line = assert_one_line_error(run_cli("demo", "--photos", str(tmp_path / "none"),
                                         "--model", str(files / "tiny.onnx"), cwd=tmp_path))
    assert "--photos" in line


# --- cases 10 and 12: values no source, model or machine can take -------------------------


LIVE = ["live", "--model", "{d}/tiny.onnx", "--headless", "--max-frames", "2"]


@pytest.mark.parametrize("args, needle", [
    (LIVE + ["--source", "synthetic://0x0"], "width must be 16-8192"),
    (LIVE + ["--source", "synthetic://100000x100000"], "width must be 16-8192"),
    (LIVE + ["--source", "synthetic://64x48?fps=nan"], "fps must be a number above 0"),
    (LIVE + ["--source", "synthetic://64x48?fps=inf"], "fps must be a number above 0"),
    (LIVE + ["--source", "synthetic://64x48", "--fps", "-1"], "--fps must be"),
    (LIVE + ["--source", "synthetic://64x48", "--width", "-640"], "--width must be"),
    (LIVE + ["--source", "synthetic://64x48", "--height", "0"], "--height must be"),
    (["export", "mobilenet_v2", "--resolution", "0", "-o", "{d}/x.onnx"], "at least 32"),
    (["export", "mobilenet_v2", "--resolution", "-224", "-o", "{d}/x.onnx"], "at least 32"),
    (["export", "mobilenet_v2", "--resolution", "100000", "-o", "{d}/x.onnx"], "too large"),
    (["bench", "{d}/tiny.onnx", "--frames", "50", "--threads", "{many}"], "more than the"),
    (LIVE + ["--source", "synthetic://64x48", "--threads", "{many}"], "more than the"),
    (["classify", "{d}/cat.jfif", "--model", "{d}/tiny.onnx", "--threads", "{many}"],
     "more than the"),
])
def test_impossible_values_are_one_line(files, args, needle):
    many = str(max(100, default_threads() + 1))
    args = [a.format(d=files, many=many) for a in args]
    proc = run_cli(*args, timeout=60)  # a hang (100 spinning threads) fails here
    line = assert_one_line_error(proc)
    assert needle in line, line
    assert not (files / "x.onnx").exists()


# --- case 11: OpenCV's and FFmpeg's own lines stay off stderr -----------------------------


def test_undecodable_file_is_one_line_without_native_logs(files):
    proc = run_cli("classify", str(files / "a.svg"), "--model", str(files / "tiny.onnx"))
    line = assert_one_line_error(proc)
    assert "a.svg" in line and "not a picture or video" in line
    no_native_logs(proc.stderr)


def test_damaged_picture_is_classified_without_native_logs(files, tmp_path):
    jl = tmp_path / "p.jsonl"
    proc = run_cli("classify", str(files / "crc.png"), "--model", str(files / "tiny.onnx"),
                   "--json-out", str(jl))
    assert proc.returncode == 0, proc.stderr
    assert len(read_jsonl(jl)) == 1
    no_native_logs(proc.stderr)


# --- case 12: files recognised by what they are, skipped ones named -----------------------


def test_mts_and_jfif_are_recognised_in_any_letter_case(files, tmp_path):
    out, jl = tmp_path / "clip.labeled.mp4", tmp_path / "p.jsonl"
    proc = run_cli("classify", str(files / "clip.MTS"), "--model", str(files / "tiny.onnx"),
                   "--output", str(out), "--json-out", str(jl))
    assert proc.returncode == 0, proc.stderr
    assert len(read_jsonl(jl)) == 12
    cap = cv2.VideoCapture(str(out))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 12
    cap.release()
    jl2 = tmp_path / "q.jsonl"
    proc = run_cli("classify", str(files / "cat.jfif"), str(files / "clip.rec"),
                   "--model", str(files / "tiny.onnx"), "--json-out", str(jl2))
    assert proc.returncode == 0, proc.stderr
    sources = [Path(r["source"]).name for r in read_jsonl(jl2)]
    assert sources == ["cat.jfif"] + ["clip.rec"] * 12


def test_unknown_extension_that_decodes_as_video_is_one_output_video(files, tmp_path):
    """Decided by probing, not by the name: no "got 1 file(s), 0 video(s)"."""
    out = tmp_path / "o.mp4"
    proc = run_cli("classify", str(files / "clip.rec"), "--model", str(files / "tiny.onnx"),
                   "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 0


def test_skipped_files_are_named(files, tmp_path):
    d = tmp_path / "mixed"
    d.mkdir()
    for name in ("cat.jfif", "clip.MTS", "a.svg"):
        shutil.copy(files / name, d / name.upper() if name == "cat.jfif" else d / name)
    (d / "notes.txt").write_text("hello\n")
    (d / ".DS_Store").write_bytes(b"\0" * 64)
    jl = tmp_path / "p.jsonl"
    proc = run_cli("classify", str(d), "--model", str(files / "tiny.onnx"), "--json-out",
                   str(jl))
    assert proc.returncode == 0, proc.stderr
    assert {Path(r["source"]).name for r in read_jsonl(jl)} == {"CAT.JFIF", "clip.MTS"}
    skipped = [line for line in proc.stderr.splitlines() if "edgecam: skipped" in line]
    assert len(skipped) == 1, proc.stderr
    assert "2 file(s)" in skipped[0] and "a.svg" in skipped[0] and "notes.txt" in skipped[0]
    assert ".DS_Store" not in proc.stderr
    no_native_logs(proc.stderr)


# --- case 13: help, variable frame rates, truncated files ---------------------------------


def test_no_arguments_prints_the_help_once():
    proc = run_cli()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("Usage:") == 1 and "classify" in proc.stdout


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg (scripts/system-deps)")
def test_variable_frame_rate_keeps_every_frame_with_its_time(files, tmp_path):
    """60 frames 40 ms apart, then 20 frames 120 ms apart (made by the ffmpeg CLI: OpenCV
    cannot write a variable rate)."""
    vfr = tmp_path / "vfr.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=96x64:rate=25",
         "-frames:v", "80", "-vf", "setpts='if(lt(N,60),N,60+(N-60)*3)/25/TB'",
         "-fps_mode", "vfr", "-c:v", "mpeg4", "-q:v", "5", str(vfr)], check=True)
    jl = tmp_path / "p.jsonl"
    proc = run_cli("classify", str(vfr), "--model", str(files / "tiny.onnx"), "--json-out",
                   str(jl), "--output", str(tmp_path / "o.mp4"))
    assert proc.returncode == 0, proc.stderr
    times = [r["time_ms"] for r in read_jsonl(jl)]
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
                            "frame=pts_time", "-of", "csv=p=0", str(vfr)],
                           capture_output=True, text=True, check=True)
    in_file = [float(t) * 1000 for t in probe.stdout.split()]
    assert len(in_file) == len(times) == 80
    assert np.allclose(times, in_file, atol=1)  # the file's own times, not index / fps
    gaps = np.diff(times)
    assert np.allclose(gaps[:59], 40, atol=1) and np.median(gaps[60:]) == pytest.approx(120)
    assert "variable frame rate" in proc.stderr and "all 80 frames" in proc.stderr


def test_constant_frame_rate_has_times_and_no_warning(files, tmp_path):
    jl = tmp_path / "p.jsonl"
    proc = run_cli("classify", str(files / "clip.MTS"), "--model", str(files / "tiny.onnx"),
                   "--json-out", str(jl))
    assert proc.returncode == 0, proc.stderr
    gaps = np.diff([r["time_ms"] for r in read_jsonl(jl)])
    assert np.allclose(gaps, 40, atol=1)
    assert "variable" not in proc.stderr and "declares" not in proc.stderr


def test_truncated_video_warns_how_many_frames_were_decoded(files, tmp_path):
    whole = write_video(tmp_path / "whole.avi", 40)
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])
    jl = tmp_path / "p.jsonl"
    proc = run_cli("classify", str(cut), "--model", str(files / "tiny.onnx"), "--json-out",
                   str(jl))
    assert proc.returncode == 0, proc.stderr
    decoded = len(read_jsonl(jl))
    assert 0 < decoded < 40
    assert f"decoded {decoded} of the 40 frames" in proc.stderr
    no_native_logs(proc.stderr)


def test_overlay_on_a_tiny_video_stays_readable(files, tmp_path):
    """64x48: the top-1 label at a readable size in a top panel, the FPS in a bottom one,
    the other lines left out so the middle of the picture stays visible."""
    video = write_video(tmp_path / "tiny.avi", 6, size=(64, 48), level=180)
    out = tmp_path / "tiny.labeled.avi"
    proc = run_cli("classify", str(video), "--model", str(files / "tiny.onnx"), "--output",
                   str(out), "--top-k", "5")
    assert proc.returncode == 0, proc.stderr
    before, after = cv2.VideoCapture(str(video)), cv2.VideoCapture(str(out))
    a, b = before.read()[1].astype(int), after.read()[1].astype(int)
    before.release()
    after.release()
    assert b.shape == (48, 64, 3)
    assert np.abs(a[22:26] - b[22:26]).mean() < 12  # the middle rows are the picture
    green = (b[..., 1] > 150) & (b[..., 1] > b[..., 0] + 60) & (b[..., 1] > b[..., 2] + 60)
    rows = np.flatnonzero(green[:20].any(axis=1))
    assert rows.size and rows.max() - rows.min() >= 5  # top-1 glyphs at least ~6 px tall
    assert b[40:, :20].mean() < a[40:, :20].mean() - 40  # the darkened footer panel


@needs_torch
@pytest.mark.slow
def test_first_classify_says_it_is_exporting_the_model(files, tmp_path):
    """A fresh directory: the default model is exported before anything is classified, and
    the user is told so first (a spinner on a terminal, this line elsewhere)."""
    proc = run_cli("classify", str(files / "cat.jfif"), cwd=tmp_path,
                   env={"EDGECAM_MODELS": str(tmp_path / "models")})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("edgecam: exporting efficientnet_lite0-1.0-224 to "), lines
    assert "first use" in lines[0]
    assert (tmp_path / "models" / "efficientnet_lite0-1.0-224.onnx").is_file()
    assert "cat" in proc.stdout  # chelsea the cat, by the real pretrained model
