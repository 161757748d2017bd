"""Outputs never lose data: each case of issue 11 through the real CLI, with real files, a
real full disk (tmpfs), real signals to a real process, and real concurrent runs."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import ROOT, assert_one_line_error, run_cli, wait_for
from tiny_models import tiny_classifier

PARTIAL = ".edgecam-partial-"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    return str(tiny_classifier(tmp_path_factory.mktemp("tiny") / "tiny.onnx", resolution=32))


def make_video(path: Path, frames: int, size=(96, 72), fps=15.0, noise=False) -> Path:
    """A real video file; with ``noise`` it hardly compresses (fills a small disk)."""
    rng = np.random.default_rng(0)
    code = "MJPG" if path.suffix == ".avi" else "mp4v"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*code), fps, size)
    for i in range(frames):
        if noise:
            image = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        else:
            image = np.full((size[1], size[0], 3), (i * 9) % 256, np.uint8)
        writer.write(image)
    writer.release()
    return path


def make_picture(path: Path, bgr=(0, 0, 200), size=(80, 60)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((size[1], size[0], 3), bgr, np.uint8))
    return path


def frames_in(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def lines_of(path: Path) -> list[dict]:
    text = path.read_text()
    assert text == "" or text.endswith("\n"), "a JSON lines file must end on a whole line"
    return [json.loads(line) for line in text.splitlines()]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(f"*{PARTIAL}*"))


def popen_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "edgecam", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)


# --- 1, 2: an output that is one of the inputs --------------------------------------------------


def test_output_that_is_an_input_is_refused_before_anything_is_opened(tiny, tmp_path):
    """Case 1 (`--output in.mp4`) and case 2 (`--json-out c.jpg`): refused by inode (also
    through another name for the same file), and the input is byte for byte unchanged."""
    clip = make_video(tmp_path / "in.mp4", 30)
    photo = make_picture(tmp_path / "c.jpg")
    os.link(clip, tmp_path / "same.mp4")
    before = {p: digest(p) for p in (clip, photo)}
    for args in (["in.mp4", "--output", "in.mp4"],
                 ["in.mp4", "--output", "same.mp4"],
                 ["in.mp4", "--sink", "in.mp4"],
                 ["c.jpg", "--json-out", "c.jpg"],
                 ["c.jpg", "--output", "."]):  # ./c.jpg would be the annotated copy
        proc = run_cli("classify", *args, "--model", tiny, cwd=tmp_path)
        assert "is one of the inputs" in assert_one_line_error(proc), args
    proc = run_cli("live", "--source", "in.mp4", "--output", "in.mp4", "--headless", "--model",
                   tiny, cwd=tmp_path)
    assert "is one of the inputs" in assert_one_line_error(proc)
    assert {p: digest(p) for p in (clip, photo)} == before
    assert frames_in(clip) == 30
    assert leftovers(tmp_path) == []


# --- 3: a full disk -------------------------------------------------------------------------------


@pytest.mark.slow
def test_full_disk_is_one_line_and_leaves_nothing_broken(tiny, tmp_path, full_disk):
    """Case 3: a video and JSON lines that do not fit: one line on stderr, non-zero exit, no
    traceback, no temporary left, and the file already at the final path is untouched."""
    clip = make_video(tmp_path / "noise.mp4", 40, size=(320, 240), noise=True)
    assert clip.stat().st_size > 300_000
    (full_disk / "p.jsonl").write_text('{"earlier": "run"}\n')
    proc = run_cli("classify", str(clip), "--model", tiny, "--output", str(full_disk / "o.mp4"))
    assert "no space left on device" in assert_one_line_error(proc)
    assert not (full_disk / "o.mp4").exists()
    proc = run_cli("classify", str(clip), "--model", tiny, "--top-k", "200",
                   "--json-out", str(full_disk / "p.jsonl"))
    assert "no space left on device" in assert_one_line_error(proc)
    assert (full_disk / "p.jsonl").read_text() == '{"earlier": "run"}\n'
    assert leftovers(full_disk) == []
    # a live run's JSON lines grow in place: they stop on a whole line
    proc = run_cli("live", "--source", "synthetic://96x72", "--model", tiny, "--headless",
                   "--top-k", "200", "--max-frames", "400", "--json-out",
                   str(full_disk / "live.jsonl"))
    assert "no space left on device" in assert_one_line_error(proc)
    assert len(lines_of(full_disk / "live.jsonl")) > 5


# --- 4: SIGKILL and SIGTERM -------------------------------------------------------------------


@pytest.mark.slow
def test_sigkill_leaves_the_previous_file_and_the_next_run_names_the_leftover(tiny, tmp_path):
    """Case 4: killed mid-run, the final paths hold what was there before (or nothing), never
    a broken file; the temporary is recognizable and the next run mentions it."""
    clip = make_video(tmp_path / "long.mp4", 3000, size=(64, 48))
    out, outdir, jl = tmp_path / "o.mp4", tmp_path / "dir", tmp_path / "p.jsonl"
    jl.write_text('{"earlier": "run"}\n')
    proc = popen_cli("classify", str(clip), "--model", tiny, "--output", str(out),
                     "--json-out", str(jl), "--sink", str(outdir) + "/")
    found = wait_for(lambda: len(leftovers(tmp_path)) == 3 or proc.poll() is not None, 120)
    proc.kill()
    proc.communicate()
    assert found and proc.returncode == -signal.SIGKILL, "the run ended before it was killed"
    assert not out.exists() and not (outdir / "long.labeled.mp4").exists()
    assert jl.read_text() == '{"earlier": "run"}\n'
    left = leftovers(tmp_path)
    assert {Path(name).suffix for name in left} == {".mp4", ".jsonl"} and len(left) == 3
    short = make_video(tmp_path / "short.mp4", 5)
    again = run_cli("classify", str(short), "--model", tiny, "--output", str(out),
                    "--json-out", str(jl))
    assert again.returncode == 0, again.stderr
    assert "interrupted run" in again.stderr
    assert all(name in again.stderr for name in left if "long" not in name)
    assert frames_in(out) == 5 and len(lines_of(jl)) == 5


@pytest.mark.slow
def test_sigterm_finalizes_then_renames_and_live_json_lines_grow(tiny, tmp_path):
    """Ctrl-C/SIGTERM: finalize, then rename: the video plays with one frame per JSON line;
    a live --json-out grows line by line while the run goes on (it can be tailed)."""
    out, jl = tmp_path / "live.mp4", tmp_path / "live.jsonl"
    proc = popen_cli("live", "--source", "synthetic://96x72?fps=30", "--model", tiny,
                     "--headless", "--output", str(out), "--json-out", str(jl))
    grown = wait_for(lambda: jl.exists() and jl.read_text().count("\n") >= 5
                     or proc.poll() is not None, 120)
    assert grown and proc.poll() is None, "the live run ended or wrote no JSON lines"
    assert not out.exists()  # the video appears only when whole
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    records = lines_of(jl)
    assert frames_in(out) == len(records) >= 5
    assert leftovers(tmp_path) == []


# --- 5: two runs at once ----------------------------------------------------------------------


@pytest.mark.slow
def test_two_runs_writing_the_same_outputs_leave_whole_files(tiny, tmp_path):
    """Case 5: both runs write their own temporary; the last to finish wins, whole."""
    clip = make_video(tmp_path / "c.mp4", 150)
    out, jl = tmp_path / "o.mp4", tmp_path / "p.jsonl"
    args = ("classify", str(clip), "--model", tiny, "--output", str(out), "--json-out", str(jl))
    runs = [popen_cli(*args), popen_cli(*args)]
    for proc in runs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    assert frames_in(out) == 150
    assert [r["frame"] for r in lines_of(jl)] == list(range(150))
    assert leftovers(tmp_path) == []


# --- 6: same-named inputs into one directory --------------------------------------------------


def test_same_named_inputs_get_distinct_outputs(tiny, tmp_path):
    """Case 6: s1/x.jpg and s2/x.jpg keep their folders; a.mp4 and a.avi keep their kind."""
    red = make_picture(tmp_path / "s1" / "x.jpg", (0, 0, 220), size=(160, 160))
    blue = make_picture(tmp_path / "s2" / "x.jpg", (220, 0, 0), size=(160, 160))
    make_video(tmp_path / "a.mp4", 6)
    make_video(tmp_path / "a.avi", 4)
    out = tmp_path / "out"
    proc = run_cli("classify", str(red), str(blue), str(tmp_path / "a.mp4"),
                   str(tmp_path / "a.avi"), "--model", tiny, "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["a-avi.labeled.mp4", "a-mp4.labeled.mp4", "s1/x.jpg", "s2/x.jpg"]
    b, _, r = cv2.imread(str(out / "s1" / "x.jpg")).mean(axis=(0, 1))
    assert r > 2 * b  # the red one
    b, _, r = cv2.imread(str(out / "s2" / "x.jpg")).mean(axis=(0, 1))
    assert b > 2 * r  # the blue one
    assert frames_in(out / "a-mp4.labeled.mp4") == 6
    assert frames_in(out / "a-avi.labeled.mp4") == 4


# --- 7, 8, 9: order, failed inputs, stdout and /dev/null ------------------------------------


def test_json_lines_follow_the_input_order(tiny, tmp_path):
    """Case 7: pictures and videos mixed, also with videos side by side."""
    inputs = [make_picture(tmp_path / "b.jpg"), make_video(tmp_path / "v1.mp4", 7),
              make_picture(tmp_path / "a.jpg"), make_video(tmp_path / "v2.mp4", 3)]
    for jobs in ("1", "2"):
        jl = tmp_path / f"p{jobs}.jsonl"
        proc = run_cli("classify", *map(str, inputs), "--model", tiny, "--jobs", jobs,
                       "--json-out", str(jl))
        assert proc.returncode == 0, proc.stderr
        order = [(Path(r["source"]).name, r["frame"]) for r in lines_of(jl)]
        assert order == ([("b.jpg", 0)] + [("v1.mp4", i) for i in range(7)] + [("a.jpg", 1)]
                         + [("v2.mp4", i) for i in range(3)]), jobs


def test_an_input_that_fails_before_its_first_frame_creates_nothing(tiny, tmp_path):
    """Case 8: no 0-byte JSON lines, no empty directory, no temporary; what was classified
    before the failure is kept."""
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all" * 100)
    (tmp_path / "broken.jpg").write_bytes(b"not a picture")
    for bad in ("broken.mp4", "broken.jpg"):
        proc = run_cli("classify", bad, "--model", tiny, "--json-out", "p.jsonl",
                       "--output", "annotated", cwd=tmp_path)
        assert bad in assert_one_line_error(proc)
        assert not (tmp_path / "p.jsonl").exists() and not (tmp_path / "annotated").exists()
    make_video(tmp_path / "good.mp4", 4)
    proc = run_cli("classify", "good.mp4", "broken.mp4", "--model", tiny, "--json-out",
                   "p.jsonl", "--jobs", "1", cwd=tmp_path)
    # among several files it is named and passed over, exit 1 (issue 22, case 25)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "edgecam: skipped broken.mp4" in proc.stderr
    assert [r["frame"] for r in lines_of(tmp_path / "p.jsonl")] == [0, 1, 2, 3]
    assert leftovers(tmp_path) == []


def test_json_lines_on_stdout_and_output_to_dev_null(tiny, tmp_path):
    """Case 9: `--json-out -` puts JSON lines (only) on stdout, every human line on stderr;
    `--output /dev/null` runs and writes nothing; repeated --sink outputs all get written."""
    clip = make_video(tmp_path / "c.mp4", 8)
    proc = run_cli("classify", str(clip), "--model", tiny, "--json-out", "-", "--output",
                   os.devnull, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["frame"] for line in proc.stdout.splitlines()] == list(range(8))
    assert "classified 8 frames" in proc.stderr
    assert not (tmp_path / "-").exists() and Path(os.devnull).is_char_device()
    proc = run_cli("classify", str(clip), "--model", tiny, "--sink", "-", "--sink", "o.mp4",
                   "--sink", "p.jsonl", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 8 and len(lines_of(tmp_path / "p.jsonl")) == 8
    assert frames_in(tmp_path / "o.mp4") == 8
