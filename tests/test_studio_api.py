"""The studio's JSON API without a browser (what scripts and Home Assistant use): a real run
in this process (a synthetic camera, a tiny real ONNX model, the real preview server), real
HTTP; the train button's job with real ``edgecam train`` subprocesses."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import tomlkit

from edgecam.pipeline.regions import Box, Region
from edgecam.run.driver import ModelSpec, OutputSpec, Run
from edgecam.sinks.base import SinkOptions
from edgecam.sinks.network import PreviewSink
from edgecam.sinks.preview import PreviewServer
from edgecam.sources.factory import open_source
from edgecam.sources.files import SyntheticSource
from edgecam.studio.heldout import check_captures, split_captures
from edgecam.studio.job import TrainRequest
from edgecam.studio.session import Studio, work_dir
from edgecam.util.errors import EdgecamError

from conftest import HAS_TORCH, free_port, wait_for
from tiny_models import tiny_classifier

W, H = 160, 120
TOKEN = "tok"


@contextlib.contextmanager
def studio_run(tmp_path: Path, regions: tuple[Region, ...] = (),
               site_file: Path | None = None, token: str | None = None,
               model: Path | None = None) -> Iterator[tuple[PreviewServer, Studio]]:
    """``live --serve --capture-dir`` in this process: a synthetic camera through a tiny real
    model to the real preview server, with the studio as the run's controller."""
    model = model or tiny_classifier(tmp_path / "tiny.onnx", resolution=32)
    spec = ModelSpec(model=str(model), threads=1, regions=regions)
    studio = Studio(tmp_path / "yard", load=spec.engine, threads=1, given=[regions],
                    site_file=site_file)
    outputs = OutputSpec(serve="127.0.0.1:0", options=SinkOptions(
        live=True, capture_dir=str(tmp_path / "yard"), studio=studio, serve_token=token))
    run = Run(spec, outputs, controller=studio.switch, signals=False)
    with run:
        run.enter(studio)
        source = run.enter(open_source(f"synthetic://{W}x{H}?fps=20"))
        feeding = threading.Thread(target=run.feed_cameras, args=([source],),
                                   kwargs={"overlay": True}, daemon=True)
        feeding.start()
        server = next(s.server for s in run.sinks if isinstance(s, PreviewSink))
        try:
            assert wait_for(lambda: server.newest(0)[0], 20), "no frame"
            yield server, studio
        finally:
            run.stop.set()
            feeding.join(timeout=20)


def call(server: PreviewServer, method: str, path: str, body: object = None,
         headers: dict[str, str] | None = None, raw: bytes | None = None
         ) -> tuple[int, dict | bytes]:
    """One request as a script sends it (JSON, the token in a header when the server has one)."""
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    sent = {"Content-Type": "application/json"} if data is not None else {}
    if server.token:
        sent["X-Edgecam-Token"] = server.token
    sent.update(headers or {})
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", data=data,
                                     method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=20) as r:
            status, payload, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        status, payload, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
    return status, json.loads(payload) if "json" in ctype else payload


def running_regions(server: PreviewServer) -> dict:
    return server.stats(0).get("regions") or {}


def test_regions_change_between_frames_and_captures_are_the_region_crop(tmp_path: Path
                                                                        ) -> None:
    with studio_run(tmp_path) as (server, studio):
        status, info = call(server, "GET", "/api/regions")
        assert status == 200 and info["regions"] == [] and info["frame"] == [W, H]
        assert info["keep"] == "" and info["site_file"] is None
        status, info = call(server, "PUT", "/api/regions",
                            {"regions": [{"name": "gate", "box": [100, 60, 40, 30]},
                                         {"name": "door", "box": [0.0, 0.0, 0.25, 0.5]}]})
        assert status == 200, info
        assert info["regions"] == [{"name": "gate", "box": [100, 60, 40, 30]},
                                   {"name": "door", "box": [0, 0, 40, 60]}]
        assert info["keep"] == "--region gate=100,60,40,30 --region door=0,0,0.25,0.5"
        # the running model watches them from a following frame (the controller's swap)
        assert wait_for(lambda: set(running_regions(server)) == {"gate", "door"}, 20)
        assert running_regions(server)["gate"]["box"] == [100, 60, 40, 30]
        assert call(server, "GET", "/api/regions")[1]["regions"][0]["name"] == "gate"

        status, saved = call(server, "POST", "/api/capture",
                             {"label": "gate open", "region": "gate"})
        assert status == 200 and saved["label"] == "gate open" and saved["count"] == 1, saved
        path = tmp_path / "yard" / "gate open" / saved["saved"]
        crop = cv2.imread(str(path))
        assert crop.shape == (30, 40, 3)
        frames = SyntheticSource("synthetic://", (W, H))._frames

        def error(dx: int, dy: int) -> float:  # against the camera's frames, shifted
            return min(float(np.abs(crop.astype(int) - f[60 + dy:90 + dy, 100 + dx:140 + dx]
                                    ).mean()) for f in frames)

        errors = {(dx, dy): error(dx, dy) for dx in (-2, 0, 2) for dy in (-2, 0, 2)}
        assert min(errors, key=errors.__getitem__) == (0, 0), errors  # the box, exactly
        assert errors[0, 0] < 8  # a camera frame's crop, JPEG noise only (6.5 seen)

        status, listing = call(server, "GET", "/api/dataset")
        assert listing["labels"] == {"gate open": 1} and listing["total"] == 1
        assert listing["pictures"] == {"gate open": [saved["saved"]]}
        query = f"?label=gate%20open&name={saved['saved']}"
        status, picture = call(server, "GET", "/api/picture" + query)
        assert status == 200 and picture == path.read_bytes()
        status, gone = call(server, "DELETE", "/api/picture" + query)
        assert status == 200 and gone == {"deleted": saved["saved"], "label": "gate open",
                                          "count": 0}
        assert not path.exists()
        assert call(server, "DELETE", "/api/picture" + query)[0] == 404

        # back to the whole frame
        status, info = call(server, "PUT", "/api/regions", {"regions": []})
        assert status == 200 and info["keep"] == ""
        assert wait_for(lambda: not running_regions(server), 20)
        status, saved = call(server, "POST", "/api/capture", {"label": "whole"})
        assert status == 200 and cv2.imread(
            str(tmp_path / "yard" / "whole" / saved["saved"])).shape == (H, W, 3)


BAD_CAPTURES = [
    (b'{"label": "x"', "not JSON"),
    (b'{"label": "../elsewhere", "region": "gate"}', "label"),
    (b'{"label": "a/b", "region": "gate"}', "label"),
    (b'{"label": ".hidden", "region": "gate"}', "label"),
    (b'{"label": "", "region": "gate"}', "label"),
    (b'{"label": 3, "region": "gate"}', "label"),
    (b'{"label": "x", "region": "nope"}', "unknown region 'nope'"),
    (b'{"label": "x"}', "name the region"),
    (b'{"label": "x", "region": "gate", "box": 1}', "unknown key 'box'"),
    (b'["x"]', "JSON object"),
]

BAD_REGIONS = [
    ({"regions": [{"name": "gate", "box": [150, 100, 40, 30]}]}, "leaves the 160x120 frame"),
    ({"regions": [{"name": "g", "box": [1, 1, 5, 5]}, {"name": "g", "box": [9, 9, 5, 5]}]},
     "given twice"),
    ({"regions": [{"name": "a/b", "box": [1, 1, 5, 5]}]}, "must be 1-64 characters"),
    ({"regions": [{"name": "g", "box": [1, 1, 5]}]}, "four numbers"),
    ({"regions": [{"name": "g", "box": [True, 1, 5, 5]}]}, "four numbers"),
    ({"regions": [{"name": "g", "box": [1, 1, 0, 5]}]}, "zero or negative size"),
    ({"regions": [{"name": "g", "box": [1.5, 1, 5, 5]}]}, "whole numbers"),
    ({"regions": [{"name": "gate", "box": [1, 1, 5, 5], "model": "/etc/x.onnx"}]},
     "set in the site file"),
    ({"regions": [{"box": [1, 1, 5, 5]}]}, "needs a name"),
    ({"regions": "gate"}, "list of at most"),
    ({"zones": []}, "unknown key 'zones'"),
]


def test_bad_requests_are_one_line_and_change_nothing(tmp_path: Path) -> None:
    gate = Region("gate", Box(100, 60, 40, 30))
    with studio_run(tmp_path, regions=(gate,)) as (server, studio):
        assert wait_for(lambda: "gate" in running_regions(server), 20)
        for body, words in BAD_CAPTURES:
            status, reply = call(server, "POST", "/api/capture", raw=body)
            assert status == 400 and words in reply["error"], (body, reply)
            assert "\n" not in reply["error"]
        for body, words in BAD_REGIONS:
            status, reply = call(server, "PUT", "/api/regions", body)
            assert status == 400 and words in reply["error"], (body, reply)
        assert studio.current(0) == (gate,)
        assert not (tmp_path / "yard").exists()  # nothing written, not even a folder

        # a page of another site, or a body that is not declared JSON, never gets in
        for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
            status, reply = call(server, "POST", "/api/capture",
                                 {"label": "x", "region": "gate"}, headers=headers)
            assert status == 403, reply
        for ctype in ("text/plain", "application/x-www-form-urlencoded"):
            status, reply = call(server, "POST", "/api/capture", raw=b'{"label": "x"}',
                                 headers={"Content-Type": ctype})
            assert status == 415 and "application/json" in reply["error"]
        status, reply = call(server, "POST", "/api/capture", raw=b" " * 70_000)
        assert status == 413
        assert not (tmp_path / "yard").exists()

        status, reply = call(server, "GET", "/api/nothing")
        assert status == 404
        status, reply = call(server, "DELETE", "/api/regions")
        assert status == 405 and "GET, PUT" in reply["error"]
        assert call(server, "GET", "/api/regions?camera=1")[0] == 404
        status, reply = call(server, "GET", "/api/picture?label=x&name=../../etc/passwd")
        assert status == 400
        assert call(server, "GET", "/api/picture?label=x&name=nope.jpg")[0] == 404

        # training: the reasons it cannot start, before it says it runs
        status, reply = call(server, "POST", "/api/train", {})
        assert status == 400 and "at least two" in reply["error"]
        for body, words in (({"sizes": [16]}, "32-512"), ({"sizes": "128"}, "list"),
                            ({"epochs": 0}, "1-500"), ({"speed": 1}, "unknown key")):
            status, reply = call(server, "POST", "/api/train", body)
            assert status == 400 and words in reply["error"], (body, reply)
        status, reply = call(server, "POST", "/api/train/cancel", {})
        assert status == 409 and "no training" in reply["error"]
        status, reply = call(server, "GET", "/api/train")
        assert status == 200 and reply["state"] == "idle"
        assert reply["model"] == "mobilenet_v2-0.35-32"
        assert not work_dir(tmp_path / "yard").exists()


def test_the_api_is_behind_the_token(tmp_path: Path) -> None:
    with studio_run(tmp_path, token=TOKEN) as (server, studio):
        for method, path, body in (("GET", "/api/regions", None), ("GET", "/api/dataset", None),
                                   ("POST", "/api/capture", {"label": "x"}),
                                   ("PUT", "/api/regions", {"regions": []}),
                                   ("POST", "/api/train", {})):
            request = urllib.request.Request(
                f"http://127.0.0.1:{server.port}{path}", method=method,
                data=None if body is None else json.dumps(body).encode(),
                headers={"Content-Type": "application/json"})
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=10)
            assert refused.value.code == 401, (method, path)
        assert call(server, "GET", "/api/regions")[0] == 200  # with the token in a header
        status, _ = call(server, "GET", "/api/regions", headers={"Host": "evil.example"})
        assert status == 403  # DNS rebinding: the Host checks hold for the API too
        assert not (tmp_path / "yard").exists()


SITE = """# the gate camera at home
[[camera]]
source = "0"  # the USB camera

[[camera.region]]
name = "gate"  # the gate itself
box = [100, 60, 40, 30]
hold = 2.0

[events]
dir = "events"
"""


def test_edited_regions_go_back_to_the_site_file(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(SITE)
    gate = Region("gate", Box(100, 60, 40, 30), hold=2.0)
    with studio_run(tmp_path, regions=(gate,), site_file=site) as (server, studio):
        status, info = call(server, "PUT", "/api/regions", {"regions": [
            {"name": "gate", "box": [90, 50, 50, 40]}, {"name": "path", "box": [0, 0, 20, 20]}]})
        assert status == 200 and info["site_file"] == str(site) and "keep" not in info, info
        assert info["regions"][0] == {"name": "gate", "box": [90, 50, 50, 40], "hold": 2.0}
        text = site.read_text()
        assert "# the gate camera at home" in text and "# the USB camera" in text
        data = tomlkit.parse(text).unwrap()  # read back as plain data
        assert data["camera"][0]["region"] == [
            {"name": "gate", "box": [90, 50, 50, 40], "hold": 2.0},
            {"name": "path", "box": [0, 0, 20, 20]}]
        assert data["events"] == {"dir": "events"}
        # the hold the site file gives stays the region's in the running model
        assert wait_for(lambda: running_regions(server).get("gate", {}).get("box")
                        == [90, 50, 50, 40], 20)
        assert studio.current(0)[0].hold == 2.0

        site.write_text("[events]\ndir = 'events'\n")  # no [[camera]] any more
        status, info = call(server, "PUT", "/api/regions", {"regions": []})
        assert status == 200 and "no [[camera]] table" in info["not_saved"]
        assert info["keep"] == "" and site.read_text() == "[events]\ndir = 'events'\n"


def test_the_newest_captures_of_each_label_are_held_out(tmp_path: Path) -> None:
    data = tmp_path / "yard"
    for label in ("open", "closed", "unknown"):
        (data / label).mkdir(parents=True)
        for i in range(10):
            picture = data / label / f"{i:02d}.jpg"
            cv2.imwrite(str(picture), np.full((8, 8, 3), i * 20, np.uint8))
            os.utime(picture, (1000 + i, 1000 + i))  # taken in this order
    split = split_captures(data, tmp_path / "work" / "yard-1")
    assert split.held_out == {"closed": 2, "open": 2, "unknown": 2}
    assert sorted(p.name for p in (split.val / "open").iterdir()) == ["08.jpg", "09.jpg"]
    assert len(list((split.root / "train" / "open").iterdir())) == 8
    assert (split.val / "open" / "09.jpg").stat().st_ino == (data / "open" / "09.jpg"
                                                             ).stat().st_ino  # a link
    assert sorted(p.name for p in data.iterdir()) == ["closed", "open", "unknown"]

    (data / "closed" / "00.jpg").unlink()
    for p in list((data / "closed").iterdir())[1:]:
        p.unlink()
    with pytest.raises(EdgecamError, match="'closed' has 1 picture"):
        check_captures(data)
    for p in (data / "closed").iterdir():
        p.unlink()
    with pytest.raises(EdgecamError, match="1 label"):
        check_captures(data)


def test_a_train_request_is_checked_key_by_key() -> None:
    assert TrainRequest.from_json(None) == TrainRequest()
    assert TrainRequest.from_json({"sizes": [160, 128, 160], "epochs": 5, "budget_s": 12,
                                   "target_fps": 10}) == TrainRequest((128, 160), 5, 12.0, 10.0)
    for body, words in (([], "JSON object"), ({"sizes": []}, "1 to 4"),
                        ({"sizes": [128.5]}, "sizes"), ({"budget_s": 0}, "budget_s"),
                        ({"target_fps": -1}, "target_fps"), ({"epochs": True}, "epochs")):
        with pytest.raises(EdgecamError, match=words):
            TrainRequest.from_json(body)


def test_a_model_that_cannot_run_with_the_run_settings_is_refused_before_the_switch(
        tmp_path: Path) -> None:
    """``--threshold`` names a label the new model lacks: refused where it is asked for; the
    running model goes on."""
    from edgecam.pipeline.model import Model
    from edgecam.pipeline.result import Stats
    from edgecam.runtime.engine import Engine
    from edgecam.studio.switch import ModelSwitch

    old = Engine(tiny_classifier(tmp_path / "old.onnx", resolution=32), 1)
    other = Engine(tiny_classifier(tmp_path / "new.onnx", resolution=32, classes=2,
                                   labels=["open", "closed"]), 1)
    switch = ModelSwitch()
    running = Model(old, threshold="tabby=0.5")
    assert switch(Stats(), running) is None
    with pytest.raises(EdgecamError, match="tabby"):
        switch.set_engine(other)
    assert switch(Stats(), running) is None  # nothing to switch to: the old one runs
    assert switch.running(0) is running


def make_captures(data: Path, labels: tuple[str, ...] = ("red", "blue"), count: int = 4,
                  readable: bool = True) -> None:
    for label, colour in zip(labels, ((0, 0, 220), (220, 0, 0))):
        (data / label).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            picture = np.full((40, 48, 3), colour, np.uint8)
            picture[i:i + 5] = 255
            path = data / label / f"{i:02d}.jpg"
            if readable:
                cv2.imwrite(str(path), picture)
            else:
                path.write_bytes(b"not a picture")


@pytest.mark.slow
@pytest.mark.skipif(not HAS_TORCH, reason="training needs torch (the export extra)")
def test_one_training_at_a_time_and_a_cancel_keeps_the_old_model(tmp_path: Path) -> None:
    make_captures(tmp_path / "yard")
    with studio_run(tmp_path) as (server, studio):
        status, job = call(server, "POST", "/api/train", {"sizes": [64], "epochs": 3})
        assert status == 202 and job["state"] == "running" and job["number"] == 1
        status, reply = call(server, "POST", "/api/train", {})
        assert status == 409 and "running" in reply["error"]
        # cancelled once train works on the pictures (Ctrl-C there keeps its best so far)
        assert wait_for(lambda: "64 px" in call(server, "GET", "/api/train")[1]["step"], 120)
        status, job = call(server, "POST", "/api/train/cancel", {})
        assert status == 200
        job = wait_for(lambda: (j := call(server, "GET", "/api/train")[1])["state"] != "running"
                       and j, 60)
        assert job and job["state"] == "failed" and job["cancelled"], job
        assert "cancelled" in job["error"] and "old model keeps running" in job["error"]
        assert job["model"] == "mobilenet_v2-0.35-32"
        assert server.stats(0)["model"] == "mobilenet_v2-0.35-32"


@pytest.mark.slow
@pytest.mark.skipif(not HAS_TORCH, reason="training needs torch (the export extra)")
def test_a_failed_training_says_why_and_keeps_the_old_model(tmp_path: Path) -> None:
    make_captures(tmp_path / "yard", readable=False)  # named like pictures, none decodes
    with studio_run(tmp_path) as (server, studio):
        status, job = call(server, "POST", "/api/train", {"sizes": [64], "epochs": 3})
        assert status == 202
        job = wait_for(lambda: (j := call(server, "GET", "/api/train")[1])["state"] != "running"
                       and j, 120, 0.2)
        assert job and job["state"] == "failed" and not job.get("cancelled"), job
        assert job["error"].startswith("train failed: class 'blue' has no readable pictures")
        assert job["error"].endswith("the old model keeps running")
        assert "Traceback" not in job["error"]
        assert server.stats(0)["model"] == "mobilenet_v2-0.35-32"


def test_live_config_gets_the_edited_regions_back(tmp_path: Path) -> None:
    """The real CLI: ``live --config site.toml`` with the studio; a region drawn from the API
    runs from the next frame and lands in the file the run was started with."""
    model = tiny_classifier(tmp_path / "tiny.onnx", resolution=32)
    port = free_port()
    site = tmp_path / "site.toml"
    site.write_text(f"""# the yard
model = "{model}"
threads = 1
[outputs]
headless = true
serve = "127.0.0.1:{port}"
capture_dir = "yard"
[[camera]]
source = "synthetic://{W}x{H}?fps=15"  # a camera for the test
[[camera.region]]
name = "gate"  # the gate itself
box = [100, 60, 40, 30]
""")
    proc = subprocess.Popen([sys.executable, "-m", "edgecam", "live", "--config", str(site)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    base = f"http://127.0.0.1:{port}"

    def stats() -> dict | None:
        try:
            with urllib.request.urlopen(f"{base}/stats.json", timeout=5) as r:
                return json.loads(r.read())
        except OSError:
            return None

    try:
        assert wait_for(lambda: (s := stats()) and "gate" in s.get("regions", {}), 60)
        request = urllib.request.Request(
            f"{base}/api/regions", method="PUT", headers={"Content-Type": "application/json"},
            data=json.dumps({"regions": [{"name": "gate", "box": [10, 10, 50, 40]},
                                         {"name": "door", "box": [100, 0, 40, 60]}]}).encode())
        with urllib.request.urlopen(request, timeout=20) as r:
            reply = json.loads(r.read())
        assert reply["site_file"] == str(site), reply
        assert wait_for(lambda: set((stats() or {}).get("regions", {})) == {"gate", "door"},
                        20)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "Traceback" not in err, err
    text = site.read_text()
    assert "# the yard" in text and "# a camera for the test" in text
    data = tomlkit.parse(text).unwrap()
    assert data["camera"][0]["region"] == [{"name": "gate", "box": [10, 10, 50, 40]},
                                           {"name": "door", "box": [100, 0, 40, 60]}]
    assert data["outputs"]["capture_dir"] == "yard"


def test_the_switch_changes_each_camera_on_its_own_and_every_camera_to_a_trained_model(
        tmp_path: Path) -> None:
    from dataclasses import replace as changed

    from edgecam.pipeline.model import Model
    from edgecam.pipeline.result import Stats
    from edgecam.runtime.engine import Engine
    from edgecam.studio.switch import ModelSwitch

    old = Engine(tiny_classifier(tmp_path / "old.onnx", resolution=32), 1)
    new = Engine(tiny_classifier(tmp_path / "new.onnx", resolution=32, seed=1), 1)
    switch = ModelSwitch()
    cameras = [Model(old), Model(old, regions=[Region("door", Box(0, 0, 8, 8))])]
    stats = [changed(Stats(), camera=i) for i in range(2)]
    assert [switch(s, m) for s, m in zip(stats, cameras)] == [None, None]
    gate = (Region("gate", Box(10, 10, 20, 20)),)
    switch.set_regions(0, gate)
    swapped = switch(stats[0], cameras[0])
    assert swapped is not None and swapped.regions == gate and swapped.engine is old
    assert switch(stats[1], cameras[1]) is None  # the other camera keeps its door
    cameras[0] = swapped
    assert switch(stats[0], cameras[0]) is None  # what was asked for runs: nothing to do
    switch.set_engine(new)
    assert not switch.wait_for(new, 0.05)  # neither camera has had a frame since
    models = [switch(s, m) for s, m in zip(stats, cameras)]
    assert [m.engine for m in models] == [new, new]
    assert [m.regions for m in models] == [gate, cameras[1].regions]  # each keeps its own
    assert switch.wait_for(new, 1)
