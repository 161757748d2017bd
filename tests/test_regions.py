"""Regions (issue 30): places of a fixed camera's frame classified on their own, states that
hold, events with snapshots. Real tiny ONNX models in onnxruntime, real videos written and
decoded by OpenCV, the real CLI."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import edgecam
from edgecam.pipeline.regions import Box, check_regions, parse_region
from edgecam.pipeline.states import StateTracker
from edgecam.runtime.engine import Engine
from edgecam.util.errors import EdgecamError

from conftest import assert_one_line_error, finish, run_cli, wait_for
from tiny_models import tiny_classifier

RED, BLUE, GREEN = (0, 0, 255), (255, 0, 0), (0, 200, 0)
GATE = (240, 180, 70, 50)  # x, y, w, h in a 320x240 frame
SWITCH = 15  # frames between the gate's switches
FPS = 10


@pytest.fixture(scope="module")
def gate_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two classes the tiny model tells apart by colour: a red picture is "closed", a blue
    one "open" (seed 3)."""
    path = tiny_classifier(tmp_path_factory.mktemp("m") / "gate.onnx", resolution=32,
                           classes=2, labels=["closed", "open"], seed=3)
    return path


def gate_clip(path: Path, frames: int = 60, flicker: tuple[int, ...] = ()) -> Path:
    """A 320x240 clip at 10 FPS: moving noise on the left (real content that changes every
    frame), a green wall, and the gate in the bottom-right switching between red (closed) and
    blue (open) every ``SWITCH`` frames; the ``flicker`` frames show the other colour."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (320, 240))
    rng = np.random.default_rng(0)
    for i in range(frames):
        frame = np.empty((240, 320, 3), np.uint8)
        frame[:] = GREEN
        frame[:, :200] = rng.integers(0, 255, (240, 200, 3), dtype=np.uint8)
        color = RED if (i // SWITCH) % 2 == 0 else BLUE
        if i in flicker:
            color = BLUE if color == RED else RED
        x, y, w, h = GATE
        frame[y:y + h, x:x + w] = color
        writer.write(frame)
    writer.release()
    return path


def true_states(frames: int) -> list[str]:
    return ["closed" if (i // SWITCH) % 2 == 0 else "open" for i in range(frames)]


GATE_ARG = "gate=" + ",".join(map(str, GATE))


# --- what a region is ------------------------------------------------------------------------


def test_region_text_is_checked_in_one_line() -> None:
    region = parse_region("gate=240,180,70,50:gate.onnx")
    assert (region.name, region.model, region.box) == ("gate", "gate.onnx",
                                                       Box(240, 180, 70, 50, False))
    assert parse_region("left=0,0,0.5,0.5").box.fractional
    for bad, why in (("=1,2,3,4", "empty"), ("gate=1,2,0,4", "zero"),
                     ("gate=1,2,3", "four numbers"), ("gate", "NAME=X,Y,W,H"),
                     ("gate=0.5,0,0.6,1", "leaves the frame"), ("gate=-1,0,3,3", "outside"),
                     ("a/b=1,1,2,2", "'/'")):
        with pytest.raises(EdgecamError, match=why):
            parse_region(bad)
    with pytest.raises(EdgecamError, match="twice"):
        check_regions([parse_region("g=1,1,2,2"), parse_region("g=3,3,2,2")])
    with pytest.raises(EdgecamError, match="leaves the 320x240 frame"):
        parse_region("gate=300,200,40,40").box.pixels(320, 240)
    assert parse_region("half=0.5,0.5,0.5,0.5").box.pixels(320, 240) == (160, 120, 160, 120)


def test_a_state_changes_only_when_a_label_holds() -> None:
    tracker = StateTracker(hold=1.0)
    seen = []
    for t, label in [(0.0, "a"), (0.5, "a"), (1.0, "a"), (1.1, "b"), (1.5, "a"), (2.0, "b"),
                     (2.5, "b"), (3.0, "b")]:
        change = tracker.update(label, t)
        if change is not None:
            seen.append((change.before, change.after, change.since))
    # the first state after "a" held 1 s; the one-frame "b" at 1.1 never became a state
    assert seen == [(None, "a", 0.0), ("a", "b", 2.0)]


# --- in Python: every region of a frame in one call ------------------------------------------


def test_regions_are_cropped_from_the_frame_and_inferred_in_one_call(gate_model: Path,
                                                                     tmp_path: Path) -> None:
    clip = gate_clip(tmp_path / "gate.mp4", frames=30)
    engine = Engine(gate_model, 1)
    calls: list[int] = []
    run = engine.run

    def counted(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        return run(batch)

    engine.run = counted  # type: ignore[method-assign]  # counts the real session's calls
    results = list(edgecam.predict(str(clip), engine, regions=[GATE_ARG, "wall=200,0,40,60"]))
    assert len(results) == 30 and calls == [2] * 30  # both regions, one call per frame
    gate = [r.regions[0] for r in results]
    assert [g.name for g in gate[:1]] == ["gate"] and gate[0].box == GATE
    assert [g.label for g in gate] == true_states(30)
    assert all(r.regions[1].label == "open" for r in results)  # the green wall
    # the whole frame (mostly noise) does not say what the gate says
    whole = [r.label for r in edgecam.predict(str(clip), gate_model)]
    assert whole != true_states(30)


def test_a_region_with_its_own_model_loads_it_once(gate_model: Path, tmp_path: Path) -> None:
    other = tiny_classifier(tmp_path / "other.onnx", resolution=48, classes=3,
                            labels=["x", "y", "z"], seed=1)
    clip = gate_clip(tmp_path / "gate.mp4", frames=5)
    results = list(edgecam.predict(str(clip), gate_model, regions=[
        GATE_ARG, f"a=0,0,50,50:{other}", f"b=50,0,50,50:{other}"]))
    first = results[0]
    assert [r.name for r in first.regions] == ["gate", "a", "b"]
    assert first.regions[1].top[0].label in ("x", "y", "z")
    assert first.regions[0].top[0].label in ("closed", "open")


# --- the command line --------------------------------------------------------------------------


def test_classify_regions_json_lines_and_events(gate_model: Path, tmp_path: Path) -> None:
    clip = gate_clip(tmp_path / "gate.mp4", frames=60, flicker=(22, 52))
    events = tmp_path / "events"
    proc = run_cli("classify", str(clip), "--model", str(gate_model), "--region", GATE_ARG,
                   "--hold", "0.5", "--json-out", str(tmp_path / "out.jsonl"),
                   "--events", str(events))
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(lines) == 60 and "top" not in lines[0] and "label" not in lines[0]
    gate = lines[20]["regions"]["gate"]
    assert set(gate) == {"label", "top", "state", "since"}
    assert (gate["state"], gate["since"]) == ("open", 1.5)
    assert lines[22]["regions"]["gate"]["label"] == "closed"  # the flicker: an answer...
    assert lines[22]["regions"]["gate"]["state"] == "open"  # ...that never became the state
    # one-frame flickers never became states: one event per real switch, the first from null
    got = [json.loads(x) for x in (events / "events.jsonl").read_text().splitlines()]
    assert [(e["from"], e["to"]) for e in got] == [(None, "closed"), ("closed", "open"),
                                                   ("open", "closed"), ("closed", "open")]
    assert [e["since"] for e in got] == [0.0, 1.5, 3.0, 4.5]  # the file's own seconds
    for e in got:
        assert {"region", "from", "to", "score", "frame", "time", "snapshot"} <= set(e)
        snap = cv2.imread(str(events / e["snapshot"]))
        assert snap is not None and snap.shape[0] == 240 and snap.shape[1] > 320  # + the crop
    plain = run_cli("classify", str(clip), "--model", str(gate_model), "--region", GATE_ARG)
    # 30 closed frames and the 2 flickers
    assert plain.stdout.strip() == f"{clip} gate: closed (32/60 frames)", plain.stderr


def test_states_are_the_same_at_any_speed(gate_model: Path, tmp_path: Path) -> None:
    """live at the file's own rate and live --fast see the same state changes (the file's
    timestamps are the clock)."""
    clip = gate_clip(tmp_path / "gate.mp4", frames=50)
    seen = []
    for fast in ([], ["--fast"]):
        out = tmp_path / f"ev{len(seen)}"
        proc = run_cli("live", "--source", str(clip), "--model", str(gate_model), "--headless",
                       "--region", GATE_ARG, "--smoothing", "0", "--events", str(out), *fast)
        assert proc.returncode == 0, proc.stderr
        seen.append([(e["from"], e["to"], e["since"]) for e in map(
            json.loads, (out / "events.jsonl").read_text().splitlines())])
    # the same changes; at the file's own rate a busy machine may drop a frame, which moves
    # "since" by at most one frame (0.1 s)
    assert [s[:2] for s in seen[0]] == [s[:2] for s in seen[1]] and len(seen[0]) == 3
    assert all(abs(a[2] - b[2]) <= 0.1 + 1e-9 for a, b in zip(*seen))
    assert [s[2] for s in seen[1]] == [0.0, 1.5, 3.0]  # --fast: every frame


def test_a_box_outside_the_frame_is_one_line_before_anything_runs(gate_model: Path,
                                                                  tmp_path: Path) -> None:
    clip = gate_clip(tmp_path / "gate.mp4", frames=5)
    out = tmp_path / "out.mp4"
    proc = run_cli("classify", str(clip), "--model", str(gate_model), "--region",
                   "gate=300,200,70,50", "-o", str(out), "--events", str(tmp_path / "ev"))
    line = assert_one_line_error(proc)
    assert "region 'gate'" in line and "leaves the 320x240 frame" in line
    assert not out.exists() and not (tmp_path / "ev" / "events.jsonl").exists()
    for bad in ("gate=1,1,0,5", "=1,1,5,5"):
        assert_one_line_error(run_cli("classify", str(clip), "--model", str(gate_model),
                                      "--region", bad))
    # live with no outputs says what it prints at its first answer, so the box is the line
    line = assert_one_line_error(run_cli("live", "--source", str(clip), "--model",
                                         str(gate_model), "--headless", "--region",
                                         "gate=300,200,70,50"))
    assert "leaves the 320x240 frame" in line
    line = assert_one_line_error(run_cli("classify", str(clip), "--model", str(gate_model),
                                         "--region", "g=1,1,5,5", "--region", "g=9,9,5,5"))
    assert "twice" in line


def test_events_folder_is_bounded_and_lines_stay(gate_model: Path, tmp_path: Path) -> None:
    clip = gate_clip(tmp_path / "gate.mp4", frames=60)
    events = tmp_path / "events"
    proc = run_cli("classify", str(clip), "--model", str(gate_model), "--region", GATE_ARG,
                   "--region", "wall=200,0,40,60", "--events", str(events),
                   "--events-keep", "2")
    assert proc.returncode == 0, proc.stderr
    lines = (events / "events.jsonl").read_text().splitlines()
    pictures = sorted(p.name for p in events.glob("*.jpg"))
    assert len(lines) == 5 and len(pictures) == 2  # 4 gate events + the wall's first
    assert pictures == sorted(json.loads(x)["snapshot"] for x in lines)[-2:]
    assert not [p for p in events.iterdir() if p.name.startswith(".")]


def test_events_on_a_full_disk_stay_whole(gate_model: Path, tmp_path: Path,
                                          full_disk: Path) -> None:
    """A 256 KiB disk: snapshots are left out once less than 5% would stay free, said in one
    line; every event line is whole JSON."""
    clip = gate_clip(tmp_path / "gate.mp4", frames=60)
    events = full_disk / "events"
    proc = run_cli("classify", str(clip), "--model", str(gate_model), "--region", GATE_ARG,
                   "--events", str(events))
    lines = (events / "events.jsonl").read_text().splitlines()
    assert [json.loads(x)["to"] for x in lines][:2] == ["closed", "open"]
    assert proc.returncode == 0 or "no space" in proc.stderr
    for picture in events.glob("*.jpg"):
        assert cv2.imread(str(picture)) is not None
    assert not [p for p in events.iterdir() if p.name.startswith(".")]


def test_events_survive_sigterm_whole(gate_model: Path, tmp_path: Path) -> None:
    clip = gate_clip(tmp_path / "gate.mp4", frames=60)
    events = tmp_path / "events"
    proc = subprocess.Popen([sys.executable, "-m", "edgecam", "live", "--source", str(clip),
                             "--loop", "--fast", "--model", str(gate_model), "--headless",
                             "--region", GATE_ARG, "--hold", "0.5", "--events", str(events)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: (events / "events.jsonl").is_file() and len(
            (events / "events.jsonl").read_text().splitlines()) >= 6, timeout=60)
        proc.send_signal(signal.SIGTERM)
        _, err = finish(proc, 30, "live after SIGTERM")
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    lines = (events / "events.jsonl").read_text().splitlines()
    assert all(json.loads(x)["region"] == "gate" for x in lines)
    named = {json.loads(x)["snapshot"] for x in lines}
    assert {p.name for p in events.glob("*.jpg")} == named - {None}
    assert all(cv2.imread(str(events / n)) is not None for n in named if n)
    assert not [p for p in events.iterdir() if p.name.startswith(".")]


def test_overlay_draws_each_box_with_its_state(gate_model: Path, tmp_path: Path) -> None:
    """The box's outline is green once the region has a state, orange before; the whole
    frame's top-k panel is not drawn (there is no whole-frame answer)."""
    from edgecam.pipeline.overlay import TOP1, UNSURE

    clip = gate_clip(tmp_path / "gate.mp4", frames=30)
    frames = [r.frame.image for r in edgecam.predict(str(clip), gate_model, overlay=True,
                                                     regions=[GATE_ARG])]
    x, y, w, h = GATE
    assert tuple(frames[25][y + h // 2, x]) == TOP1  # "open" held: a state
    assert tuple(frames[2][y + h // 2, x]) == UNSURE  # no state yet
    raw = next(iter(edgecam.predict(str(clip), gate_model))).frame.image
    assert np.array_equal(frames[0][:20, :150], raw[:20, :150])  # no top-k panel drawn


def test_capture_saves_the_region_as_live_crops_it(tmp_path: Path) -> None:
    clip = gate_clip(tmp_path / "gate.mp4", frames=20)
    proc = run_cli("capture", "--source", str(clip), "--label", "closed", "--out",
                   str(tmp_path / "data"), "--count", "3", "--every", "0", "--region", GATE_ARG)
    assert proc.returncode == 0, proc.stderr
    pictures = sorted((tmp_path / "data" / "closed").glob("*.jpg"))
    assert len(pictures) == 3
    crop = cv2.imread(str(pictures[0]))
    assert crop.shape[:2] == (GATE[3], GATE[2])
    assert abs(int(crop[..., 2].mean()) - 255) < 20  # the red gate, nothing else
    line = assert_one_line_error(run_cli(
        "capture", "--source", str(clip), "--label", "x", "--out", str(tmp_path / "d2"),
        "--region", "gate=300,200,70,50"))
    assert "leaves the 320x240 frame" in line and not (tmp_path / "d2").exists()


def test_json_lines_without_regions_are_as_before(gate_model: Path, tmp_path: Path) -> None:
    clip = gate_clip(tmp_path / "gate.mp4", frames=3)
    proc = run_cli("classify", str(clip), "--model", str(gate_model), "--json-out", "-")
    assert proc.returncode == 0, proc.stderr
    first = json.loads(proc.stdout.splitlines()[0])
    assert set(first) == {"frame", "source", "time_ms", "model", "label", "top"}


def test_a_profile_switch_keeps_the_regions(gate_model: Path, tmp_path: Path) -> None:
    """``live --profile`` stepping to another rung swaps the engine, not the places watched."""
    from edgecam.models.catalog import ModelConfig
    from edgecam.pipeline.model import Model
    from edgecam.tune.adapt import Adapter
    from edgecam.tune.profiles import Rung

    other = tiny_classifier(tmp_path / "o.onnx", resolution=48, classes=2,
                            labels=["closed", "open"], seed=3)
    rungs = [Rung(ModelConfig("mobilenet_v2", 0.35, 48), model=str(other), fps=60.0),
             Rung(ModelConfig("mobilenet_v2", 0.35, 32), model=str(gate_model), fps=30.0)]
    running = Model(Engine(gate_model, 1), regions=[parse_region(GATE_ARG)])
    adapter = Adapter(rungs, 1, 30.0, build=lambda r: Model(Engine(r.model, 1)),
                      say=lambda _m: None)
    switched = adapter.switch(0, running, "a slower device")
    assert switched.regions == running.regions and switched.engine.path == other
    assert [v.name for v in switched.views] == ["gate"]
