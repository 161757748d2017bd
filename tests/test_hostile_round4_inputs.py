"""Issue 34, hostile and careless inputs (round 4), cases 1, 2, 8, 9 and 12 and the download
notice: through the real CLI with real files (names that are not UTF-8, TIFF and PNM headers,
videos and animations, ONNX models without edgecam metadata), real OpenCV decoding and real
onnxruntime sessions. Each test names its case."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from test_outputs import frames_in

from edgecam.models.metadata import ModelMeta
from edgecam.runtime.engine import Engine
from edgecam.sources.media import picture_size, set_max_pixels
from edgecam.train.dataset import read_dataset
from edgecam.util.errors import EdgecamError

from conftest import ROOT, assert_one_line_error, free_port, needs_torch, run_cli
from tiny_models import tiny_classifier


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    return str(tiny_classifier(tmp_path_factory.mktemp("tiny") / "tiny.onnx", resolution=32))


def latin1(folder: Path, name: bytes) -> str:
    """``folder/name`` for a name that is not UTF-8, as Python holds it (surrogate escapes)."""
    return os.fsdecode(os.fsencode(folder) + b"/" + name)


def make_picture(path: str | Path, bgr=(0, 0, 200), size=(40, 30), ext: str = ".png") -> str:
    ok, data = cv2.imencode(ext, np.full((size[1], size[0], 3), bgr, np.uint8))
    assert ok
    Path(path).write_bytes(data.tobytes())
    return str(path)


def make_video(path: str | Path, frames: int, size=(64, 48)) -> str:
    plain = Path(path).with_name("plain-name.mp4")  # OpenCV writes where it can, then renamed
    writer = cv2.VideoWriter(str(plain), cv2.VideoWriter_fourcc(*"mp4v"), 25, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), (i * 9) % 256, np.uint8))
    writer.release()
    os.replace(plain, path)
    return str(path)


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120
        ) -> subprocess.CompletedProcess:
    """The real CLI, its output decoded as a terminal would show a non-UTF-8 name (the bytes
    kept as surrogate escapes), so a test can read what it printed about such names."""
    proc = subprocess.run([sys.executable, "-m", "edgecam", *args], capture_output=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode("utf-8", "surrogateescape"),
        proc.stderr.decode("utf-8", "surrogateescape"))


def lines_of(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


# --- 1: file names that are not valid UTF-8 -----------------------------------------------------


def test_case1_non_utf8_names_among_pictures_are_read_not_a_crash(tiny, tmp_path):
    """Case 1: a folder of pictures with Latin-1 names, one of them with an unfamiliar
    extension (probed), and a text file with such a name: every picture classified, the text
    file named as not media; no SIGSEGV, no temporary link left behind."""
    folder = tmp_path / "sd card"
    folder.mkdir()
    make_picture(folder / "a.png")
    latin = make_picture(latin1(folder, b"caf\xe9.jpg"), ext=".jpg")
    probed = make_picture(latin1(folder, b"r\xe9sum\xe9.xyz"), ext=".jpg")
    Path(latin1(folder, b"notes \xe9t\xe9.xyz")).write_text("not a picture at all\n")
    links = tmp_path / "tmp"
    links.mkdir()
    proc = run("classify", str(folder), "--model", tiny, "--json-out", str(tmp_path / "o.jsonl"),
               env={"TMPDIR": str(links)})
    assert proc.returncode == 0, proc.stderr
    sources = [line["source"] for line in lines_of(tmp_path / "o.jsonl")]
    assert sorted(sources) == sorted([str(folder / "a.png"), latin, probed])
    assert "not pictures or videos" in proc.stderr and "notes" in proc.stderr
    assert not list(links.glob("edgecam-*"))  # the links OpenCV was given are gone


def test_case1_latin1_video_name_classify_and_annotated_output(tiny, tmp_path):
    """Case 1: a Latin-1 video name is read (every frame), and an annotated video written
    under a Latin-1 name is whole."""
    video = make_video(latin1(tmp_path, b"vid\xe9o.mp4"), 6)
    output = latin1(tmp_path, b"annot\xe9.mp4")
    proc = run("classify", video, "--model", tiny, "--output", output,
               "--json-out", str(tmp_path / "o.jsonl"))
    assert proc.returncode == 0, proc.stderr
    records = lines_of(tmp_path / "o.jsonl")
    assert [r["frame"] for r in records] == list(range(6))
    assert {r["source"] for r in records} == {video}
    os.link(output, tmp_path / "plain-link.mp4")  # read under a name the test's OpenCV takes
    assert frames_in(tmp_path / "plain-link.mp4") == 6


def test_case1_live_and_capture_source_with_latin1_name(tiny, tmp_path):
    """Case 1: ``live --source`` and ``capture --source`` with a Latin-1 video name."""
    video = make_video(latin1(tmp_path, b"cam\xe9ra.mp4"), 5)
    proc = run("live", "--source", video, "--model", tiny, "--headless", "--fast",
               "--json-out", str(tmp_path / "live.jsonl"))
    assert proc.returncode == 0, proc.stderr
    assert [r["frame"] for r in lines_of(tmp_path / "live.jsonl")] == list(range(5))
    proc = run("capture", "--source", video, "--label", "gate", "--out", str(tmp_path / "data"),
               "--every", "0")
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "data" / "gate").glob("*.jpg"))) == 5


def test_case1_stream_address_that_is_not_utf8_is_one_line(tiny, tmp_path):
    """Case 1: a stream address with a Latin-1 byte cannot be handed to OpenCV: one line."""
    uri = os.fsdecode(f"rtsp://127.0.0.1:{free_port()}/cam".encode() + b"\xe9")
    proc = run("live", "--source", uri, "--model", tiny, "--headless",
               "--json-out", str(tmp_path / "o.jsonl"))
    line = assert_one_line_error(proc)
    assert "not valid UTF-8" in line
    assert not (tmp_path / "o.jsonl").exists()


def test_case1_a_latin1_class_folder_is_refused_not_made_a_label(tmp_path):
    """Case 1: a class folder with a Latin-1 name would become a label OpenCV cannot draw:
    train refuses it in one line, naming the folder."""
    root = tmp_path / "d"
    for name in (b"caf\xe9", b"tea"):
        folder = Path(latin1(root, name))
        folder.mkdir(parents=True)
        for i in range(2):
            make_picture(folder / f"{i}.png", (40 * i, 0, 0))
    with pytest.raises(EdgecamError, match="class folder 'caf\ufffd' .* not valid UTF-8"):
        read_dataset(root)


def test_case1_a_model_whose_label_is_not_utf8_is_refused_not_a_crash(tmp_path):
    """Case 1: a model carrying such a label (from a Latin-1 class folder, or written by
    hand) is refused when it loads, in one line, instead of crashing where the label is
    drawn."""
    model = tiny_classifier(tmp_path / "latin.onnx", resolution=32, classes=2,
                            labels=[os.fsdecode(b"caf\xe9"), "tea"])
    proc = run_cli("classify", make_picture(tmp_path / "a.png"), "--model", str(model),
                   "--output", str(tmp_path / "out"))
    assert "is not valid UTF-8" in assert_one_line_error(proc)


# --- 2: TIFF (and PNM) bombs and the megapixel guard ---------------------------------------------


def tiff_header(width: int, height: int, order: str = "<", big: bool = False,
                pad: int = 0) -> bytes:
    """A TIFF or BigTIFF file's header and first directory (after ``pad`` bytes standing for
    the pixel data, as libtiff writes it), with a tag before the sizes; no pixels needed to
    tell its size."""
    mark = b"II" if order == "<" else b"MM"
    entries = [(254, 4, 0), (256, 16 if big else 4, width), (257, 3, height)]
    if big:
        body = b"".join(struct.pack(order + "HHQ", tag, kind, 1)
                        + struct.pack(order + ("Q" if kind == 16 else "I" if kind == 4 else "H"),
                                      value).ljust(8, b"\0")
                        for tag, kind, value in entries)
        return (mark + struct.pack(order + "HHHQ", 43, 8, 0, 16 + pad) + b"\0" * pad
                + struct.pack(order + "Q", len(entries)) + body + struct.pack(order + "Q", 0))
    body = b"".join(struct.pack(order + "HHI", tag, kind, 1)
                    + struct.pack(order + ("I" if kind == 4 else "H"), value).ljust(4, b"\0")
                    for tag, kind, value in entries)
    return (mark + struct.pack(order + "HI", 42, 8 + pad) + b"\0" * pad
            + struct.pack(order + "H", len(entries)) + body + struct.pack(order + "I", 0))


@pytest.mark.parametrize("header, size", [
    (tiff_header(20000, 20000), (20000, 20000)),
    (tiff_header(12000, 9000, ">"), (12000, 9000)),
    (tiff_header(30000, 20000, pad=400_000), (30000, 20000)),  # directory at the end
    (tiff_header(70000, 50000, big=True), (70000, 50000)),
    (tiff_header(40000, 300, ">", big=True, pad=1000), (40000, 300)),
    (b"P5\n# made by a scanner\n20000 15000\n255\n", (20000, 15000)),
    (b"P6 640\t480 255\n", (640, 480)),
    (b"P7\nWIDTH 9000\nHEIGHT 8000\nDEPTH 3\nMAXVAL 255\nTUPLTYPE RGB\nENDHDR\n", (9000, 8000)),
    (b"PF\n12000 10000\n-1.0\n", (12000, 10000)),
])
def test_case2_tiff_and_pnm_headers_give_the_size(header, size):
    """Case 2: TIFF in both byte orders, BigTIFF, a directory after the pixel data, and the
    PNM family: the size is read from the header."""
    assert picture_size(header) == size


def test_case2_deflate_tiff_and_pnm_above_the_limit_are_refused_in_classify(tiny, tmp_path):
    """Case 2: a deflate TIFF of 2000x2000 (70 KB), an uncompressed TIFF whose directory
    follows 480 KB of pixels and a PGM, above --max-megapixels 0.1: each is refused from its
    header and named; the small picture is classified."""
    folder = tmp_path / "in"
    folder.mkdir()
    ok, deflate = cv2.imencode(".tiff", np.zeros((2000, 2000, 3), np.uint8),
                               [cv2.IMWRITE_TIFF_COMPRESSION, 8])
    assert ok and len(deflate) < 100_000
    (folder / "bomb.tiff").write_bytes(deflate.tobytes())
    noise = np.random.default_rng(0).integers(0, 256, (400, 400, 3), dtype=np.uint8)
    ok, plain = cv2.imencode(".tif", noise, [cv2.IMWRITE_TIFF_COMPRESSION, 1])
    assert ok and struct.unpack("<I", plain[4:8].tobytes())[0] > 1 << 18
    (folder / "scan.tif").write_bytes(plain.tobytes())
    (folder / "gray.pgm").write_bytes(b"P5\n500 400\n255\n" + bytes(500 * 400))
    make_picture(folder / "small.png")
    proc = run("classify", str(folder), "--model", tiny, "--max-megapixels", "0.1",
               "--json-out", "-")
    assert proc.returncode == 1, proc.stderr
    assert [json.loads(x)["source"] for x in proc.stdout.splitlines()] == [
        str(folder / "small.png")]
    for name, size in (("bomb.tiff", "2000x2000"), ("scan.tif", "400x400"),
                       ("gray.pgm", "500x400")):
        assert re.search(rf"skipped .*{re.escape(name)}: {size} .*above the limit of 0\.1 "
                         "megapixels", proc.stderr), proc.stderr
    line = assert_one_line_error(run("classify", str(folder / "bomb.tiff"), "--model", tiny,
                                     "--max-megapixels", "1"))
    assert "bomb.tiff is 2000x2000 (4 megapixels), above the limit of 1 megapixels" in line


@pytest.fixture()
def pixel_limit():
    set_max_pixels(1_000_000)
    yield
    set_max_pixels(None)


def test_case2_train_skips_a_tiff_bomb_from_its_header_and_says_why(tmp_path, pixel_limit):
    """Case 2: train reads pictures the same way: a deflate TIFF above the limit is skipped
    without being decoded, and the line that lists skipped pictures says why."""
    for name in ("a", "b"):
        (tmp_path / "d" / name).mkdir(parents=True)
        for i in range(2):
            make_picture(tmp_path / "d" / name / f"{i}.png", (i * 50, 0, 100))
    ok, deflate = cv2.imencode(".tiff", np.zeros((2000, 2000, 3), np.uint8),
                               [cv2.IMWRITE_TIFF_COMPRESSION, 8])
    (tmp_path / "d" / "a" / "bomb.tiff").write_bytes(deflate.tobytes())
    data = read_dataset(tmp_path / "d")
    assert data.skipped == ["a/bomb.tiff"]
    assert all(s.path.name != "bomb.tiff" for s in data.train + data.val)
    assert any("a/bomb.tiff (2000x2000 (4 megapixels), above the limit of 1 megapixels)" in n
               for n in data.notes())


# --- 8: videos and animations in a class folder ------------------------------------------------


def make_gif(path: Path, frames: int = 3) -> Path:
    animation = cv2.Animation()
    animation.frames = [np.full((24, 32, 3), 40 * i, np.uint8) for i in range(frames)]
    animation.durations = [100] * frames
    assert cv2.imwriteanimation(str(path), animation)
    return path


def test_case8_a_class_of_gifs_names_them_and_the_capture_command(tmp_path):
    """Case 8: a class folder of GIFs is not "0 readable pictures" and nothing else: the
    error (one line from the CLI, like every EdgecamError) names them and the command that
    makes pictures of them."""
    (tmp_path / "d" / "cats").mkdir(parents=True)
    (tmp_path / "d" / "dogs").mkdir(parents=True)
    for i in range(3):
        make_gif(tmp_path / "d" / "cats" / f"c{i}.gif")
        make_picture(tmp_path / "d" / "dogs" / f"{i}.png", (0, 90 * i, 0))
    with pytest.raises(EdgecamError) as err:
        read_dataset(tmp_path / "d")
    line = str(err.value)
    assert "class 'cats' has 0 readable picture(s)" in line and "\n" not in line
    assert "3 video(s) or animation(s), which train does not read (cats/c0.gif" in line
    assert f"edgecam capture --source VIDEO --label cats --out {tmp_path / 'd'}" in line


def test_case8_a_class_of_videos_and_the_command_it_names_works(tmp_path):
    """Case 8: a class of .mp4 files: named with the capture command, and that command, run
    as said, makes the class trainable."""
    root = tmp_path / "d"
    (root / "gate").mkdir(parents=True)
    (root / "road").mkdir(parents=True)
    clip = make_video(root / "gate" / "clip.mp4", 12)
    for i in range(3):
        make_picture(root / "road" / f"{i}.png", (90 * i, 0, 0))
    with pytest.raises(EdgecamError) as err:
        read_dataset(root)
    command = re.search(r"`(edgecam capture .*)`", str(err.value))
    assert command is not None and "gate/clip.mp4" in str(err.value)
    args = command.group(1).split()[1:]
    args[args.index("VIDEO")] = clip
    assert run_cli(*args, "--every", "0.1").returncode == 0
    data = read_dataset(root)
    assert data.classes == ["gate", "road"] and len(data.train) + len(data.val) > 6
    assert any("gate/clip.mp4" in note and "--label gate" in note for note in data.notes())


def test_case8_videos_among_pictures_are_named_not_dropped(tmp_path):
    """Case 8: in a class folder that has pictures too, its videos and animations are named
    (in what train says and in the report), not silently dropped."""
    root = tmp_path / "d"
    for name in ("gate", "road"):
        (root / name).mkdir(parents=True)
        for i in range(3):
            make_picture(root / name / f"{i}.png", (60 * i, 0, 200 if name == "gate" else 0))
    make_gif(root / "gate" / "wave.gif")
    (root / "gate" / "sub").mkdir()
    make_video(root / "gate" / "sub" / "clip.mp4", 4)
    data = read_dataset(root)
    assert len(data.train) + len(data.val) == 6
    assert data.describe()["videos_not_read"] == ["gate/sub/clip.mp4", "gate/wave.gif"]
    notes = " ".join(data.notes())
    assert "gate/sub/clip.mp4, gate/wave.gif" in notes and "--label gate" in notes


# --- 9: animated WebP ----------------------------------------------------------------------------


def test_case9_animated_webp_is_read_frame_by_frame_like_a_gif(tiny, tmp_path):
    """Case 9: every frame of an animated WebP, with its time, like the same GIF; a still
    WebP stays one picture."""
    frames = [np.full((48, 64, 3), (30 * i, 100, 200 - 30 * i), np.uint8) for i in range(5)]
    animation = cv2.Animation()
    animation.frames, animation.durations = frames, [100, 200, 100, 300, 100]
    assert cv2.imwriteanimation(str(tmp_path / "anim.webp"), animation)
    assert cv2.imwriteanimation(str(tmp_path / "anim.gif"), animation)
    make_picture(tmp_path / "still.webp", ext=".webp")
    proc = run("classify", str(tmp_path / "anim.webp"), str(tmp_path / "anim.gif"),
               str(tmp_path / "still.webp"), "--model", tiny, "--json-out", "-")
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(x) for x in proc.stdout.splitlines()]
    by_source: dict[str, list] = {}
    for r in records:
        by_source.setdefault(Path(r["source"]).name, []).append(r.get("time_ms"))
    assert by_source["anim.webp"] == [0.0, 100.0, 300.0, 400.0, 700.0]
    assert by_source["anim.webp"] == by_source["anim.gif"]
    assert by_source["still.webp"] == [None]


# --- 12: a classifier from elsewhere --------------------------------------------------------------


LABELS = ["red", "green", "blue", "other"]


@pytest.fixture()
def foreign(tmp_path) -> Path:
    """A plain 4-class ONNX classifier with a 40 px input and no edgecam metadata."""
    return tiny_classifier(tmp_path / "plain.onnx", resolution=40, classes=4, metadata=False)


@pytest.fixture()
def labels_file(tmp_path) -> Path:
    path = tmp_path / "labels.txt"
    path.write_text("\n".join(LABELS) + "\n\n")
    return path


def test_case12_refusal_says_what_metadata_is_needed_and_how(foreign, tmp_path):
    """Case 12: not "export it with edgecam export": the keys, --labels, and a page that
    exists."""
    picture = make_picture(tmp_path / "a.png")
    line = assert_one_line_error(run_cli("classify", picture, "--model", str(foreign)))
    assert "--labels FILE" in line and "format, labels, resolution, mean, std" in line
    assert "edgecam export" not in line
    page = re.search(r"docs/[\w-]+\.md", line)
    assert page is not None and (ROOT / page.group(0)).is_file()


def test_case12_labels_file_runs_it_as_its_metadata_would(foreign, labels_file, tmp_path):
    """Case 12: --labels runs the plain classifier with ImageNet preprocessing at its own
    input size, said in one line; its answers are those of the same graph carrying the
    metadata edgecam would have written."""
    described = tiny_classifier(tmp_path / "described.onnx", resolution=40, classes=4,
                                labels=LABELS)
    picture = make_picture(tmp_path / "a.png", (20, 180, 60), (120, 90))
    plain = run_cli("classify", picture, "--model", str(foreign), "--labels", str(labels_file),
                    "--json-out", "-")
    assert plain.returncode == 0, plain.stderr
    note = [x for x in plain.stderr.splitlines() if "no edgecam metadata" in x]
    assert len(note) == 1 and "assumed 40 px (its input), ImageNet mean/std" in note[0]
    assert f"4 labels from {labels_file}" in note[0]
    same = run_cli("classify", picture, "--model", str(described), "--json-out", "-")
    got, want = json.loads(plain.stdout)["top"], json.loads(same.stdout)["top"]
    assert [p["label"] for p in got] == [p["label"] for p in want]
    assert [p["score"] for p in got] == pytest.approx([p["score"] for p in want], abs=1e-5)


def test_case12_labels_on_live_and_bench(foreign, labels_file, tmp_path):
    """Case 12: live and bench take --labels too."""
    video = make_video(tmp_path / "clip.mp4", 4)
    proc = run_cli("live", "--source", video, "--fast", "--headless", "--model", str(foreign),
                   "--labels", str(labels_file), "--json-out", str(tmp_path / "o.jsonl"))
    assert proc.returncode == 0, proc.stderr
    assert {r["label"] for r in lines_of(tmp_path / "o.jsonl")} <= set(LABELS)
    proc = run_cli("bench", str(foreign), "--labels", str(labels_file), "--frames", "5",
                   "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["frames"] == 5


def nhwc_classifier(path: Path) -> Path:
    """A channels-last classifier, as TensorFlow exports them: [N, 40, 40, 3]."""
    graph = helper.make_graph(
        [helper.make_node("Transpose", ["input"], ["nchw"], perm=[0, 3, 1, 2]),
         helper.make_node("GlobalAveragePool", ["nchw"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["logits"], axis=1)],
        "nhwc", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 40, 40, 3])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_case12_labels_that_cannot_fit_are_one_line(foreign, labels_file, tiny, tmp_path):
    """Case 12: a label count the model does not answer, a blank line inside the file, a
    channels-last input, a model with its own labels, --labels on a cluster: one line each."""
    picture = make_picture(tmp_path / "a.png")
    three = tmp_path / "three.txt"
    three.write_text("red\ngreen\nblue\n")
    gap = tmp_path / "gap.txt"
    gap.write_text("red\n\ngreen\nblue\n")
    nhwc = nhwc_classifier(tmp_path / "nhwc.onnx")
    cases = [
        ((str(foreign), three), "three.txt has 3 labels, but"),
        ((str(foreign), gap), "line 2 is empty"),
        ((str(nhwc), three), "edgecam feeds float32 [N, 3, R, R]"),
        ((tiny, labels_file), "carries its own labels"),
    ]
    for (model, labels), text in cases:
        line = assert_one_line_error(run_cli("classify", picture, "--model", model,
                                             "--labels", str(labels)))
        assert text in line, line
    line = assert_one_line_error(run_cli(
        "classify", picture, "--model", str(foreign), "--labels", str(labels_file),
        "--cluster", f"tcp://127.0.0.1:{free_port()}"))
    assert "--labels is not available with --cluster" in line


def test_case12_the_documented_snippet_stores_metadata_that_runs(foreign, labels_file, tmp_path):
    """Case 12: the docs' Python snippet, run as written on a plain model (its input size set
    to the model's), makes a file every command runs without --labels."""
    page = (ROOT / "docs" / "foreign-models.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", page, re.S)
    assert snippet is not None
    code = snippet.group(1).replace('"resolution": "224"', '"resolution": "40"')
    assert '"resolution": "40"' in code
    (tmp_path / "net.onnx").write_bytes(foreign.read_bytes())
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, timeout=60)
    engine = Engine(tmp_path / "net-edgecam.onnx", 1)
    assert engine.meta.labels == LABELS and engine.meta.resolution == 40
    assert engine.meta.name == "my_net-1.0-40"


def test_case12_metadata_keys_missing_or_wrong_are_named():
    """Case 12: hand-written metadata: a missing required key is named, as is a mean that is
    not three numbers; the optional keys take their defaults."""
    props = {"format": "edgecam-1", "labels": json.dumps(LABELS), "resolution": "40",
             "mean": "[0.5, 0.5, 0.5]", "std": "[0.25, 0.25, 0.25]"}
    meta = ModelMeta.from_props(props, "/m/net.onnx")
    assert (meta.crop_pct, meta.interpolation, meta.color, meta.arch) == (
        0.875, "bilinear", "RGB", "net")
    with pytest.raises(EdgecamError, match="without the key std"):
        ModelMeta.from_props({k: v for k, v in props.items() if k != "std"}, "net.onnx")
    with pytest.raises(EdgecamError, match="mean is three numbers"):
        ModelMeta.from_props({**props, "mean": "0.5"}, "net.onnx")


# --- also seen: a download says what it fetches and fails quickly offline -----------------------


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("EDGECAM_OFFLINE", raising=False)
    return tmp_path / "xdg" / "edgecam"


@needs_torch
def test_also_seen_weights_download_is_announced_with_what_and_where(tmp_path, cache, caplog,
                                                                    monkeypatch):
    """Also seen: before fetching a zoo model's weights, one line says which weights and the
    URL; from a real local server."""
    import dataclasses
    import functools
    import http.server

    from edgecam.models import catalog
    from edgecam.models.zoo.weights import imagenet_file

    (tmp_path / "www").mkdir()
    payload = b"weights" * 1000
    sha = hashlib.sha256(payload).hexdigest()
    (tmp_path / "www" / f"mobilenet_v2-{sha[:8]}.pth").write_bytes(payload)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(tmp_path / "www"))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/mobilenet_v2-{sha[:8]}.pth"
        src = catalog.weight_source("mobilenet_v2", 1.0)
        monkeypatch.setitem(catalog.ARCHS["mobilenet_v2"].weights, 1.0,
                            dataclasses.replace(src, url=url, sha256_prefix=sha[:8]))
        with caplog.at_level(logging.INFO, logger="edgecam"):
            path, _ = imagenet_file("mobilenet_v2", 1.0)
    finally:
        server.shutdown()
        server.server_close()
    assert path.read_bytes() == payload
    said = [r.getMessage() for r in caplog.records if "downloading" in r.getMessage()]
    assert said == [f"downloading the ImageNet weights of mobilenet_v2 1.0 "
                    f"(mobilenet_v2-{sha[:8]}.pth) from {url}"]


def test_also_seen_no_network_fails_in_one_line_after_the_notice(cache, caplog):
    """Also seen: a server that is not there: the notice, then one error line."""
    from edgecam.models.download import fetch

    url = f"http://127.0.0.1:{free_port()}/w.pth"
    with caplog.at_level(logging.INFO, logger="edgecam"), \
            pytest.raises(EdgecamError) as err:
        fetch(url, timeout=5)
    assert "\n" not in str(err.value) and str(err.value).startswith(f"cannot download {url}")
    assert [r.getMessage() for r in caplog.records] == [f"downloading w.pth from {url}"]


def test_also_seen_a_resolver_that_never_answers_fails_within_seconds(cache, monkeypatch):
    """Also seen: offline, the host name lookup hangs (the resolver waits on a server it cannot
    reach); the download gives up after a few seconds in one line instead of waiting on it. The
    hanging resolver is the one thing stood in for: a real one would reach off this machine."""
    from edgecam.models import download

    release = threading.Event()

    def hanging_lookup(*args, **kwargs):
        release.wait(60)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", hanging_lookup)
    monkeypatch.setattr(download, "RESOLVE_TIMEOUT", 0.5, raising=False)
    outcome: list[BaseException] = []

    def attempt() -> None:
        try:
            download.fetch("https://weights.example/w.pth", timeout=30)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(10)
    release.set()
    assert not thread.is_alive() and outcome, "still waiting on the resolver after 10 s"
    assert isinstance(outcome[0], EdgecamError)
    message = str(outcome[0])
    assert "weights.example did not resolve within 0.5 s" in message and "\n" not in message
