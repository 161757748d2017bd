"""edgecam capture: frames of a real video file and of a real MJPEG stream saved as a data set
folder that ``edgecam train`` reads, and the bad inputs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecam.sinks.labelled import LabelFolder
from edgecam.train.dataset import read_dataset
from edgecam.util.errors import EdgecamError

from conftest import assert_one_line_error, free_port, run_cli
from mjpeg_server import start_camera


def _video(path: Path, seconds: float, fps: float = 10.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (160, 120))
    for i in range(int(seconds * fps)):
        image = np.zeros((120, 160, 3), np.uint8)
        image[:, : (i * 5) % 160] = (0, 200, 0)
        writer.write(image)
    writer.release()
    return path


def _pictures(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jpg"))


def test_a_video_gives_one_frame_per_every_seconds_of_its_own_time(tmp_path: Path) -> None:
    clip = _video(tmp_path / "clip.mp4", seconds=3.0)
    proc = run_cli("capture", "--source", str(clip), "--label", "gate open",
                   "--out", str(tmp_path / "data"), "--count", "0", "--every", "0.5")
    assert proc.returncode == 0, proc.stderr
    saved = _pictures(tmp_path / "data" / "gate open")
    assert len(saved) == 6  # 0.0, 0.5, ... 2.5 s
    assert all(cv2.imread(str(p)).shape == (120, 160, 3) for p in saved)
    assert "saved 6 pictures" in proc.stdout
    again = run_cli("capture", "--source", str(clip), "--label", "gate open",
                    "--out", str(tmp_path / "data"), "--count", "2")
    assert again.returncode == 0 and "(8 there now)" in again.stdout  # never overwrites
    assert not list((tmp_path / "data").rglob("*.tmp"))


def test_a_live_stream_fills_two_classes_that_train_reads(tmp_path: Path) -> None:
    port = free_port()
    server = start_camera(port)
    try:
        for label in ("cat", "no cat"):
            proc = run_cli("capture", "--source", f"http://127.0.0.1:{port}/", "--label", label,
                           "--out", str(tmp_path / "data"), "--count", "3", "--every", "0")
            assert proc.returncode == 0, proc.stderr
    finally:
        server.kill()
        server.wait()
    data = read_dataset(tmp_path / "data")
    assert data.classes == ["cat", "no cat"] and len(data.train) + len(data.val) == 6


@pytest.mark.parametrize("label", ["", "a/b", "..", ".hidden"])
def test_labels_that_are_not_folder_names_are_refused(tmp_path: Path, label: str) -> None:
    with pytest.raises(EdgecamError, match="label"):
        LabelFolder(tmp_path, label)


def test_bad_input_ends_in_one_line(tmp_path: Path) -> None:
    line = assert_one_line_error(run_cli("capture", "--source", str(tmp_path / "none.mp4"),
                                         "--label", "x", "--out", str(tmp_path / "d")))
    assert "none.mp4" in line
    line = assert_one_line_error(run_cli("capture", "--source", "synthetic://64x48",
                                         "--label", "a/b", "--out", str(tmp_path / "d")))
    assert "folder name" in line
    (tmp_path / "file").write_text("")
    line = assert_one_line_error(run_cli("capture", "--source", "synthetic://64x48",
                                         "--label", "x", "--out", str(tmp_path / "file")))
    assert "cannot create" in line
