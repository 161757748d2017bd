"""Run-time adaptation: the down/probe/up state machine on the delivered frame rate, then a
real competing CPU load (busy subprocesses) slowing real models through live()."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from edgecam.commands.live import run_live, use_profile
from edgecam.commands.options import LiveOptions
from edgecam.pipeline.result import Stats
from edgecam.tune.adapt import Adapter
from edgecam.tune.profiles import Rung
from edgecam.util.signals import EndOfRun

from conftest import needs_torch, wait_for

LADDER = [Rung.from_dict(c) for c in [  # fastest first, as in a profile
    {"name": "small", "arch": "mobilenet_v2", "alpha": 0.35, "resolution": 96,
     "precision": "fp32", "threads": 1, "fps": 300.0},
    {"name": "mid", "arch": "mobilenet_v2", "alpha": 0.5, "resolution": 128,
     "precision": "fp32", "threads": 1, "fps": 150.0},
    {"name": "big", "arch": "mobilenet_v2", "alpha": 1.0, "resolution": 224,
     "precision": "fp32", "threads": 1, "fps": 50.0},
]]


class Drive:
    """Feeds an adapter the stats of a run delivering ``fps`` (busy, or waiting for frames)
    on a fake clock, one call per frame, until the adapter switches or ``seconds`` pass."""

    def __init__(self, adapter: Adapter, clock: list[float]) -> None:
        self.adapter, self.clock = adapter, clock
        self.frames = self.model_frames = 0
        self.model = "big"

    def run(self, fps: float, seconds: float, busy: float = 1.0) -> list[str]:
        swaps = []
        step = 1.0 / fps
        for _ in range(int(seconds * fps)):
            self.clock[0] += step
            self.frames += 1
            self.model_frames += 1
            stats = Stats(fps=fps, frames=self.frames, model_frames=self.model_frames,
                          stages_ms={"infer": 1000.0 * busy / fps})
            new = self.adapter(stats, self.model)
            if new is not None:
                swaps.append(new)
                self.model, self.model_frames = new, 0
                break
        return swaps


def make(index: int = 2, target: float = 40.0) -> tuple[Adapter, Drive, list[str]]:
    clock = [0.0]
    said: list[str] = []
    adapter = Adapter(LADDER, index, target, build=lambda c: c.name, say=said.append,
                      down_s=3, dwell_s=10, probe_s=3, clock=lambda: clock[0])
    return adapter, Drive(adapter, clock), said


def test_down_on_delivered_fps_then_up_by_a_probe() -> None:
    adapter, drive, said = make()
    assert drive.run(55, 20) == []  # on target: stays
    assert drive.run(30, 2) == []  # below target, but only for a moment
    assert drive.run(30, 5) == ["mid"]  # a real slowdown: down within ~5 s
    assert "FPS < target 40" in said[-1]
    # the load stays: mid at 90 FPS (60% of its tuned 150) -> big would make 30: no probe
    assert drive.run(90, 30) == []
    # the load ends: mid at 150 -> big expected 50 >= 1.1 x 40: a probe, which holds
    assert drive.run(150, 8) == ["big"]
    assert "probe" in said[-1]
    assert drive.run(52, 6) == [] and adapter.index == 2
    assert any("kept big" in s for s in said)
    assert drive.run(55, 60) == []  # never above what tune chose, no oscillation
    assert [s["to"] for s in adapter.switches] == ["mid, 1 thread", "big, 1 thread"]
    assert [u[0] for u in adapter.usage] == ["big, 1 thread", "mid, 1 thread", "big, 1 thread"]


def test_failed_probe_goes_back_and_waits_longer() -> None:
    adapter, drive, said = make(index=2)
    drive.run(30, 8)
    assert adapter.index == 1
    assert drive.run(150, 16) == ["big"]  # probe
    assert drive.run(35, 5) == ["mid"]  # the probe delivered < target: back
    assert "next probe in 20 s" in said[-1]
    assert drive.run(150, 15) == []  # dwell doubled: not yet
    assert drive.run(150, 10) == ["big"]


def test_bottom_of_the_ladder_stays() -> None:
    """Far below target from the middle rung: one step down to the fastest, then no step
    further however long the target stays out of reach, and no probe back up."""
    adapter, drive, said = make(index=1, target=1000.0)
    assert drive.run(100, 10) == ["small"]
    assert drive.run(100, 60) == [] and adapter.index == 0


def test_a_slow_source_is_not_a_reason_to_step_down() -> None:
    adapter, drive, said = make()
    assert drive.run(15, 30, busy=0.2) == []  # 15 FPS camera, pipeline mostly waiting
    assert sum("source delivers" in s for s in said) == 1


# --- real models, real load --------------------------------------------------------------------


@needs_torch
@pytest.mark.slow
def test_every_rung_is_exported_before_the_run(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A profile whose faster rungs are not in the model store yet: they are exported when
    the run starts, so stepping down under load never waits for an export."""
    from edgecam.tune import profiles

    store = tmp_path / "models"
    monkeypatch.setenv("EDGECAM_MODELS", str(store))
    rungs = [{"arch": "mobilenet_v2", "alpha": alpha, "resolution": res, "precision": "fp32",
              "threads": 1, "fps": fps, "model": f"mobilenet_v2-{alpha}-{res}"}
             for alpha, res, fps in ((0.35, 96, 400.0), (0.5, 128, 200.0), (1.0, 96, 150.0))]
    profile = tmp_path / "p.json"
    profile.write_text(json.dumps({
        "format": profiles.FORMAT, "device": {}, "target_fps": 100.0, "weights": "random",
        "chosen": rungs[-1], "frontier": rungs}))
    opts, _ = use_profile(LiveOptions(source="synthetic://320x240", headless=True),
                          str(profile), lambda _m: None)
    assert sorted(p.name for p in store.glob("*.onnx")) == [
        "mobilenet_v2-0.35-96.onnx", "mobilenet_v2-0.5-128.onnx", "mobilenet_v2-1.0-96.onnx"]
    assert Path(opts.model).name == "mobilenet_v2-1.0-96.onnx"


@pytest.fixture(scope="module")
def ladder(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """Two real models (random weights) measured on this machine, fastest first."""
    pytest.importorskip("torch", reason="needs torch (the export extra)")
    from edgecam.models.catalog import ModelConfig
    from edgecam.tune.measure import Bench, model_file
    from edgecam.tune.space import Candidate, Prior

    store = tmp_path_factory.mktemp("adapt-models")
    mp = pytest.MonkeyPatch()
    mp.setenv("EDGECAM_MODELS", str(store))
    bench = Bench(min_s=0.5)
    out = []
    try:
        for alpha, res in ((0.35, 96), (1.0, 224)):
            c = Candidate(ModelConfig("mobilenet_v2", alpha, res, "fp32"),
                          1, 0, None, Prior(None, None))
            path = model_file(c, "random", Path("nowhere"))
            fps = sorted(bench.pass_fps(path, 1) for _ in range(3))[1]
            out.append({"name": c.name, "arch": "mobilenet_v2", "alpha": alpha,
                        "resolution": res, "precision": "fp32", "threads": 1, "fps": fps,
                        "model": str(path)})
    finally:
        mp.undo()
    return sorted(out, key=lambda c: -c["fps"])


@pytest.mark.slow
def test_real_load_steps_down_then_back_up(ladder: list[dict], tmp_path: Path) -> None:
    """Busy subprocesses started and stopped by the test: the run steps down to the fast
    model under load and back up by a probe after the load ends; every JSON line names the
    model that made it."""
    from edgecam.tune import profiles

    small, big = ladder
    target = big["fps"] * 0.6
    profile = tmp_path / "p.json"
    profile.write_text(json.dumps({
        "format": profiles.FORMAT, "device": {}, "target_fps": target, "weights": "random",
        "chosen": big, "frontier": ladder}))
    said: list[str] = []
    jsonl = tmp_path / "out.jsonl"
    opts = LiveOptions(source="synthetic://320x240", headless=True, json_out=str(jsonl))
    opts, adapter = use_profile(opts, str(profile), said.append)
    adapter.down_s, adapter.dwell_s, adapter.probe_s = 2.0, 4.0, 2.0
    done = threading.Event()

    def controller(stats, model):
        if done.is_set():
            raise EndOfRun
        return adapter(stats, model)

    opts = replace(opts, controller=controller)
    summary: list = []
    thread = threading.Thread(target=lambda: summary.append(run_live(opts)))
    thread.start()
    load: list[subprocess.Popen] = []
    try:
        assert wait_for(lambda: adapter.usage[-1][1] > 3, timeout=60), said
        load = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(4)]
        assert wait_for(lambda: adapter.index == 0, timeout=90), said  # down under load
        for p in load:
            p.kill()
        assert wait_for(lambda: adapter.index == 1 and any("kept" in s for s in said),
                        timeout=120), said  # back up by a probe once the load is gone
    finally:
        for p in load:
            p.kill()
            p.wait()
        done.set()
        thread.join(timeout=30)
    reasons = [s["reason"] for s in adapter.switches]
    assert "< target" in reasons[0] and "probe" in reasons[-1], reasons
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert {r["model"] for r in rows} == {small["name"], big["name"]}
    assert summary and summary[0].switches[0] == small["name"]
