"""Hostile and careless use, round 4 (issue 34), the cases about what a run writes and says:
SIGHUP (3), a long legal name (4), log rotation (5), long or odd labels (6), a damaged profile
(7), the unknown rule's real figure (10) and a start that reads only the tail (11). Real
processes and real signals, real files, real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import cv2
import numpy as np
import pytest
from test_outputs import frames_in, leftovers, lines_of, make_picture
from test_preview_hostile import FRAME, request
from test_sinks import result
from test_train import digit_folders, train_env  # noqa: F401 - fixtures

from edgecam.pipeline.overlay import draw_overlay
from edgecam.pipeline.result import RegionResult
from edgecam.runtime.postprocess import Prediction
from edgecam.sinks.jsonl import JsonLinesSink
from edgecam.sinks.preview import PreviewServer
from edgecam.train.evaluation import rejection_line
from edgecam.train.rejection import calibrate
from edgecam.util.errors import EdgecamError
from edgecam.util.safewrite import write_whole

from conftest import ROOT, assert_one_line_error, needs_torch, run_cli, wait_for
from tiny_models import tiny_classifier


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tiny_classifier(tmp_path_factory.mktemp("tiny") / "tiny.onnx", resolution=32))


def live(*args: str, **popen: object) -> subprocess.Popen:
    return subprocess.Popen(  # type: ignore[call-overload]
        [sys.executable, "-m", "edgecam", "live", "--source", "synthetic://96x72?fps=30",
         "--headless", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=ROOT, **popen)


def grows(path: Path, proc: subprocess.Popen, lines: int) -> bool:
    """Whether ``path`` reaches ``lines`` lines while ``proc`` runs (a bound, not a speed)."""
    return bool(wait_for(lambda: proc.poll() is not None or (
        path.exists() and path.read_bytes().count(b"\n") >= lines), 120)) and proc.poll() is None


# --- 3: SIGHUP finalizes like SIGTERM ---------------------------------------------------------


def test_sighup_finalizes_the_live_recording_like_sigterm(tiny: str, tmp_path: Path) -> None:
    """A dropped SSH session: the recording plays, one frame per JSON line, exit 129."""
    out, jl = tmp_path / "rec.mp4", tmp_path / "rec.jsonl"
    proc = live("--model", tiny, "--output", str(out), "--json-out", str(jl))
    assert grows(jl, proc, 5), "the live run ended or wrote no JSON lines"
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGHUP, err
    assert "Traceback" not in err
    assert frames_in(out) == len(lines_of(jl)) >= 5
    assert leftovers(tmp_path) == []


def test_sighup_under_nohup_is_ignored_as_asked(tiny: str, tmp_path: Path) -> None:
    """``nohup edgecam live``: the run outlives its terminal (SIGHUP stays ignored)."""
    out, jl = tmp_path / "rec.mp4", tmp_path / "rec.jsonl"
    proc = live("--model", tiny, "--output", str(out), "--json-out", str(jl),
                preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    assert grows(jl, proc, 3)
    proc.send_signal(signal.SIGHUP)
    before = jl.read_bytes().count(b"\n")
    assert grows(jl, proc, before + 5), "SIGHUP ended a run started under nohup"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert frames_in(out) == len(lines_of(jl))


@needs_torch
@pytest.mark.slow
def test_sighup_during_train_finetune_keeps_the_best_model(
        digit_folders: tuple[Path, Path], train_env: dict, tmp_path: Path) -> None:  # noqa: F811
    from edgecam.runtime.engine import Engine

    out = tmp_path / "hup.onnx"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgecam", "train", str(digit_folders[0]), "-r", "64",
         "--finetune", "--epochs", "100000", "--patience", "100000", "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **train_env})
    assert proc.stderr is not None
    for line in proc.stderr:  # features done, the classifier is training: hang up
        if "training the classifier" in line:
            proc.send_signal(signal.SIGHUP)
            break
    _, err = proc.communicate(timeout=300)
    assert proc.returncode != 0 and proc.returncode != -signal.SIGHUP, err
    assert "kept the best model so far" in err and "Traceback" not in err
    assert Engine(out).meta.training["interrupted"] is True
    assert leftovers(tmp_path) == []


# --- 4: a legal long name ---------------------------------------------------------------------


def test_a_233_byte_picture_name_is_written_into_an_output_folder(tiny: str,
                                                                  tmp_path: Path) -> None:
    long_name = "p" * 229 + ".jpg"  # 233 bytes: legal, but its old temporary name was not
    pics = [make_picture(tmp_path / "in" / name, bgr) for name, bgr in
            ((long_name, (0, 0, 200)), ("a.jpg", (0, 200, 0)), ("b.jpg", (200, 0, 0)))]
    jl = tmp_path / "p.jsonl"
    proc = run_cli("classify", *map(str, pics), "--model", tiny, "--output",
                   str(tmp_path / "out") + "/", "--json-out", str(jl))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        [long_name, "a.jpg", "b.jpg"])
    assert cv2.imread(str(tmp_path / "out" / long_name)) is not None
    assert len(lines_of(jl)) == 3 and leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["x" * 251 + ".mp4", "é" * 125 + ".jpg", "ü" * 127],
                         ids=["255-ascii", "254-two-byte", "254-no-extension"])
def test_the_longest_legal_names_are_written_whole(tmp_path: Path, name: str) -> None:
    """255 bytes, two-byte characters: the file lands whole; its temporary fits NAME_MAX,
    keeps the extension and stays valid UTF-8 (cut on a character)."""
    final = tmp_path / name
    write_whole(final, b"whole")
    assert final.read_bytes() == b"whole" and [p.name for p in tmp_path.iterdir()] == [name]
    from edgecam.util.atomic import Staged

    staged = Staged(final)
    temp = staged.create()
    assert len(os.fsencode(temp.name)) <= 255 and temp.name.endswith(final.suffix)
    temp.name.encode("utf-8")  # no half character
    staged.discard()
    assert [p.name for p in tmp_path.iterdir()] == [name]


# --- 5: log rotation --------------------------------------------------------------------------


def grown(path: Path) -> JsonLinesSink:
    sink = JsonLinesSink(str(path), grow=True)
    sink.write(result("cam", 0, 0))
    sink.write(result("cam", 1, 0))
    return sink


def test_a_moved_json_lines_file_is_followed_by_a_new_one(tmp_path: Path) -> None:
    """logrotate's default (``mv rot.jsonl rot.jsonl.1``, no signal): the next line starts a
    new rot.jsonl; the summary names the file that holds the lines."""
    path = tmp_path / "rot.jsonl"
    sink = grown(path)
    path.rename(tmp_path / "rot.jsonl.1")
    sink.write(result("cam", 2, 0))
    sink.close(True)
    assert [r["frame"] for r in lines_of(tmp_path / "rot.jsonl.1")] == [0, 1]
    assert [r["frame"] for r in lines_of(path)] == [2]
    assert sink.written == [str(path)]


def test_a_removed_json_lines_file_is_let_go_and_its_space_freed(tmp_path: Path) -> None:
    path = tmp_path / "rot.jsonl"
    sink = grown(path)
    path.unlink()
    sink.write(result("cam", 2, 0))
    held = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
            if os.path.islink(f"/proc/self/fd/{fd}")]
    assert not any(h.endswith(" (deleted)") and "rot.jsonl" in h for h in held)
    sink.close(True)
    assert [r["frame"] for r in lines_of(path)] == [2]


def test_a_file_moved_after_the_last_line_is_not_claimed_written(tmp_path: Path,
                                                                caplog) -> None:
    path = tmp_path / "rot.jsonl"
    sink = grown(path)
    path.rename(tmp_path / "rot.jsonl.1")
    with caplog.at_level(logging.INFO, logger="edgecam"):
        sink.close(True)
    assert sink.written == [] and not path.exists()
    assert "moved to" in caplog.text and "rot.jsonl.1" in caplog.text


def test_live_json_lines_follow_logrotate_and_the_summary_is_true(tiny: str,
                                                                  tmp_path: Path) -> None:
    path = tmp_path / "rot.jsonl"
    proc = live("--model", tiny, "--json-out", str(path))
    assert grows(path, proc, 3)
    path.rename(tmp_path / "rot.jsonl.1")
    assert grows(path, proc, 3), "no new rot.jsonl after the move"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    old, new = lines_of(tmp_path / "rot.jsonl.1"), lines_of(path)
    assert len(old) >= 3 and len(new) >= 3 and new[0]["frame"] > old[-1]["frame"]
    assert f"wrote {path}" in err


# --- 6: long and odd labels -------------------------------------------------------------------


@pytest.mark.parametrize("label, says", [
    ("a" * 300, "bytes long"),
    ("猫" * 86, "bytes long"),  # 258 bytes in UTF-8
    ("gate\nopen", "control character"),
    ("gate\topen", "control character"),
], ids=["300-ascii", "86-cjk", "newline", "tab"])
def test_capture_labels_that_cannot_be_a_folder_are_one_line(tmp_path: Path, label: str,
                                                             says: str) -> None:
    (tmp_path / "data").mkdir()  # an --out folder that exists
    line = assert_one_line_error(run_cli("capture", "--source", "synthetic://64x48",
                                         "--label", label, "--out", str(tmp_path / "data"),
                                         "--count", "1"))
    assert says in line and list((tmp_path / "data").iterdir()) == []


@pytest.mark.parametrize("label", ["a" * 300, "猫" * 86, "gate\nopen"],
                         ids=["300-ascii", "86-cjk", "newline"])
def test_preview_capture_with_such_a_label_answers_400(tmp_path: Path, label: str) -> None:
    (tmp_path / "yard").mkdir()  # a capture folder that exists
    with PreviewServer("127.0.0.1", 0, capture_dir=tmp_path / "yard") as srv:
        srv.publish(FRAME, {"frames": 1}, raw=FRAME)
        code, _, body = request(srv.port, "POST", f"/capture?label={quote(label)}")
    assert code == 400 and "label" in json.loads(body)["error"]
    assert list((tmp_path / "yard").iterdir()) == []


def test_unicode_labels_fit_and_are_saved_under_their_name(tmp_path: Path) -> None:
    proc = run_cli("capture", "--source", "synthetic://64x48", "--label", "猫" * 85,
                   "--out", str(tmp_path / "data"), "--count", "1", "--every", "0")
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "data" / ("猫" * 85)).glob("*.jpg"))) == 1


def test_train_refuses_a_class_folder_whose_name_is_not_one_line(tmp_path: Path) -> None:
    for name in ("gate\nopen", "closed"):
        for i in range(3):
            make_picture(tmp_path / "data" / name / f"{i}.png", (i * 60, 0, 0))
    line = assert_one_line_error(run_cli("train", str(tmp_path / "data"), "-o",
                                         str(tmp_path / "m.onnx")))
    assert "control character" in line and "rename the folder" in line


def overlay_of(label: str) -> np.ndarray:
    return draw_overlay(np.full((240, 320, 3), 90, np.uint8), [Prediction(label, 0, 0.9)])


@pytest.mark.parametrize("first, second", [("😀 cat", "😎 cat"), ("кошка", "собак")],
                         ids=["emoji", "cyrillic"])
def test_labels_beyond_ascii_are_drawn_as_written(first: str, second: str) -> None:
    """OpenCV draws such characters as '?' (emoji and CJK in OpenCV 5, everything beyond
    ASCII in 4): two different labels drew the same picture."""
    assert not np.array_equal(overlay_of(first), overlay_of(second))
    assert not np.array_equal(overlay_of(first), overlay_of("?" * len(first.encode())))
    # a region's tag too ("gate: LABEL" above its box)
    assert not np.array_equal(tag_of(first), tag_of(second))
    assert not np.array_equal(tag_of(first), tag_of("?" * len(first.encode())))


def tag_of(label: str) -> np.ndarray:
    region = RegionResult("gate", (100, 100, 80, 60), [Prediction(label, 0, 0.9)], state=label)
    return draw_overlay(np.full((240, 320, 3), 90, np.uint8), [], regions=[region])


def test_a_label_with_a_newline_stays_one_line_on_the_overlay() -> None:
    assert np.array_equal(overlay_of("gate\nopen"), overlay_of("gate open"))


# --- 7: a damaged profile ---------------------------------------------------------------------


def damaged_gate(folder: Path, monkeypatch: pytest.MonkeyPatch, tiny: str) -> Path:
    from edgecam.tune import profiles

    monkeypatch.setenv("EDGECAM_PROFILES", str(folder))
    rung = {"arch": "mobilenet_v2", "alpha": 0.35, "resolution": 32, "threads": 1,
            "fps": 500.0, "model": tiny}
    data = {"device": profiles.device_info(), "target_fps": 30.0, "frontier": [rung],
            "chosen": rung}
    path = profiles.save_profile(profiles.Profile.from_json({**data, "name": "gate"})).path
    path.write_text(path.read_text()[:150])  # cut short, as a crash leaves it
    return path


def test_a_profile_cut_short_is_damaged_not_missing(tmp_path: Path, tiny: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from edgecam.tune import profiles

    path = damaged_gate(tmp_path, monkeypatch, tiny)
    for spec in ("gate", "auto"):
        with pytest.raises(EdgecamError, match="profile gate is damaged") as err:
            profiles.choose_profile(spec)
        assert str(path) in str(err.value) and "no profile for this device" not in str(err.value)
    line = assert_one_line_error(run_cli("live", "--source", "synthetic://64x48", "--headless",
                                         "--max-frames", "1", "--profile", "gate"))
    assert "profile gate is damaged" in line


# --- 10: the rule's real figure ---------------------------------------------------------------


def test_the_rejection_threshold_shows_its_digits_and_warns_near_one() -> None:
    rule = {"threshold": 0.999592, "keep": 0.95, "known_kept": 0.95, "known_images": 40,
            "known_recall": 0.95, "unknown_images": 0, "unknown_rejected": None}
    text = rejection_line(rule)
    assert "below 99.9592%" in text and "100.0%" not in text
    warning = text.splitlines()[1]
    assert "warning" in warning and "--keep" in warning and "--threshold" in warning
    assert "\n" not in rejection_line({**rule, "threshold": 0.62})
    assert "below 62.0%" in rejection_line({**rule, "threshold": 0.62})


def test_a_rule_calibrated_on_overconfident_pictures_is_capped_and_says_so() -> None:
    """Validation pictures the classifier is all but certain of: the quantile lands near 1,
    the rule is capped at 0.99 (new frames score lower than near copies) and the line gives
    both figures."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 18)
    logits = rng.normal(0, 0.3, (18, 3)) + 12 * np.eye(3)[labels]
    rule = calibrate(logits, labels)
    assert rule["calibrated"] > 0.999 and rule["threshold"] == 0.99
    text = rejection_line(rule)
    assert "capped at 99.0%" in text and "unknown' folder" in text
    assert "below 99.0%" in text and f"{rule['calibrated'] * 100:.4f}" in text
    # with an 'unknown' folder given, the advice does not ask for one
    given = rejection_line({**rule, "unknown_rejected": 0.9, "unknown_images": 10})
    assert "of the 10 pictures of anything else" in given and "unknown' folder" not in given
    warned = rejection_line({**rule, "calibrated": None, "unknown_rejected": 0.9,
                             "unknown_images": 10})
    assert "warning" in warned and "unknown' folder" not in warned


# --- 11: a start that reads the tail only -----------------------------------------------------


def _bytes_read() -> int:
    with open("/proc/self/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("rchar:"))


def test_a_long_history_is_not_read_before_the_first_line(tmp_path: Path, caplog) -> None:
    """A 1 GB history (sparse: a month of lines, as the start sees it): appending reads its
    tail, not the gigabyte; the count is said as an estimate."""
    path = tmp_path / "big.jsonl"
    line = b'{"frame":0,"top":[]}\n'
    with open(path, "wb") as f:
        f.write(line * 1000)
        f.truncate(1 << 30)
        f.seek((1 << 30) - len(line) * 1000)
        f.write(line * 1000)
    with caplog.at_level(logging.INFO, logger="edgecam"):
        before = _bytes_read()
        sink = JsonLinesSink(str(path), grow=True)
        sink.write(result("cam", 0, 0))
        read = _bytes_read() - before
        sink.close(True)
    assert read < 1 << 20, f"{read} bytes read to start"
    assert "appending to" in caplog.text and "about" in caplog.text
    assert path.stat().st_size > 1 << 30
