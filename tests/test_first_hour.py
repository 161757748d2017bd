"""What a new user meets in their first hour: a picture's top-k on a terminal, a video file in
``live`` playing at its own rate (``--fast``, ``--loop``), ``--version``, ``synthetic://``
with no size, and one-line errors that say what to try."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecam.sources import camera
from edgecam.sources.factory import open_source, parse_uri

from conftest import ROOT, assert_one_line_error, run_cli
from tiny_models import tiny_classifier


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_classifier(tmp_path_factory.mktemp("first-hour") / "tiny.onnx", resolution=32)


def clip(path: Path, frames: int = 40, fps: float = 20.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (96, 72))
    for i in range(frames):
        writer.write(np.full((72, 96, 3), (i * 6) % 255, np.uint8))
    writer.release()
    return path


def run_on_terminal(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    """The real CLI with its stdout on a pseudo-terminal, as a person running it sees it."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "edgecam", *args], stdout=slave,
                            stderr=subprocess.PIPE, cwd=cwd)
    os.close(slave)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # the terminal closed with the process
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    _, err = proc.communicate(timeout=120)
    reader.join(timeout=10)
    os.close(master)
    return proc.returncode, b"".join(chunks).decode().replace("\r\n", "\n"), err.decode()


def test_a_picture_on_a_terminal_shows_its_top_k_with_scores(tiny: Path, tmp_path: Path):
    picture = tmp_path / "red.png"
    cv2.imwrite(str(picture), np.full((48, 64, 3), (0, 0, 255), np.uint8))
    code, out, err = run_on_terminal("classify", str(picture), "--model", str(tiny),
                                     "--top-k", "3")
    assert code == 0, err
    line = out.strip().splitlines()[-1]
    assert line.startswith(f"{picture}: ")
    scores = re.findall(r"(\d+\.\d)%", line)
    assert len(scores) == 3 and [float(s) for s in scores] == sorted(map(float, scores),
                                                                     reverse=True)
    assert "classified 1 picture in" in err and "FPS" not in err and "1 frames" not in err
    piped = run_cli("classify", str(picture), "--model", str(tiny), "--top-k", "3")
    assert piped.stdout.count("%") == 0  # a script reading stdout keeps one label per line
    assert piped.stdout.strip().count(":") == 1


def test_several_pictures_say_pictures_per_second(tiny: Path, tmp_path: Path):
    for name in ("a", "b", "c"):
        cv2.imwrite(str(tmp_path / f"{name}.png"), np.full((48, 64, 3), 90, np.uint8))
    proc = run_cli("classify", str(tmp_path), "--model", str(tiny))
    assert proc.returncode == 0, proc.stderr
    assert "classified 3 pictures in" in proc.stderr and "per second" in proc.stderr


class FakeClock:
    """time.monotonic and time.sleep for the playback thread: sleeping advances the clock."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.lock = threading.Lock()

    def monotonic(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += max(0.0, seconds)

    def __getattr__(self, name: str):
        import time

        return getattr(time, name)


def read_all(source, limit: int = 1000) -> list:
    frames = []
    while len(frames) < limit:
        frame = source.read(1.0)
        if frame is None:
            if source.state == "ended":
                break
            continue
        frames.append(frame)
    return frames


def test_a_video_file_plays_at_its_own_rate_then_ends(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch):
    """Like a camera: 40 frames of a 20 FPS file take 2 s of its clock; then it ends."""
    clock = FakeClock()
    monkeypatch.setattr(camera, "time", clock)
    path = clip(tmp_path / "c.mp4", frames=40, fps=20.0)
    start = clock.now
    with open_source(str(path), playback=True) as source:
        assert source.live and source.fps == pytest.approx(20.0)
        frames = read_all(source)
        assert source.state == "ended"
    # every frame arrives (the reader keeps up) and the file's clock ran its 2 s
    assert len(frames) + source.dropped == 40
    assert clock.now - start == pytest.approx(39 / 20.0, abs=0.06)


def test_loop_plays_the_file_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(camera, "time", FakeClock())
    path = clip(tmp_path / "c.mp4", frames=10)
    with open_source(str(path), playback=True, loop=True) as source:
        frames = read_all(source, limit=35)
        assert source.state != "ended"
    assert len(frames) == 35 and frames[-1].index >= 34
    with open_source(str(path), loop=True) as fast:  # --loop --fast: every frame, numbered on
        indices = [f.index for _, f in zip(range(25), fast)]
    assert indices == list(range(25))


def test_live_on_a_file_ends_with_it_and_fast_takes_every_frame(tiny: Path, tmp_path: Path):
    path = clip(tmp_path / "c.mp4", frames=24, fps=60.0)
    for extra in ([], ["--fast"]):
        out = tmp_path / f"live{len(extra)}.jsonl"  # live JSON lines append to a file
        proc = run_cli("live", "--source", str(path), "--model", str(tiny), "--headless",
                       "--json-out", str(out), *extra)
        assert proc.returncode == 0, proc.stderr
        lines = out.read_text().splitlines()
        dropped = int(re.search(r"(\d+) dropped", proc.stderr).group(1))
        assert len(lines) + dropped == 24, proc.stderr
        if extra:
            assert len(lines) == 24 and dropped == 0


def test_version_and_synthetic_without_a_size(tiny: Path):
    proc = run_cli("--version")
    assert proc.returncode == 0 and re.fullmatch(r"edgecam \d+\.\d+\.\d+\n", proc.stdout)
    assert parse_uri("synthetic://").options["size"] == (640, 480)
    live = run_cli("live", "--source", "synthetic://", "--model", str(tiny), "--headless",
                   "--max-frames", "2")
    assert live.returncode == 0, live.stderr


def test_errors_say_what_to_try(tiny: Path, tmp_path: Path):
    line = assert_one_line_error(run_cli("live", "--source", "7", "--headless", "--model",
                                         str(tiny)))
    assert "camera 7 not found" in line and "synthetic://" in line
    picture = tmp_path / "x.jpg"
    picture.write_bytes(b"not really")
    probe = ("import atexit, sys; atexit.register(lambda: print('torch loaded:', "
             "'torch' in sys.modules, file=sys.stderr)); sys.argv = ['edgecam', 'train', "
             f"{str(picture)!r}]; from edgecam.cli import main; main()")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert proc.returncode == 1
    assert "is a file; give the data set folder" in proc.stderr
    assert "torch loaded: False" in proc.stderr  # said before seconds of importing torch
    missing = assert_one_line_error(run_cli("train", str(tmp_path / "nope")))
    assert "data set folder not found" in missing


# --- the preview page: the frame shown and its figures come from one response -----------------


def fetch_shown(url: str, after: int) -> tuple[int, int, bytes, dict]:
    """What the page asks for: (status, sequence, JPEG, the stats published with it)."""
    with urllib.request.urlopen(f"{url}frame.jpg?after={after}", timeout=10) as resp:
        return (resp.status, int(resp.headers["X-Edgecam-Seq"]), resp.read(),
                json.loads(resp.headers["X-Edgecam-Stats"]))


def test_the_page_gets_each_frame_with_its_own_stats() -> None:
    """Frames published fast (each a grey level that encodes its number, its stats the same
    number): every frame the page is given carries the stats published with that very frame,
    even while newer ones keep arriving."""
    from edgecam.sinks.preview import PreviewServer

    stop = threading.Event()
    with PreviewServer("127.0.0.1", 0) as srv:
        def publish() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                srv.publish(np.full((48, 64, 3), (n % 20) * 12, np.uint8),
                            {"frames": n, "state": "running"})
                time.sleep(0.002)

        feeder = threading.Thread(target=publish)
        feeder.start()
        try:
            seq, seen = 0, []
            for _ in range(40):
                status, seq, jpeg, stats = fetch_shown(srv.url, seq)
                assert status == 200
                grey = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
                seen.append((round(float(grey.mean()) / 12) % 20, stats["frames"] % 20))
        finally:
            stop.set()
            feeder.join()
    assert all(level == number for level, number in seen), seen
    assert len({number for _, number in seen}) > 5  # the frames did move on


def test_the_page_hears_the_source_ended_before_the_server_goes() -> None:
    from edgecam.sinks.network import PreviewSink
    from edgecam.sources.frames import Stream

    sink = PreviewSink("http://127.0.0.1:0")
    stream = Stream("clip.mp4", 0)
    sink.open(stream)
    sink.server.publish(np.zeros((48, 64, 3), np.uint8), {"state": "running", "frames": 1})
    states: list[str] = []

    def watch() -> None:  # a page polling as fast as it can
        seq = 0
        while True:
            try:
                _, seq, _, stats = fetch_shown(sink.server.url, seq)
            except OSError:
                return
            states.append(stats["state"])
            if stats["state"] == "ended":
                return

    page = threading.Thread(target=watch)
    page.start()
    assert wait_until(lambda: states)
    sink.end(stream, True)
    sink.close(True)  # lingers while a page watches, so it learns the source ended
    page.join(timeout=10)
    assert states[-1] == "ended", states


def wait_until(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


# --- tune: the rows that matter, and a plot a person can read ---------------------------------


def tune_result():
    from edgecam.models.catalog import ModelConfig
    from edgecam.tune.choose import choose, ladder
    from edgecam.tune.request import required_fps
    from edgecam.tune.search import TuneResult
    from edgecam.tune.space import Candidate, Prior

    def cand(res: int, top1: float, passes: list[float], predicted: float | None = None):
        c = Candidate(ModelConfig("mobilenet_v2", 1.0, res, "fp32"), 1, res * res * 1000, None,
                      Prior(top1, "estimated", "test"))
        c.passes, c.predicted_fps = passes, predicted
        return c

    cands = [cand(224, 72.0, [40.0, 41.0, 42.0]), cand(192, 70.7, [], predicted=45.0),
             cand(160, 68.8, [70.0, 72.0, 74.0]), cand(128, 65.3, [110.0, 112.0, 115.0])]
    cands += [cand(r, 60.0 - r / 10, []) for r in (96, 112)]  # less accurate, never measured
    chosen = choose(cands, required_fps(60, 0.05))
    return TuneResult(60, 0.05, "imagenet", cands, chosen, cands[3], ladder(cands, chosen),
                      5.0, 90.0)


def test_tune_table_shows_what_matters_and_why(tmp_path: Path) -> None:
    from edgecam.tune.plot import plot
    from edgecam.tune.report import render

    result = tune_result()
    assert result.chosen is not None and result.chosen.resolution == 160
    text = render(result)
    rows = {line.split()[0]: line for line in text.splitlines()
            if line.startswith("mobilenet_v2")}
    assert set(rows) == {"mobilenet_v2-1.0-224", "mobilenet_v2-1.0-192",
                         "mobilenet_v2-1.0-160", "mobilenet_v2-1.0-128"}
    assert "chosen" in rows["mobilenet_v2-1.0-160"]
    assert "too slow: 40.5 < 63.0 FPS needed" in rows["mobilenet_v2-1.0-224"]
    assert "not measured: predicted 45 FPS < 63" in rows["mobilenet_v2-1.0-192"]
    assert "and 2 less accurate config(s) not measured" in text and "--all" in text
    every = render(result, all_rows=True)
    assert "mobilenet_v2-1.0-96" in every and "less accurate config(s)" not in every
    png = plot(result, tmp_path / "tune.png")
    image = cv2.imread(str(png))
    assert image is not None and image.shape[1] >= 1000  # a real picture was drawn


def test_tune_plot_axes_are_readable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """y within 0-100, plain-number FPS ticks, each measured point labelled, the choice's
    callout inside the axes (checked on the figure matplotlib drew)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edgecam.tune import plot as plot_module

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)  # keep the figure to look at it
    plot_module.plot(tune_result(), tmp_path / "tune.png")
    ax = figures[0].axes[0]
    low, high = ax.get_ylim()
    assert 0 <= low < high <= 100
    fig = figures[0]
    fig.canvas.draw()
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert ticks and all(re.fullmatch(r"\d+", t) for t in ticks), ticks
    labels = [t.get_text() for t in ax.texts]
    assert {"224 px fp32 x1", "160 px fp32 x1", "128 px fp32 x1"} <= set(labels)
    callout = next(t for t in ax.texts if t.get_text().startswith("chosen:"))
    box = callout.get_window_extent(fig.canvas.get_renderer())
    frame = ax.get_window_extent(fig.canvas.get_renderer())
    assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
    plt.close("all")


# --- profiles: one per set of candidates, and live says which it runs --------------------------


def test_profiles_per_candidate_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgecam.tune import profiles

    monkeypatch.setenv("EDGECAM_PROFILES", str(tmp_path))
    assert profiles.set_name("models/gate-*.onnx", "imagenet", []) == "gate"
    assert profiles.set_name(None, "imagenet", []) == "imagenet"
    assert profiles.set_name(None, "random", ["mobilenet_v2"]) == "random-mobilenet-v2"
    device = profiles.device_info()
    rung = {"arch": "mobilenet_v2", "alpha": 0.5, "resolution": 128, "threads": 1,
            "fps": 300.0, "model": "mobilenet_v2-0.5-128"}

    def tuned(name: str, chosen: bool, created: str) -> profiles.Profile:
        data = {"device": device, "target_fps": 60.0, "frontier": [rung],
                "chosen": rung if chosen else None}
        prof = profiles.Profile.from_json({**data, "name": name})
        prof.created = created
        return prof

    gate = profiles.save_profile(tuned("gate", True, "2026-01-01T00:00:00"))
    net = profiles.save_profile(tuned("imagenet", True, "2026-01-02T00:00:00"))
    assert gate.path != net.path and gate.replaced is None  # the ImageNet tune kept gate's
    path, prof, why = profiles.choose_profile("auto")
    assert prof.name == "imagenet" and "newest of 2" in why and "--profile NAME" in why
    path, prof, why = profiles.choose_profile("gate")
    assert path == gate.path and prof.name == "gate"
    with pytest.raises(profiles.EdgecamError, match="it has: imagenet, gate"):
        profiles.choose_profile("door")
    nothing = profiles.save_profile(tuned("gate", False, "2026-01-03T00:00:00"))
    assert nothing.kept and profiles.load_profile(gate.path).chosen is not None
    again = profiles.save_profile(tuned("gate", True, "2026-01-04T00:00:00"))
    assert again.replaced is not None and not again.kept


def test_live_says_which_profile_it_runs(tiny: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from edgecam.tune import profiles

    monkeypatch.setenv("EDGECAM_PROFILES", str(tmp_path))
    rung = {"arch": "mobilenet_v2", "alpha": 0.35, "resolution": 32, "threads": 1,
            "fps": 500.0, "model": str(tiny)}
    data = {"device": profiles.device_info(), "target_fps": 30.0, "frontier": [rung],
            "chosen": rung}
    profiles.save_profile(profiles.Profile.from_json({**data, "name": "gate"}))
    proc = run_cli("live", "--source", "synthetic://64x48", "--headless", "--max-frames", "3",
                   "--profile", "auto")
    assert proc.returncode == 0, proc.stderr
    assert "using profile 'gate'" in proc.stderr
    assert "the only profile for this device" in proc.stderr
