"""Outputs under careless and hostile use (issue 22, cases 1-6, 15, 16): no command writes
over one of its inputs (the model, the weights, the data set, the calibration pictures), a
live JSON lines file keeps its history, temporaries never follow a planted link, and an
output that cannot be written is one line before any work. Real files, real links, the real
CLI."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import assert_one_line_error, needs_torch, run_cli, tmpfs
from tiny_models import tiny_classifier

PARTIAL = ".edgecam-partial-"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_video(path: Path, frames: int = 6, size=(96, 72)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 15.0, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), (i * 30) % 256, np.uint8))
    writer.release()
    return path


def make_dataset(root: Path, per_class: int = 3) -> Path:
    """Two classes of small real PNG pictures."""
    for c, colour in (("red", (0, 0, 200)), ("blue", (200, 0, 0))):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            picture = np.full((40, 40, 3), colour, np.uint8)
            picture[i * 4:i * 4 + 8] = 255
            cv2.imwrite(str(root / c / f"{i:03d}.png"), picture)
    return root


# --- 1: the model is an input of the run ------------------------------------------------------


@pytest.mark.slow
def test_json_out_onto_the_model_is_refused_by_path_and_by_identity(tmp_path: Path) -> None:
    """`classify/live --json-out m.onnx` (also through a hard link or a symlink to it) would
    replace the model with JSON lines: refused in one line, the model byte for byte kept."""
    model = tiny_classifier(tmp_path / "m.onnx", resolution=32)
    os.link(model, tmp_path / "hard.jsonl")
    (tmp_path / "soft.jsonl").symlink_to("m.onnx")
    make_video(tmp_path / "in.mp4")
    before = digest(model)
    for out in ("m.onnx", "hard.jsonl", "soft.jsonl"):
        proc = run_cli("classify", "in.mp4", "--model", "m.onnx", "--json-out", out,
                       cwd=tmp_path)
        assert "is the model" in assert_one_line_error(proc), out
        proc = run_cli("classify", "in.mp4", "--model", "m.onnx", "--sink", "x.jsonl",
                       "--output", out if out.endswith(".jsonl") else "o/", cwd=tmp_path)
        if out.endswith(".jsonl"):
            assert "is the model" in assert_one_line_error(proc), out
        proc = run_cli("live", "--source", "synthetic://64x48", "--model", "m.onnx",
                       "--headless", "--max-frames", "3", "--json-out", out, cwd=tmp_path)
        assert "is the model" in assert_one_line_error(proc), out
    assert digest(model) == before and (tmp_path / "soft.jsonl").is_symlink()
    assert not list(tmp_path.glob(f".*{PARTIAL}*"))


# --- 2: train's outputs are never inside its data set -----------------------------------------


@pytest.mark.slow
@needs_torch
def test_train_output_inside_the_data_set_is_refused_before_work(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "ds")
    picture = data / "red" / "000.png"
    os.link(picture, tmp_path / "elsewhere.onnx")
    before = {p: digest(p) for p in data.rglob("*.png")}
    for args in (["--output", str(picture)],
                 ["--output", str(data / "m.onnx")],
                 ["--output", str(tmp_path / "elsewhere.onnx")],
                 ["--output", str(tmp_path / "ok.onnx"), "--json-out", str(data / "r.json")],
                 ["--output", str(tmp_path / "ok.onnx"), "--json-out", str(picture)]):
        proc = run_cli("train", str(data), "--epochs", "1", *args,
                       env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
        line = assert_one_line_error(proc)
        assert "data set" in line, (args, line)
    assert {p: digest(p) for p in data.rglob("*.png")} == before
    assert sorted(p.name for p in data.iterdir()) == ["blue", "red"]
    assert not (tmp_path / "ok.onnx").exists()


# --- 3: export never writes over its weights ---------------------------------------------------


@pytest.mark.slow
@needs_torch
def test_export_output_that_is_the_weights_file_is_refused(tmp_path: Path) -> None:
    import torch

    from edgecam.models.zoo import create_model

    weights = tmp_path / "w.pth"
    torch.save(create_model("mobilenet_v2", 0.35, 96).state_dict(), weights)
    os.link(weights, tmp_path / "same.onnx")
    before = digest(weights)
    for out in (weights, tmp_path / "same.onnx"):
        proc = run_cli("export", "mobilenet_v2", "--alpha", "0.35", "-r", "96", "--weights",
                       str(weights), "-o", str(out))
        assert "weights" in assert_one_line_error(proc), out
    assert digest(weights) == before


# --- 4: a live JSON lines file keeps its history ----------------------------------------------


@pytest.mark.slow
def test_live_json_lines_append_to_an_existing_file_and_say_so(tmp_path: Path) -> None:
    """A restarted live service keeps its history: the new lines follow the old ones, a new
    run says so in one line; a last line cut short by a power cut is ended, not lost."""
    model = tiny_classifier(tmp_path / "m.onnx", resolution=32)
    events = tmp_path / "events.jsonl"
    history = "".join(json.dumps({"frame": i, "earlier": True}) + "\n" for i in range(100))
    events.write_text(history)
    proc = run_cli("live", "--source", "synthetic://64x48", "--model", str(model),
                   "--headless", "--max-frames", "5", "--json-out", str(events))
    assert proc.returncode == 0, proc.stderr
    text = events.read_text()
    assert text.startswith(history)
    new = [json.loads(line) for line in text[len(history):].splitlines()]
    assert [r["frame"] for r in new] == list(range(5)) and "top" in new[0]
    says = [line for line in proc.stderr.splitlines() if "appending" in line]
    assert len(says) == 1 and "100 lines" in says[0], proc.stderr
    # a file whose last line was cut short: that line stays, the new ones start on their own
    events.write_text('{"frame": 0}\n{"frame": 1, "cut')
    proc = run_cli("live", "--source", "synthetic://64x48", "--model", str(model),
                   "--headless", "--max-frames", "2", "--json-out", str(events))
    assert proc.returncode == 0, proc.stderr
    lines = events.read_text().splitlines()
    assert lines[:2] == ['{"frame": 0}', '{"frame": 1, "cut']
    assert [json.loads(line)["frame"] for line in lines[2:]] == [0, 1]


# --- 5: every other command that writes a file -------------------------------------------------


@pytest.mark.slow
def test_quantize_never_writes_over_the_model_or_a_calibration_picture(tmp_path: Path) -> None:
    model = tiny_classifier(tmp_path / "m.onnx", resolution=32)
    os.link(model, tmp_path / "same.onnx")
    cal = make_dataset(tmp_path / "cal")
    os.link(cal / "red" / "000.png", tmp_path / "pic.onnx")
    before = {p: digest(p) for p in (model, cal / "red" / "000.png")}
    for out, what in (("same.onnx", "model"), ("pic.onnx", "calibration"),
                      ("cal/q.onnx", "calibration")):
        proc = run_cli("quantize", "m.onnx", "--calibration", "cal", "-o", out, cwd=tmp_path)
        assert what in assert_one_line_error(proc), out
    assert {p: digest(p) for p in before} == before
    assert not (cal / "q.onnx").exists()


@pytest.fixture
def other_fs(tmp_path: Path):
    """A real tmpfs: another file system than the outputs'."""
    with tmpfs(tmp_path / "tmpfs", "8m") as where:
        yield where


@pytest.mark.slow
def test_quantize_output_appears_whole_beside_itself(tmp_path: Path, other_fs: Path) -> None:
    """The INT8 file is staged in its own folder (a rename from $TMPDIR fails across file
    systems) and put in place whole; no temporary is left."""
    model = tiny_classifier(tmp_path / "m.onnx", resolution=32)
    cal = make_dataset(tmp_path / "cal")
    out = tmp_path / "q" / "m-int8.onnx"
    proc = run_cli("quantize", str(model), "--calibration", str(cal), "-o", str(out),
                   env={"TMPDIR": str(other_fs)})
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == ["m-int8.onnx"]


@pytest.mark.slow
def test_tune_json_and_plot_never_write_over_an_input(tmp_path: Path) -> None:
    model = tiny_classifier(tmp_path / "m.onnx", resolution=32)
    data = tmp_path / "data"
    (data / "tench").mkdir(parents=True)
    cv2.imwrite(str(data / "tench" / "a.png"), np.full((40, 40, 3), 90, np.uint8))
    os.link(data / "tench" / "a.png", tmp_path / "pic.png")
    before = {p: digest(p) for p in (model, data / "tench" / "a.png")}
    for args in (["--json-out", "m.onnx"], ["--plot", "pic.png"], ["--json-out", "data/t.json"]):
        proc = run_cli("tune", "--target-fps", "1", "--models", "m.onnx", "--data", "data",
                       "--no-save-profile", "--budget-s", "20", *args, cwd=tmp_path)
        assert "input" in assert_one_line_error(proc), args
    assert {p: digest(p) for p in before} == before
    assert not (data / "t.json").exists()


@pytest.mark.slow
def test_tune_outputs_that_cannot_be_written_are_refused_before_the_run(tmp_path: Path) -> None:
    tiny_classifier(tmp_path / "m.onnx", resolution=32)
    for out in ("/proc/t.json", "/proc/t.png"):
        flag = "--plot" if out.endswith(".png") else "--json-out"
        proc = run_cli("tune", "--target-fps", "1", "--models", "m.onnx", flag, out,
                       "--no-save-profile", "--budget-s", "20", cwd=tmp_path)
        assert out in assert_one_line_error(proc)
        assert proc.stdout == ""  # refused before measuring anything


# --- 6: temporaries never follow a planted link ------------------------------------------------


def test_a_planted_link_at_the_temporary_name_is_never_followed(tmp_path: Path) -> None:
    """In a shared folder a neighbour plants a link where the temporary would go: the file it
    points to is untouched, the output is a regular file, the link is left alone."""
    from edgecam.util.atomic import Staged
    from edgecam.util.safewrite import write_whole

    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    final = tmp_path / "out.jsonl"
    planted = tmp_path / f".out{PARTIAL}{os.getpid()}.jsonl"
    planted.symlink_to(victim)
    staged = Staged(final)
    with open(staged.create(), "w") as f:
        f.write("{}\n")
    staged.commit()
    assert victim.read_text() == "precious\n"
    assert not final.is_symlink() and final.read_text() == "{}\n"
    assert planted.is_symlink()
    # the same for whole-file writes (train's and tune's --json-out, the profile)
    for name in (".r.json.tmp", "r.json.tmp"):
        (tmp_path / name).symlink_to(victim)
    write_whole(tmp_path / "r.json", "{}\n")
    assert victim.read_text() == "precious\n" and (tmp_path / "r.json").read_text() == "{}\n"
    assert not (tmp_path / "r.json").is_symlink()


def test_profile_save_never_follows_a_planted_link(tmp_path: Path) -> None:
    from edgecam.tune.profiles import save_profile

    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    target = tmp_path / "p.json"
    target.with_suffix(".json.tmp").symlink_to(victim)

    class Stub:
        device = {"cpu": "x"}

        def to_json(self) -> dict:
            return {"format": 1}

    save_profile(Stub(), target)  # type: ignore[arg-type]
    assert victim.read_text() == "precious\n" and json.loads(target.read_text()) == {"format": 1}


# --- 15, 16: outputs that cannot be written, found before any work ---------------------------


@needs_torch
@pytest.mark.slow
def test_a_path_longer_than_path_max_is_one_line(tmp_path: Path) -> None:
    model = tiny_classifier(tmp_path / "m.onnx", resolution=32)
    make_video(tmp_path / "in.mp4")
    long = "/".join(["d" * 200] * 25) + "/o.jsonl"  # 5,000+ characters
    for args in (["classify", "in.mp4", "--json-out", long],
                 ["classify", "in.mp4", "--output", long[:-6] + ".mp4"],
                 ["live", "--source", "synthetic://64x48", "--headless", "--max-frames", "2",
                  "--json-out", long]):
        proc = run_cli(*args, "--model", str(model), cwd=tmp_path)
        line = assert_one_line_error(proc)
        assert "too long" in line and len(line) < 300, line
    proc = run_cli("export", "mobilenet_v2", "--weights", "random", "-o", long + ".onnx")
    assert "too long" in assert_one_line_error(proc)


@pytest.mark.slow
@needs_torch
def test_train_output_in_a_folder_that_takes_no_files_fails_up_front(tmp_path: Path) -> None:
    """/proc passes a permission check but takes no new file: found by creating (and
    removing) a real temporary there, before any training."""
    data = make_dataset(tmp_path / "ds")
    proc = run_cli("train", str(data), "--epochs", "1", "--output", "/proc/t.onnx",
                   env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert "/proc/t.onnx" in assert_one_line_error(proc)
    assert not (tmp_path / "cache").exists()  # no features were computed
    proc = run_cli("train", str(data), "--epochs", "1", "--output", str(tmp_path / "m.onnx"),
                   "--json-out", "/proc/t.json")
    assert "/proc/t.json" in assert_one_line_error(proc)
