"""Issue 30, item 5: training on video frames is honest. Frames of one capture are near copies
of their neighbours; the random validation split put a frame on one side and its neighbour on
the other (a user's clip: "validation accuracy 100.0% of 20"). Frames are captured here from
videos the tests make (`edgecam capture`, real OpenCV decoding), then read as a data set."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecam.commands.capture import CaptureOptions, capture_frames
from edgecam.sinks.labelled import LabelFolder
from edgecam.train.dataset import read_dataset
from edgecam.train.stretches import CAPTURE_NAME, look, near_copies, random_split, stretches

from conftest import needs_torch, run_cli
from labelled_data import textures


def _clip(path: Path, gate: tuple[int, int, int], frames: int = 20, start: int = 0) -> Path:
    """A fixed camera, 96x72 at 10 fps: a real photo (scikit-image's astronaut) drifting by
    one pixel a frame behind a small "gate" of one colour in the corner."""
    from skimage.data import astronaut

    photo = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (96, 72))
    for i in range(frames):
        x = 100 + 4 * (start + i)
        image = cv2.resize(photo[50:338, x:x + 384], (96, 72), interpolation=cv2.INTER_AREA)
        image[48:68, 70:90] = gate
        writer.write(np.ascontiguousarray(image))
    writer.release()
    return path


GATES = {"closed": (0, 0, 200), "open": (0, 200, 0)}


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``edgecam capture`` of one 2 s clip per label into yard/LABEL/, every frame."""
    root = tmp_path_factory.mktemp("frames")
    for label, gate in GATES.items():
        clip = _clip(root / f"{label}.mp4", gate)
        proc = run_cli("capture", "--source", str(clip), "--label", label, "--out",
                       str(root / "yard"), "--count", "0", "--every", "0")
        assert proc.returncode == 0, proc.stderr
        assert "saved 20 pictures" in proc.stdout
    return root / "yard"


def _sides(files: list[Path], val: set[Path]) -> int:
    """Neighbouring frames (in capture order) that are on different sides of the split."""
    return sum((a in val) != (b in val) for a, b in zip(files, files[1:]))


def test_a_captured_clip_is_split_by_time_not_frame_by_frame(captured: Path) -> None:
    data = read_dataset(captured, val_split=0.2, seed=0)
    val = {s.path for s in data.val}
    for label in GATES:
        files = sorted((captured / label).glob("*.jpg"))  # capture names sort by time
        assert len(files) == 20 and all(CAPTURE_NAME.match(p.stem) for p in files)
        looks = [look(cv2.imread(str(p))) for p in files]
        assert all(near_copies(a, b) for a, b in zip(looks, looks[1:]))
        # what the split did before: frames drawn at random, neighbours on both sides
        _, old_val = random_split(files, 0.2, np.random.default_rng(0))
        assert _sides(files, set(old_val)) >= 4
        # now: the latest 4 frames of the clip, one boundary
        assert [p for p in files if p in val] == files[-4:]
        assert _sides(files, val) == 1
    split = data.describe()["split"]
    assert split["by"] == "stretches"
    assert split["classes"] == [
        {"class": label, "stretches": 1, "held_out_whole": 0, "latest_frames_held_out": 4}
        for label in sorted(GATES)]
    assert split["note"] == data.split_note()
    assert data.split_note() == (
        "validation: frames of a capture kept on one side (a random split would put near "
        "copies on both sides and overstate accuracy): the latest frames held out (4 of "
        "'closed', 4 of 'open'): too few stretches to hold out whole ones")


def test_whole_capture_stretches_are_held_out(tmp_path: Path) -> None:
    """Five captures per label (and of anything else), four frames each: whole captures are
    held out, chosen with the seed, and no capture is cut in two."""
    fork = multiprocessing.get_context("fork")  # a capture is a process: its own session
    for label, gate in {**GATES, "unknown": (200, 200, 200)}.items():
        for k in range(5):
            clip = _clip(tmp_path / f"{label}-{k}.mp4", gate, frames=4, start=10 * k)
            opts = CaptureOptions(source=str(clip), label=label, out=tmp_path / "yard",
                                  count=None, every=0)
            process = fork.Process(target=capture_frames, args=(opts,))
            process.start()
            process.join()
            assert process.exitcode == 0
    data = read_dataset(tmp_path / "yard", val_split=0.2, seed=0)
    assert data.classes == ["closed", "open"]
    val = {s.path for s in data.val}
    for label in (*GATES, "unknown"):
        files = sorted((tmp_path / "yard" / label).glob("*.jpg"))
        runs = stretches(files, {})
        assert [len(r) for r in runs] == [4] * 5  # one per capture, in capture order
        assert [r for r in runs if r[0] in val] == [r for r in runs if set(r) <= val]
        assert sum(r[0] in val for r in runs) == 1
    assert data.count_unknown(data.val) == 4
    assert data.split_note() == (
        "validation: frames of a capture kept on one side (a random split would put near "
        "copies on both sides and overstate accuracy): 3 of 15 capture stretches held out "
        "whole ('closed', 'open', 'unknown')")
    seeds = {frozenset(s.path for s in read_dataset(tmp_path / "yard", 0.2, seed).val)
             for seed in range(4)}
    assert len(seeds) > 1  # the seed draws which captures


def _capture_name(stamp: str, pid: int, count: int) -> str:
    """``LabelFolder.save``'s name (``test_capture_names_are_what_the_split_reads`` checks)."""
    return f"{stamp}-{pid}-{count:05d}.jpg"


def test_capture_names_are_what_the_split_reads(tmp_path: Path) -> None:
    saved = LabelFolder(tmp_path, "gate").save(np.zeros((8, 8, 3), np.uint8))
    m = CAPTURE_NAME.match(saved.stem)
    assert m is not None and saved.name == _capture_name(m[1], int(m[2]), int(m[3]))


def test_capture_sessions_are_cut_at_new_processes_and_pauses() -> None:
    folder = Path("yard/gate")
    names = [_capture_name("20260101-120000", 41, 1), _capture_name("20260101-120001", 41, 2),
             # the preview's button in one process, a pause of 2 minutes
             _capture_name("20260101-120201", 41, 3), _capture_name("20260101-120202", 41, 4),
             # another capture (another process), earlier that morning
             _capture_name("20260101-090000", 7, 1), _capture_name("20260101-090000", 7, 2),
             # the same process id again the next day: its counter starts again
             _capture_name("20260102-090000", 7, 1),
             "holiday.jpg", "20261399-999999-3-00001.jpg"]  # the shape, but no time
    files = [folder / n for n in names]
    runs = stretches(files, {})
    # a capture of one frame is a picture of its own, like any other (those come first)
    assert runs == [[files[6]], [files[8]], [files[7]], files[4:6], files[0:2], files[2:4]]


def _frames_of(clip: Path, folder: Path) -> list[Path]:
    """What ``ffmpeg -i clip folder/frame_%04d.png`` writes: every decoded frame, numbered."""
    folder.mkdir(parents=True)
    video = cv2.VideoCapture(str(clip))
    written: list[Path] = []
    while True:
        ok, image = video.read()
        if not ok:
            break
        written.append(folder / f"frame_{len(written) + 1:04d}.png")
        cv2.imwrite(str(written[-1]), image)
    video.release()
    return written


def test_numbered_frames_are_stretches_and_numbered_photos_are_not(tmp_path: Path) -> None:
    """Frames another tool numbered are kept together when neighbours are near copies; the
    numbered patches of real texture photos (not frames of anything) keep the random split."""
    for label, gate in GATES.items():
        frames = _frames_of(_clip(tmp_path / f"{label}.mp4", gate, frames=30),
                            tmp_path / "yard" / label)
        assert len(frames) == 30
    data = read_dataset(tmp_path / "yard", val_split=0.2, seed=0)
    for label in GATES:
        files = sorted((tmp_path / "yard" / label).glob("*.png"))
        assert [s.path for s in data.val if s.path.parent.name == label] == files[-6:]
    assert [s.latest for s in data.splits] == [6, 6]

    photos, _ = textures(tmp_path / "textures", per_class=12, held_out=0)
    data = read_dataset(photos, val_split=0.2, seed=0)
    assert data.splits == [] and data.split_note() is None
    assert data.describe()["split"] == {"by": "random", "classes": [], "note": None}
    rng = np.random.default_rng(0)
    for name in data.classes:  # exactly the split it always was
        files = sorted((photos / name).glob("*.png"))
        assert [s.path for s in data.val if s.path.parent.name == name] == sorted(
            random_split(files, 0.2, rng)[1])


@needs_torch
def test_train_says_it_kept_the_frames_together(captured: Path, tmp_path: Path) -> None:
    """Through the CLI: the line, the report's data set and the model's metadata."""
    from edgecam.runtime.engine import Engine

    report = tmp_path / "report.json"
    proc = run_cli("train", str(captured), "-r", "64", "--epochs", "3", "--no-augment",
                   "-o", str(tmp_path / "gate.onnx"), "--json-out", str(report),
                   env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr
    said = [line for line in proc.stderr.splitlines() if "validation: " in line]
    assert said == ["edgecam: validation: frames of a capture kept on one side (a random split "
                    "would put near copies on both sides and overstate accuracy): the latest "
                    "frames held out (4 of 'closed', 4 of 'open'): too few stretches to hold "
                    "out whole ones"]
    split = json.loads(report.read_text())["dataset"]["split"]
    assert split["by"] == "stretches" and split["note"] == said[0].removeprefix("edgecam: ")
    assert Engine(tmp_path / "gate.onnx").meta.training["dataset"]["split"] == split
    assert "validation accuracy" in proc.stdout and "of 8," in proc.stdout
