"""Every command answers "unknown" (issue 24): a model's calibrated rejection rule and
``--threshold`` over it, with real onnxruntime sessions on real models — a tiny three-class
model for the quick checks, and the real exported Lite0 with a rule written into its metadata
on real photos (one known, one not) through the real CLI: classify on a terminal and in JSON
lines, live's JSON lines and MQTT events, the overlay, and every bad input in one line."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

import edgecam
from edgecam.commands.democlip import make_clip
from edgecam.commands.live import LabelChanges
from edgecam.commands.options import ClassifyOptions, LiveOptions
from edgecam.pipeline.loop import Pipeline
from edgecam.pipeline.model import Model
from edgecam.pipeline.overlay import TOP1, UNSURE, answer_lines
from edgecam.runtime.engine import Engine
from edgecam.runtime.unknown import UNKNOWN, Thresholds, rejection_for
from edgecam.sinks.mqtt import camera_name
from edgecam.sinks.network import MqttSink, PreviewSink, stats_of
from edgecam.sources.files import FileListSource
from edgecam.sources.frames import Stream
from edgecam.tune.accuracy import answer_scores
from edgecam.util.errors import EdgecamError

from browser import rendered
from conftest import Broker, Subscriber, assert_one_line_error, needs_broker, run_cli
from test_first_hour import run_on_terminal
from test_preview import find_chromium
from tiny_models import tiny_classifier, tiny_meta, with_rejection

GATE = ["gate open", "gate closed", "truck, red"]  # a space and a comma in the labels
NO_DISPLAY = {"DISPLAY": "", "WAYLAND_DISPLAY": ""}


# --- --threshold as the user gives it ---------------------------------------------------------


def test_threshold_for_every_class_and_per_class_comma_separated_or_repeated():
    assert Thresholds.parse(None) == Thresholds() and not Thresholds().given
    assert Thresholds.parse(["0.8"]) == Thresholds(every=0.8)
    assert Thresholds.parse(0) == Thresholds(every=0.0)  # off: never unknown
    assert Thresholds.parse("gate open=0.8") == Thresholds(classes=(("gate open", 0.8),))
    both = Thresholds(every=0.5, classes=(("gate open", 0.8), ("truck, red", 0.3)))
    assert Thresholds.parse(["0.5,gate open=0.8", "truck, red = 0.3"]) == both
    assert Thresholds.parse(["gate open=0.8", "0.5", "truck, red=0.3"]) == both
    assert Thresholds.parse({"gate open": 0.8}) == Thresholds(classes=(("gate open", 0.8),))
    assert Thresholds.parse("a=b=1") == Thresholds(classes=(("a=b", 1.0),))  # "=" in a label
    options = ClassifyOptions(threshold=["gate open=0.8"])
    assert options.threshold == Thresholds(classes=(("gate open", 0.8),))


@pytest.mark.parametrize("given, message", [
    (["1.5"], "must be in [0, 1], got '1.5'"),
    (["70"], "(a probability: 0.7 for 70%)"),
    (["-0.1"], "must be in [0, 1]"),
    (["nan"], "must be in [0, 1]"),
    (["gate open=2"], "got 'gate open=2'"),
    (["abc"], "--threshold takes a probability for every class (0.8) or LABEL=VALUE"),
    (["gate open"], "got 'gate open'"),
    (["gate open="], "got 'gate open='"),
    (["=0.5"], "no label before '='"),
    (["0.5,0.6"], "a value for every class twice (0.5 and 0.6)"),
    (["a=0.5", "a=0.6"], "gives 'a' twice"),
])
def test_bad_threshold_is_refused_when_the_options_are_made(given, message):
    for options in (ClassifyOptions, LiveOptions):
        with pytest.raises(EdgecamError) as err:
            options(threshold=given)
        assert message in str(err.value) and "\n" not in str(err.value)


# --- the rule of a real model -----------------------------------------------------------------


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A tiny real three-class model without a rule, two real pictures (white, grey) and
    the probability of each one's top-1, measured through onnxruntime."""
    d = tmp_path_factory.mktemp("gate")
    model = tiny_classifier(d / "plain.onnx", resolution=32, classes=3, labels=GATE,
                            dataset="gate")
    pictures = []
    for name, value in (("white", 255), ("grey", 128)):
        pictures.append(str(d / f"{name}.png"))
        cv2.imwrite(pictures[-1], np.full((720, 960, 3), value, np.uint8))
    tops = [r.top[0] for r in edgecam.predict(FileListSource(pictures, "images"), model)]
    sure, unsure = tops
    assert sure.score > unsure.score + 0.2, tops  # white is sure, grey is not
    threshold = round((sure.score + unsure.score) / 2, 3)
    return {"dir": d, "plain": model, "pictures": pictures, "tops": tops,
            "threshold": threshold,
            "model": with_rejection(model, d / "gate.onnx", threshold)}


def answers(model: Path, pictures: list[str], **kwargs) -> list:
    return list(edgecam.predict(FileListSource(pictures, "images"), model, **kwargs))


def test_the_models_rule_answers_unknown_and_keeps_the_top_k(gate):
    sure, unsure = gate["tops"]
    known, unknown = answers(gate["model"], gate["pictures"], top_k=3)
    assert (known.label, known.unknown) == (sure.label, False)
    assert (unknown.label, unknown.unknown) == (UNKNOWN, True)
    assert len(unknown.top) == 3 and unknown.top[0] == unsure  # nothing dropped
    assert known.record()["label"] == sure.label
    line = unknown.record()
    assert line["label"] == UNKNOWN and line["top"][0]["label"] == unsure.label
    assert list(line) == ["frame", "source", "model", "label", "top"]
    assert stats_of(unknown.stats, unknown.top, None, unknown.label)["label"] == UNKNOWN
    # a model without a rule never answers unknown
    assert [r.label for r in answers(gate["plain"], gate["pictures"])] == [sure.label,
                                                                          unsure.label]


def test_threshold_overrides_the_rule_per_class_everywhere_or_not_at_all(gate):
    sure, unsure = gate["tops"]
    model, pictures = gate["model"], gate["pictures"]
    lenient = {unsure.label: round(unsure.score - 0.01, 3)}  # the others keep the rule
    assert [r.label for r in answers(model, pictures, threshold=lenient)] == [sure.label,
                                                                           unsure.label]
    strict = f"{round(sure.score + 0.01, 3)}"
    assert [r.label for r in answers(model, pictures, threshold=strict)] == [UNKNOWN, UNKNOWN]
    assert [r.label for r in answers(model, pictures, threshold=0)] == [sure.label,
                                                                        unsure.label]
    rule = rejection_for(Engine(model, 1).meta, ["0.9", "truck, red=0.2"])
    assert rule.thresholds == (0.9, 0.9, 0.2) and rule.calibrated == gate["threshold"]
    assert rejection_for(Engine(gate["plain"], 1).meta).thresholds == (0.0, 0.0, 0.0)


def test_a_label_the_model_lacks_or_a_rule_from_a_newer_edgecam_is_one_line(gate):
    meta = Engine(gate["model"], 1).meta
    with pytest.raises(EdgecamError) as err:
        rejection_for(meta, "gate shut=0.5")
    assert str(err.value) == ("--threshold names 'gate shut', which is not a label of "
                              "gate-mobilenet_v2-0.35-32; its labels: 'gate open', "
                              "'gate closed', 'truck, red'")
    with pytest.raises(EdgecamError, match=r"did you mean 'tabby'"):
        rejection_for(tiny_meta(), "taby=0.5")  # ImageNet's 1000 labels: the close ones
    for rule, message in (({"score": "energy", "threshold": -3.0}, "newer edgecam"),
                          ({"score": "probability", "threshold": "high"}, "broken"),
                          ({"score": "probability"}, "broken")):
        with pytest.raises(EdgecamError, match=message):
            rejection_for(dataclasses.replace(meta, rejection=rule))


def test_overlay_shows_unknown_first_then_the_best_guess(gate):
    sure, unsure = gate["tops"]
    pipeline = Pipeline(Model(Engine(gate["model"], 1), top_k=2), overlay=True)
    known, unknown = pipeline.results(FileListSource(gate["pictures"], "images"))
    h, w = unknown.frame.image.shape[:2]
    texts = [text for text, _ in answer_lines(unknown.top, True, w, h)]
    assert texts[:2] == [UNKNOWN, f"{unsure.label} {unsure.score * 100:.0f}%"]
    assert [text for text, _ in answer_lines(known.top, False, w, h)][0] == (
        f"{sure.label} {sure.score * 100:.0f}%")

    def painted(image: np.ndarray, color: tuple) -> bool:
        return bool(np.all(image[:h // 4] == color, axis=-1).any())

    assert painted(unknown.frame.image, UNSURE) and not painted(unknown.frame.image, TOP1)
    assert painted(known.frame.image, TOP1) and not painted(known.frame.image, UNSURE)


def test_live_prints_changes_to_and_from_unknown(gate):
    said: list[str] = []
    sink = LabelChanges(said.append)
    white, grey = gate["pictures"]
    for result in answers(gate["model"], [white, grey, grey, white]):
        sink.write(result)
    sure, unsure = gate["tops"]
    assert said == [f"frame 0: {sure.label} ({sure.score:.2f})",
                    f"frame 1: unknown (best: {unsure.label} {unsure.score:.2f})",
                    f"frame 3: {sure.label} ({sure.score:.2f})"]


@needs_broker
def test_a_change_to_or_from_unknown_is_an_mqtt_event(gate, broker: Broker):
    sub = Subscriber(broker.port, "home/#")
    sink = MqttSink(f"mqtt://127.0.0.1:{broker.port}/home", names=["gate"])
    white, grey = gate["pictures"]
    try:
        sink.open(Stream("images", 0))
        for result in answers(gate["model"], [white, grey, grey, white]):
            sink.write(result)
        got = [sub.get("home/gate/prediction") for _ in range(3)]
        event = sub.get("home/gate/event")
    finally:
        sink.close(True)
        sub.close()
    sure, unsure = gate["tops"]
    assert [(m["label"], m["frame"]) for m in got] == [(sure.label, 0), (UNKNOWN, 1),
                                                       (sure.label, 3)]
    assert got[1]["best"] == unsure.label and got[1]["score"] == round(unsure.score, 5)
    assert "best" not in got[0]
    # the pictures are a second apart: "unknown" held 1 s, so the frame's state changed once
    assert (event["region"], event["from"], event["to"]) == ("frame", None, UNKNOWN)
    assert sink.publisher.events == 3 + 1


@pytest.mark.slow
def test_the_preview_pages_show_unknown_and_the_best_guess(gate, tmp_path):
    """The real pages in a real headless Chromium, fed by a preview sink with real results:
    one camera's page and the grid of two."""
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium not installed (scripts/system-deps installs it)")
    unsure = gate["tops"][1]
    sink = PreviewSink("http://127.0.0.1:0")
    try:
        for camera in (0, 1):
            sink.open(Stream("images", camera))
            for result in answers(gate["model"], gate["pictures"][1:]):
                result.stream = Stream("images", camera)
                sink.write(result)
        pages = {path: rendered(sink.server.url + path, tmp_path / f"profile{len(path)}",
                                ready)
                 for path, ready in (("?camera=0", "best guess:"),  # one camera's page
                                     ("", "unknown (best:"))}  # the grid
    finally:
        sink.close(True)
    page, grid = pages["?camera=0"], pages[""]
    assert '<div id="best" class="unknown">unknown</div>' in page, page[-3000:]
    assert f"best guess: {unsure.label} {unsure.score:.1%}" in page
    assert f"unknown (best: {unsure.label} {unsure.score:.0%})" in grid, grid[-3000:]


def test_tune_counts_unknown_as_wrong_for_a_known_picture():
    scores = answer_scores(["cat", UNKNOWN, "dog", UNKNOWN, "cat"],
                           ["cat", "cat", "cat", UNKNOWN, UNKNOWN])
    assert (scores.known, scores.correct, scores.unknown, scores.rejected) == (3, 1, 2, 1)
    assert scores.top1 == 33.33 and scores.rejected_share == 50.0
    assert answer_scores(["cat"], ["cat"]).rejected_share is None


# --- the real CLI on a real exported model with a rule, on real photos -----------------------


def photo(path: Path, name: str) -> str:
    cv2.imwrite(str(path), cv2.cvtColor(getattr(data, name)(), cv2.COLOR_RGB2BGR))
    return str(path)


@pytest.fixture(scope="module")
def photos(lite0_onnx: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The exported Lite0 with a rule between what it gives two real photos: the coffee cup
    (espresso, sure) is known, the astronaut (no ImageNet class fits) is not."""
    d = tmp_path_factory.mktemp("photos")
    coffee, astronaut = photo(d / "coffee.png", "coffee"), photo(d / "astronaut.png",
                                                                "astronaut")
    sure, unsure = [r.top[0] for r in answers(lite0_onnx, [coffee, astronaut])]
    assert sure.label == "espresso" and sure.score > unsure.score + 0.3, (sure, unsure)
    threshold = round((sure.score + unsure.score) / 2, 3)
    model = with_rejection(lite0_onnx, d / "photos.onnx", threshold, dataset="photos")
    return {"dir": d, "model": str(model), "coffee": coffee, "astronaut": astronaut,
            "sure": sure, "unsure": unsure}


def test_classify_says_unknown_on_a_terminal_and_in_json_lines(photos, tmp_path):
    code, out, err = run_on_terminal("classify", photos["coffee"], photos["astronaut"],
                                     "--model", photos["model"], "--top-k", "2")
    assert code == 0, err
    lines = out.strip().splitlines()[-2:]
    assert re.fullmatch(rf"{photos['coffee']}: espresso \d+\.\d%, \S.* \d+\.\d%", lines[0])
    best = f"{photos['unsure'].label} {photos['unsure'].score:.1%}"
    assert lines[1].startswith(f"{photos['astronaut']}: unknown (best: {best}, "), lines[1]
    assert lines[1].endswith("%)")

    jl = tmp_path / "p.jsonl"
    proc = run_cli("classify", photos["coffee"], photos["astronaut"], "--model",
                   photos["model"], "--json-out", str(jl))
    assert proc.returncode == 0, proc.stderr
    known, unknown = [json.loads(line) for line in jl.read_text().splitlines()]
    assert known["label"] == "espresso" == known["top"][0]["label"]
    assert unknown["label"] == "unknown" and len(unknown["top"]) == 5
    assert unknown["top"][0]["label"] == photos["unsure"].label
    assert unknown["model"] == "photos-efficientnet_lite0-1.0-224"


def test_threshold_overrides_per_class_and_switches_off(photos):
    unsure = photos["unsure"].label
    pictures = [photos["coffee"], photos["astronaut"]]
    # every class stricter than espresso's score, the astronaut's best class more lenient
    proc = run_cli("classify", *pictures, "--model", photos["model"], "--threshold", "0.99",
                   "--threshold", f"{unsure}=0.01")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"{photos['coffee']}: unknown",
                                        f"{photos['astronaut']}: {unsure}"]
    off = run_cli("classify", *pictures, "--model", photos["model"], "--threshold", "0")
    assert off.returncode == 0, off.stderr
    assert off.stdout.splitlines() == [f"{photos['coffee']}: espresso",
                                       f"{photos['astronaut']}: {unsure}"]


@needs_broker
def test_live_json_lines_and_mqtt_event_when_the_scene_turns_unknown(photos, broker, tmp_path):
    clip = tmp_path / "clip.mp4"
    make_clip([Path(photos["coffee"]), Path(photos["astronaut"])], clip, seconds_each=1.0,
              fps=10, size=(320, 240))
    sub = Subscriber(broker.port, "cam/#")
    jl = tmp_path / "live.jsonl"
    try:
        proc = run_cli("live", "--source", str(clip), "--fast", "--model", photos["model"],
                       "--json-out", str(jl), "--mqtt", f"mqtt://127.0.0.1:{broker.port}/cam",
                       "--headless", env=NO_DISPLAY)
        assert proc.returncode == 0, proc.stderr
        # the topic is the camera's (named after the source), never the model's
        events = sub.drain(f"cam/{camera_name(str(clip))}/prediction", settle=2.0)
    finally:
        sub.close()
    labels = [r["label"] for r in map(json.loads, jl.read_text().splitlines())]
    assert len(labels) == 20 and labels[:5] == ["espresso"] * 5 and labels[-5:] == [
        "unknown"] * 5
    assert [e["label"] for e in events] == ["espresso", "unknown"]
    assert events[1]["frame"] == labels.index("unknown") and events[1]["best"]


@pytest.mark.parametrize("args, message", [
    (["classify", "{coffee}", "--threshold", "1.5"], "--threshold must be in [0, 1]"),
    (["classify", "{coffee}", "--threshold", "sure"], "--threshold takes a probability"),
    (["classify", "{coffee}", "--threshold", "espresso=0.5,espresso=0.6"], "twice"),
    (["classify", "{coffee}", "--threshold", "gate open=0.5"], "not a label of photos-"),
    (["live", "--source", "{coffee}", "--headless", "--threshold", "gate open=0.5"],
     "not a label of photos-"),
    (["classify", "{coffee}", "--model", "{newer}"], "made by a newer edgecam"),
])
def test_bad_thresholds_end_in_one_line(photos, args, message):
    newer = photos["dir"] / "newer.onnx"
    if not newer.exists():
        with_rejection(photos["model"], newer, -2.5, score="energy")
    args = [a.format(coffee=photos["coffee"], newer=newer) for a in args]
    if "--model" not in args:
        args += ["--model", photos["model"]]
    line = assert_one_line_error(run_cli(*args, env=NO_DISPLAY))
    assert message in line, line
