"""Home Assistant's MQTT discovery (issue 31), read back from a real mosquitto as Home
Assistant reads it: retained configs, the topics they point to, availability by the last
will; real tiny ONNX models, real videos written and decoded by OpenCV, the real CLI."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import edgecam
from edgecam.commands.options import LiveOptions
from edgecam.sinks.homeassistant import Discovery, region_ids
from edgecam.sinks.mqtt import camera_name
from edgecam.sinks.network import MqttSink
from edgecam.sources.frames import Stream
from edgecam.util.errors import EdgecamError

from conftest import WAIT, Broker, Subscriber, finish, needs_broker, run_cli, wait_for
from test_regions import GATE_ARG, gate_clip
from tiny_models import tiny_classifier

WALL_ARG = "wall=200,0,40,60"
NODE = "edgecam_front_gate"  # the device of --camera-name "front gate"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two tiny models telling the gate's red ("closed") from blue ("open"): the second is
    a "re-tune" (another size, another file, another name)."""
    folder = tmp_path_factory.mktemp("m")
    first = tiny_classifier(folder / "gate.onnx", resolution=32, classes=2,
                            labels=["closed", "open"], seed=3)
    second = tiny_classifier(folder / "gate-48.onnx", resolution=48, classes=2,
                             labels=["closed", "open"], seed=3)
    return first, second


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return gate_clip(tmp_path_factory.mktemp("clip") / "gate.mp4", frames=60)


class Retained(Subscriber):
    """What a late subscriber (Home Assistant after a restart) gets: the retained messages,
    raw bytes by topic."""

    def snapshot(self, settle: float = 0.5) -> dict[str, bytes]:
        """Every message received until it is quiet for ``settle``, the newest per topic."""
        out: dict[str, bytes] = {}
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            got = False
            for topic, q in list(self.topics.items()):
                while not q.empty():
                    out[topic] = q.get()
                    got = True
            if not got and out:
                time.sleep(settle)
                if all(q.empty() for q in self.topics.values()):
                    return out
            time.sleep(0.05)
        return out


def retained(port: int, topic: str) -> dict[str, bytes]:
    sub = Retained(port, topic)
    try:
        return {t: m for t, m in sub.snapshot().items() if m}
    finally:
        sub.close()


def configs_of(messages: dict[str, bytes], node: str = NODE) -> dict[str, dict]:
    return {t: json.loads(m) for t, m in messages.items()
            if t.startswith("homeassistant/") and f"/{node}/" in t and t.endswith("/config")}


def feed(sink: MqttSink, model: Path, clip: Path, regions: list[str]) -> list:
    """The results of ``clip`` through ``sink``, once it is connected (a run's first frames
    may come before the connection: then what stands is sent when it comes)."""
    sink.open(Stream(str(clip), 0))
    assert wait_for(lambda: sink.publisher.connected, WAIT), "never connected"
    results = list(edgecam.predict(str(clip), model, regions=regions, hold=0.5))
    for result in results:
        result.stream = Stream(str(clip), 0)
        sink.write(result)
    return results


# --- names ---------------------------------------------------------------------------------


def test_a_camera_is_named_after_its_source_never_its_credentials() -> None:
    host = socket.gethostname().split(".")[0]
    assert camera_name("rtsp://admin:s3cret@cam.local:554/Streaming/101?token=x") == (
        "cam_local_554_Streaming_101")
    assert camera_name("http://10.0.0.7/video.mjpg") == "10_0_0_7_video_mjpg"
    assert camera_name("0") == f"{host}_camera0".replace(".", "_")
    assert camera_name("/dev/video2").endswith("_video2")
    assert camera_name("/clips/gate.mp4").endswith("_gate")
    assert camera_name("csi://0").endswith("_csi0")
    assert camera_name("0") == camera_name("0")  # stable


def test_region_ids_are_stable_and_never_shared() -> None:
    assert region_ids(["gate", "door"]) == {"gate": "gate", "door": "door"}
    ids = region_ids(["gate 1", "gate_1", "shelf"])
    assert ids["shelf"] == "shelf" and len(set(ids.values())) == 3
    assert ids == region_ids(["shelf", "gate_1", "gate 1"])  # not the order they came in
    assert all(set(i) <= set("abcdefghijklmnopqrstuvwxyz0123456789_") for i in ids.values())


def test_camera_names_and_prefix_are_checked_in_one_line() -> None:
    with pytest.raises(EdgecamError, match="one name per source"):
        LiveOptions(sources=["0"], camera_names=["a", "b"])
    with pytest.raises(EdgecamError, match="same topics"):
        LiveOptions(sources=["0", "1"], camera_names=["front gate", "front_gate"])
    with pytest.raises(EdgecamError, match="no letter or digit"):
        LiveOptions(sources=["0"], camera_names=["//"])
    with pytest.raises(EdgecamError, match="--ha-prefix"):
        LiveOptions(sources=["0"], ha_prefix="home/#")
    assert LiveOptions(sources=["0"], ha_prefix="/ha/").ha_prefix == "ha"


def test_stale_configs_and_what_they_point_to_are_removed() -> None:
    disc = Discovery("homeassistant", "cam", "e/cam", "e/cam/status")
    now = disc.configs(region_ids(["gate"]), "m")
    before = disc.configs(region_ids(["gate", "wall"]), "old-model")
    old = {t: json.dumps(c).encode() for t, c in before.items()}
    stale = disc.stale(old, now)
    assert set(stale) == {
        "homeassistant/sensor/edgecam_cam/region_wall/config",
        "homeassistant/image/edgecam_cam/region_wall/config",
        "e/cam/wall/state", "e/cam/wall/attributes", "e/cam/wall/snapshot"}
    assert disc.stale({}, now) == []


# --- in one process, against a real broker -------------------------------------------------


@needs_broker
def test_home_assistant_reads_a_device_with_an_entity_per_region(
        models: tuple[Path, Path], clip: Path, broker: Broker) -> None:
    """The retained configs as Home Assistant reads them, and every topic they name: the
    sensor's state and attributes, the image's JPEG, the FPS, the availability."""
    watcher = Subscriber(broker.port, "homeassistant/#")  # counts what is sent, once here
    # subscribed once a probe comes back (earlier runs' retained messages came before it)
    def probe_back() -> bool:
        watcher.client.publish("homeassistant/probe", b"x", qos=1)
        return not watcher.topics["homeassistant/probe"].empty()

    assert wait_for(probe_back, WAIT, every=0.2), "the watcher never subscribed"
    watcher.topics.clear()
    sink = MqttSink(f"mqtt://127.0.0.1:{broker.port}/cams", names=["front gate"],
                    ha_prefix="homeassistant")
    try:
        results = feed(sink, models[0], clip, [GATE_ARG, WALL_ARG])
        publisher = sink.publisher
        assert wait_for(lambda: publisher.connected, WAIT)
        sink.idle(results[-1].stats, Stream(str(clip), 0))
        got = retained(broker.port, "#")
        # every acknowledgement matched a message the run filed (an unmatched one would count
        # a later prediction with the same id, after paho's ids wrap, as delivered unsent)
        assert wait_for(lambda: not publisher._unacked, WAIT)
        assert publisher._acked_first == set()
    finally:
        sink.close(True)
        watcher.close()
    configs = configs_of(got)
    # one connection: each config sent once (not again by the first reconnection's refresh)
    assert {t: watcher.topics[t].qsize() for t in configs} == {t: 1 for t in configs}
    assert set(configs) == {f"homeassistant/{kind}/{NODE}/{entity}/config"
                            for kind, entity in [("sensor", "region_gate"),
                                                 ("image", "region_gate"),
                                                 ("sensor", "region_wall"),
                                                 ("image", "region_wall"), ("sensor", "fps")]}
    ids = [c["unique_id"] for c in configs.values()]
    assert len(set(ids)) == 5 and all(i.startswith(NODE) for i in ids)
    for config in configs.values():
        assert config["availability_topic"] == "cams/front_gate/status"
        assert (config["payload_available"], config["payload_not_available"]) == (
            "online", "offline")
        device = config["device"]
        assert device["identifiers"] == [NODE] and device["name"] == "front gate"
        assert device["model"] == results[0].stats.model and device["sw_version"]
    assert got["cams/front_gate/status"] == b"online"  # as of the run (close says offline)

    gate = configs[f"homeassistant/sensor/{NODE}/region_gate/config"]
    states = [r.regions[0].state for r in results if r.regions[0].change]
    assert len(states) >= 3 and got[gate["state_topic"]].decode() == states[-1]
    attributes = json.loads(got[gate["json_attributes_topic"]])
    last = [r for r in results if r.regions[0].change][-1].regions[0]
    assert attributes["label"] == last.label and attributes["since"] == round(last.since, 3)
    assert attributes["score"] == round(last.top[0].score, 5)
    assert [p["label"] for p in attributes["top"]] == [p.label for p in last.top]

    image = configs[f"homeassistant/image/{NODE}/region_gate/config"]
    assert image["content_type"] == "image/jpeg"
    picture = cv2.imdecode(np.frombuffer(got[image["image_topic"]], np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape[0] == 240 and picture.shape[1] > 320  # + crop
    # the crop beside the frame shows the gate as it was at the change: red or blue
    b, _, r = picture[:, 330:].reshape(-1, 3).mean(axis=0)
    assert (r > b) == (states[-1] == "closed")

    fps = configs[f"homeassistant/sensor/{NODE}/fps/config"]
    stats = json.loads(got[fps["state_topic"]])
    assert fps["value_template"] == "{{ value_json.fps }}" and "fps" in stats
    assert "efficientnet" not in json.dumps(sorted(got))  # no topic names a model


@needs_broker
def test_a_new_model_keeps_the_topics_and_a_removed_region_loses_its_entity(
        models: tuple[Path, Path], clip: Path, broker: Broker) -> None:
    url = f"mqtt://127.0.0.1:{broker.port}/cams"
    first = MqttSink(url, names=["front gate"], ha_prefix="homeassistant")
    try:
        feed(first, models[0], clip, [GATE_ARG, WALL_ARG])
    finally:
        first.close(True)
    before = configs_of(retained(broker.port, "homeassistant/#"))
    assert len(before) == 5

    watch = Retained(broker.port, "homeassistant/#")
    second = MqttSink(url, names=["front gate"], ha_prefix="homeassistant")
    try:
        results = feed(second, models[1], clip, [GATE_ARG])  # a re-tune, and no wall
        camera = second.cameras[0]
        assert wait_for(lambda: len(camera.removed) >= 5, WAIT), camera.removed
    finally:
        second.close(True)
    seen = watch.snapshot()
    watch.close()
    wall = {t for t in before if "region_wall" in t}
    assert all(seen.get(t) == b"" for t in wall)  # emptied: Home Assistant removes them
    after = configs_of(retained(broker.port, "#"))
    assert set(after) == set(before) - wall
    for topic, config in after.items():  # same topics and unique_ids with the other model
        assert {k: v for k, v in config.items() if k != "device"} == {
            k: v for k, v in before[topic].items() if k != "device"}
        assert config["device"]["model"] == results[0].stats.model != before[topic][
            "device"]["model"]
    leftovers = retained(broker.port, "cams/#")
    assert not [t for t in leftovers if "/wall/" in t]  # its state went too


# --- the real command line: the last will, a clean stop, --no-ha ---------------------------


@needs_broker
def test_the_last_will_says_offline_when_the_process_is_killed(
        models: tuple[Path, Path], clip: Path, broker: Broker) -> None:
    sub = Subscriber(broker.port, "cams/#")
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgecam", "live", "--source", str(clip), "--loop", "--model",
         str(models[0]), "--headless", "--region", GATE_ARG, "--hold", "0.5", "--mqtt",
         f"mqtt://127.0.0.1:{broker.port}/cams", "--camera-name", "front gate",
         "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert sub.get("cams/front_gate/status", timeout=60) == "online"
        assert sub.get("cams/front_gate/gate/state", timeout=60) in ("closed", "open")
        proc.kill()  # SIGKILL: no goodbye from the process; the broker speaks its will
        finish(proc, 30, "live after SIGKILL")
        assert sub.get("cams/front_gate/status", timeout=WAIT) == "offline"
    finally:
        if proc.poll() is None:
            proc.kill()
        sub.close()


@needs_broker
def test_a_clean_stop_says_offline_and_no_ha_announces_nothing(
        models: tuple[Path, Path], clip: Path, broker: Broker) -> None:
    url = f"mqtt://127.0.0.1:{broker.port}/cams"
    proc = run_cli("live", "--source", str(clip), "--fast", "--model", str(models[0]),
                   "--headless", "--region", GATE_ARG, "--mqtt", url, "--max-frames", "30",
                   "--camera-name", "front gate", "--ha-prefix", "ha")
    assert proc.returncode == 0, proc.stderr
    got = retained(broker.port, "#")
    assert got["cams/front_gate/status"] == b"offline"
    assert len(configs_of({t.replace("ha/", "homeassistant/", 1): m
                           for t, m in got.items()})) == 3  # under --ha-prefix

    proc = run_cli("live", "--source", str(clip), "--fast", "--model", str(models[0]),
                   "--headless", "--region", GATE_ARG, "--mqtt", url, "--max-frames", "30",
                   "--camera-name", "back door", "--no-ha")
    assert proc.returncode == 0, proc.stderr
    got = retained(broker.port, "#")
    assert not [t for t in got if "back_door" in t and t.endswith("/config")]
    assert got["cams/back_door/gate/state"] in (b"closed", b"open")  # states without HA
    assert got["cams/back_door/status"] == b"offline"
