"""The site file (issue 30, item 6): ``live --config site.toml`` describes the cameras, their
regions, the outputs and the model options with the flags' names; flags given on the command
line override it; a wrong key or value is one line naming the key and its line. Real TOML files
written here, the real CLI on videos made here, a real tiny ONNX model in onnxruntime."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edgecam.commands.site import read_site
from edgecam.util.errors import EdgecamError
from edgecam.util.tomlfile import key_lines, tomllib

from conftest import assert_one_line_error, run_cli
from test_regions import GATE, gate_clip
from tiny_models import tiny_classifier


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Red is "closed", blue "open" (the gate of test_regions' clips)."""
    return tiny_classifier(tmp_path_factory.mktemp("m") / "gate.onnx", resolution=32,
                           classes=2, labels=["closed", "open"], seed=3)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """320x240 at 10 FPS: the gate switches closed/open every 1.5 s, 60 frames."""
    return gate_clip(tmp_path_factory.mktemp("v") / "gate.mp4", frames=60)


def site(tmp_path: Path, text: str, name: str = "site.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def gate_site(model: Path, clip: Path | str, out: Path) -> str:
    """One camera watching the gate, events and JSON lines written, as a newcomer writes it."""
    x, y, w, h = GATE
    return f"""\
# the gate camera
model = "{model}"
hold = 2.0          # the run's hold; the gate's own is below
smoothing = 0
fast = true

[outputs]
headless = true
events = "{out / 'events'}"
events_keep = 50
json_out = "{out / 'frames.jsonl'}"

[[camera]]
source = "{clip}"

[[camera.region]]
name = "gate"
box = [{x}, {y}, {w}, {h}]
hold = 0.5
"""


def events_of(folder: Path) -> list[dict]:
    return [json.loads(x) for x in (folder / "events.jsonl").read_text().splitlines()]


# --- where each key is written ---------------------------------------------------------------


def test_key_lines_follow_strings_arrays_and_tables() -> None:
    """Every key tomllib reads has its line, also past multi-line strings that look like
    tables, inline arrays of tables and tables inside an array's entries."""
    text = '''\
model = "m.onnx"   # [not a table]
note = """
[[camera]]
hold = 3 \\""" still the string
"""
a.b."c d" = 'x'
list = [1, [2, 3], {k = 1},
  "four"]
[outputs]
events = "ev/"
[[camera]]
source = "one.mp4"
[[camera.region]]
name = "gate"
[[camera]]
region = [{name = "a", box = [1, 2, 3, 4]},
          {name = "b", box = "1,2,3,4"}]
[camera.extra]
k = 1
'''
    lines = key_lines(text)

    def paths(value: object, path: tuple = ()) -> list[tuple]:
        if isinstance(value, dict):
            return [p for k, v in value.items() for p in paths(v, path + (k,))] or [path]
        if isinstance(value, list):
            return [p for n, v in enumerate(value) for p in paths(v, path + (n,))] or [path]
        return [path]

    assert all(p in lines for p in paths(tomllib.loads(text)))
    assert lines[("note",)] == 2 and lines[("a", "b", "c d")] == 6
    assert lines[("list", 3)] == 8 and lines[("list", 2, "k")] == 7
    assert lines[("outputs", "events")] == 10
    assert lines[("camera", 0, "source")] == 12 and lines[("camera", 0, "region", 0)] == 13
    assert lines[("camera", 1, "region", 1, "box")] == 17
    assert lines[("camera", 1, "extra", "k")] == 19


# --- the file runs the site ------------------------------------------------------------------


def test_a_site_file_runs_its_camera_regions_and_outputs(model: Path, clip: Path,
                                                         tmp_path: Path) -> None:
    config = site(tmp_path, gate_site(model, clip, tmp_path))
    proc = run_cli("live", "--config", str(config))
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in (tmp_path / "frames.jsonl").read_text().splitlines()]
    assert len(lines) == 60 and set(lines[0]["regions"]) == {"gate"}
    assert lines[20]["regions"]["gate"]["state"] == "open"
    # the region's own hold (0.5 s) decided, not the run's 2 s: one event per switch
    got = events_of(tmp_path / "events")
    assert [(e["from"], e["to"], e["since"]) for e in got] == [
        (None, "closed", 0.0), ("closed", "open", 1.5), ("open", "closed", 3.0),
        ("closed", "open", 4.5)]
    assert all((tmp_path / "events" / e["snapshot"]).is_file() for e in got)


def test_flags_given_override_the_file(model: Path, clip: Path, tmp_path: Path) -> None:
    """--source replaces the camera's source (its regions stay), --events and --json-out its
    outputs; --region replaces the file's regions."""
    config = site(tmp_path, gate_site(model, "rtsp://gate-camera.invalid/stream", tmp_path))
    proc = run_cli("live", "--config", str(config), "--source", str(clip), "--events",
                   str(tmp_path / "other"), "--json-out", "-")
    assert proc.returncode == 0, proc.stderr
    frames = [json.loads(x) for x in proc.stdout.splitlines()]
    assert len(frames) == 60 and frames[0]["source"] == str(clip)
    assert [e["to"] for e in events_of(tmp_path / "other")] == ["closed", "open", "closed",
                                                                "open"]
    assert not (tmp_path / "events").exists() and not (tmp_path / "frames.jsonl").exists()

    proc = run_cli("live", "--config", str(config), "--source", str(clip), "--region",
                   "wall=200,0,40,60", "--hold", "0.5", "--json-out", "-", "--max-frames", "10")
    assert proc.returncode == 0, proc.stderr
    frames = [json.loads(x) for x in proc.stdout.splitlines()]
    assert len(frames) == 10 and set(frames[0]["regions"]) == {"wall"}
    # the file's other outputs still apply; --hold 0.5 replaced its 2 s
    assert [e["region"] for e in events_of(tmp_path / "events")] == ["wall"]


def test_two_cameras_each_watch_their_own_regions(model: Path, clip: Path,
                                                  tmp_path: Path) -> None:
    second = tmp_path / "yard.mp4"
    shutil.copy(clip, second)
    x, y, w, h = GATE
    config = site(tmp_path, f"""\
model = "{model}"
smoothing = 0
fast = true
[outputs]
headless = true
events = "{tmp_path / 'events'}"
json_out = "{tmp_path / 'frames.jsonl'}"
[[camera]]
source = "{clip}"
[[camera.region]]
name = "gate"
box = "{x},{y},{w},{h}"
hold = 0.5
[[camera]]
source = "{second}"
region = [{{name = "wall", box = [0.625, 0, 0.125, 0.25]}}]
""")
    proc = run_cli("live", "--config", str(config))
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in (tmp_path / "frames.jsonl").read_text().splitlines()]
    by_source = {str(clip): set(), str(second): set()}
    for line in lines:
        by_source[line["source"]] |= set(line["regions"])
    assert by_source == {str(clip): {"gate"}, str(second): {"wall"}}
    got = events_of(tmp_path / "events")
    assert [e["to"] for e in got if e["region"] == "gate"] == ["closed", "open", "closed",
                                                               "open"]
    assert [e["to"] for e in got if e["region"] == "wall"] == ["open"]  # the green wall


# --- one line naming the key and its line ----------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("hold = 1\n[outputs]\nevents = 'ev'\nevnts = 'x'\n",
     "site.toml line 4: unknown key 'evnts' in [outputs] (did you mean 'events'?)"),
    ("model = 'm.onnx'\nhold = 'long'\n", "site.toml line 2: hold must be a number, got "
                                          "\"long\""),
    ("[outputs]\nevents = 'ev'\n[[camera]]\nsource = 'a.mp4'\n\n[[camera.region]]\n"
     "name = 'gate'\nbox = [1, 2]\n", "site.toml line 8: box must be four numbers"),
    ("hold = 1\nmodel = \n", "--config site.toml is not valid TOML: Invalid value (at line 2, "
                             "column 9)"),
])
def test_the_cli_says_a_wrong_key_or_value_in_one_line(tmp_path: Path, text: str,
                                                       expected: str) -> None:
    site(tmp_path, text)
    proc = run_cli("live", "--config", "site.toml", "--max-frames", "1", cwd=tmp_path)
    assert expected in assert_one_line_error(proc)
    assert not list(tmp_path.glob("ev*"))  # nothing was started


@pytest.mark.parametrize(("text", "expected"), [
    ("[outputs]\nevents-keep = 5\n", "site.toml line 2: unknown key 'events-keep' in "
                                     "[outputs] (did you mean 'events_keep'?"),
    ("events = 'ev'\n", "site.toml line 1: unknown key 'events' at the top level ('events' "
                        "belongs in [outputs])"),
    ("[outputs]\nmodle = 'm'\n", "site.toml line 2: unknown key 'modle' in [outputs] (did "
                                 "you mean 'model'? it belongs at the top level"),
    ("[output]\nevents = 'ev'\n", "site.toml line 1: unknown table [output] at the top level "
                                  "(did you mean [outputs]?)"),
    ("[[camera]]\nsource = 'a.mp4'\n[[camera.region]]\nname = 'gate'\nbox = '1,2,0,4'\n",
     "site.toml line 5: box 1,2,0,4 has a zero or negative size"),
    ("smoothing = 1.5\n", "site.toml line 1: smoothing must be in [0, 1), got 1.5"),
    ("[outputs]\nevents_keep = 0\n", "site.toml line 2: events_keep must be at least 1"),
    ("[outputs]\nsink = ['a.jsonl', 3]\n", "site.toml line 2: sink must be a string or a list"),
    ("[[camera]]\nsource = 'a.mp4'\n[[camera]]\nsource = 'b.mp4'\n[[camera.region]]\n"
     "name = 'g'\nbox = [1, 1, 2, 2]\nthreshold = 'gate open=2'\n",
     "site.toml line 8: threshold must be in [0, 1]"),
    ("[[camera]]\nsource = 'a.mp4'\nregion = [{name = 'a', box = [1, 1, 2, 2]},\n"
     "  {name = 'a', box = [3, 3, 2, 2]}]\n",
     "site.toml line 4: region 'a' is given twice in this camera"),
    ("[[camera]]\nsource = 'a.mp4'\n[[camera.region]]\nbox = [1, 1, 2, 2]\n",
     "site.toml line 3: this [[camera.region]] has no name"),
    ("[[camera]]\nwidth = 640\n", "site.toml line 1: this [[camera]] has no source"),
    ("[camera]\nsource = 'a.mp4'\n", "site.toml line 1: camera must be written [[camera]]"),
    ("[[region]]\nname = 'gate'\n", "site.toml line 1: unknown key 'region' at the top level "
                                    "('region' belongs in a camera, as [[camera.region]]"),
    ("[[camera]]\nsource = 'a.mp4'\nwidth = 0\n", "site.toml line 3: width must be 16-"),
])
def test_each_key_and_value_is_checked_on_its_line(tmp_path: Path, text: str,
                                                   expected: str) -> None:
    path = site(tmp_path, text)
    with pytest.raises(EdgecamError) as err:
        read_site(str(path))
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_cameras_of_different_sizes_and_a_source_count_are_one_line(tmp_path: Path) -> None:
    path = site(tmp_path, "[[camera]]\nsource = 'a.mp4'\nwidth = 640\n"
                          "[[camera]]\nsource = 'b.mp4'\nwidth = 320\n")
    with pytest.raises(EdgecamError, match=r"site.toml line 4: the cameras give different "
                                           r"sizes \(width 640 and width 320\)"):
        read_site(str(path)).under({"source": []}, set())
    # --width on the command line does not make the file right
    with pytest.raises(EdgecamError, match="different sizes"):
        read_site(str(path)).under({"source": [], "width": 800}, {"width"})
    two = read_site(str(site(tmp_path, "[[camera]]\nsource = 'a.mp4'\n"
                                       "[[camera]]\nsource = 'b.mp4'\n", "two.toml")))
    with pytest.raises(EdgecamError, match=r"--source gives 1 source\(s\) and .*two.toml "
                                           r"2 \[\[camera\]\]"):
        two.under({"source": ["c.mp4"]}, {"source"})
    assert two.under({"source": ["c.mp4", "d.mp4"]}, {"source"})["source"] == ["c.mp4",
                                                                               "d.mp4"]


def test_a_missing_file_a_folder_and_bad_bytes_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "latin1.toml").write_bytes(b"hold = 1\nmodel = 'caf\xe9.onnx'\n")
    for path, expected in ((tmp_path / "none.toml", "cannot read --config {}: no such file"),
                           (tmp_path, "--config {} is a folder"),
                           (tmp_path / "latin1.toml", "--config {} line 2: not UTF-8 text")):
        with pytest.raises(EdgecamError) as err:
            read_site(str(path))
        assert expected.format(path) in str(err.value)
    line = assert_one_line_error(run_cli("live", "--config", str(tmp_path / "none.toml")))
    assert "no such file" in line
