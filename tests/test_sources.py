"""Sources and sinks with the real thing: OpenCV decoding of generated files, a paced live
source against a slow consumer, and a network camera (an MJPEG HTTP server in its own
process) that is killed and comes back."""

from __future__ import annotations

import socket
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecam.sinks.video import VideoFile
from edgecam.sources.camera import LiveSource, SyntheticCapture
from edgecam.sources.factory import expand_inputs, open_source, parse_uri
from edgecam.sources.files import SyntheticSource
from edgecam.sources.gstreamer import has_gstreamer
from edgecam.util.errors import EdgecamError
from edgecam.util.safewrite import check_writable

from conftest import free_port, wait_for
from mjpeg_server import start_camera


def write_video(path: Path, frames: int, size=(160, 120), fps=20.0) -> Path:
    with VideoFile(path, fps=fps) as sink:
        for i in range(frames):
            image = np.zeros((size[1], size[0], 3), np.uint8)
            image[:, : (i * 7) % size[0]] = (0, 200, 0)
            sink.write(image)
    return path


@pytest.mark.parametrize("uri, kind, target, live", [
    ("0", "camera", 0, True),
    ("/dev/video2", "camera", "/dev/video2", True),
    ("csi://1", "csi", 1, True),
    ("picam://0", "picam", 0, True),
    ("rtsp://cam.local:554/stream", "stream", "rtsp://cam.local:554/stream", True),
    ("https://host/x.mjpg", "stream", "https://host/x.mjpg", True),
    ("synthetic://320x240", "synthetic", "synthetic://320x240", False),
    ("synthetic://320x240?fps=15", "synthetic", "synthetic://320x240?fps=15", True),
    ("shots/*.jpg", "glob", "shots/*.jpg", False),
])
def test_parse_uri(uri, kind, target, live):
    spec = parse_uri(uri)
    assert (spec.kind, spec.target, spec.live) == (kind, target, live)


def test_parse_uri_files(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "b.mp4").write_bytes(b"x")
    assert parse_uri(str(tmp_path)).kind == "directory"
    assert parse_uri(str(tmp_path / "a.jpg")).kind == "image"
    assert parse_uri(f"file://{tmp_path / 'b.mp4'}").kind == "video"
    assert parse_uri("synthetic://64x48?fps=5").options == {"size": (64, 48), "fps": 5.0}


@pytest.mark.parametrize("uri, needle", [
    ("", "empty source"),
    ("/nope/video.mp4", "no such file"),
    ("csi://left", "sensor id"),
    ("synthetic://big", "WIDTHxHEIGHT"),
    ("synthetic://64x48?fps=0", "fps"),
    ("gopher://x", "unknown source scheme"),
])
def test_parse_uri_errors(uri, needle):
    with pytest.raises(EdgecamError, match=needle):
        parse_uri(uri)


def test_expand_inputs_orders_and_refuses_empty(tmp_path):
    for name in ("b.jpg", "a.png", "c.mp4", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [Path(p).name for p in expand_inputs([str(tmp_path)])] == ["a.png", "b.jpg", "c.mp4"]
    assert [Path(p).name for p in expand_inputs([str(tmp_path / "*.jpg")])] == ["b.jpg"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(EdgecamError, match="empty"):
        expand_inputs([str(tmp_path / "empty")])
    with pytest.raises(EdgecamError, match="match"):
        expand_inputs([str(tmp_path / "*.gif")])
    with pytest.raises(EdgecamError, match="live source"):
        expand_inputs(["rtsp://x/y"])


def test_video_file_gives_every_frame_in_order(tmp_path):
    video = write_video(tmp_path / "v.mp4", 37)
    with open_source(str(video)) as src:
        assert not src.live and src.total == 37 and src.size == (160, 120)
        assert src.fps == pytest.approx(20.0)
        frames = list(src)
    assert [f.index for f in frames] == list(range(37))
    assert all(f.image.shape == (120, 160, 3) for f in frames)
    # the green bar grows by 7 px per frame: decoded content is in order
    widths = [int((f.image[60, :, 1] > 100).sum()) for f in frames[:20]]
    assert widths == sorted(widths) and widths[10] == pytest.approx(70, abs=3)


def test_directory_source_mixes_images_and_videos(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.full((30, 40, 3), 9, np.uint8))
    write_video(tmp_path / "b.mp4", 5)
    with open_source(str(tmp_path)) as src:
        frames = list(src)
    assert [Path(f.source).name for f in frames] == ["a.png"] + ["b.mp4"] * 5


def test_corrupt_files_fail_at_open(tmp_path):
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 500)
    (tmp_path / "bad.jpg").write_bytes(b"\x00" * 500)
    with pytest.raises(EdgecamError, match="cannot decode video .*bad.mp4"):
        open_source(str(tmp_path / "bad.mp4"))
    with pytest.raises(EdgecamError, match="cannot decode image .*bad.jpg"):
        open_source(str(tmp_path / "bad.jpg"))


def test_live_source_keeps_only_the_newest_frame():
    """A 200 FPS source read by a consumer slower than it (it reads only after the capture
    thread has produced 3 more frames): each read gets the frame captured last, nothing
    queues up, and what was skipped is counted."""
    pattern = SyntheticSource("synthetic://64x48", (64, 48))
    src = LiveSource("synthetic://64x48?fps=200", SyntheticCapture(pattern, 200.0))
    try:
        seen = []
        for _ in range(10):
            start = src._count  # frames the capture thread has produced so far
            assert wait_for(lambda n=start + 3: src._count >= n, 10)  # the slow consumer
            captured = src._count
            frame = src.read(1.0)
            assert frame is not None
            assert frame.index >= captured - 1
            seen.append(frame.index)
        assert seen == sorted(seen) and len(set(seen)) == len(seen)
        assert src.dropped >= 2 * len(seen) and src.dropped >= seen[-1] - len(seen)
    finally:
        src.close()
    assert src.state == "ended"


def test_absent_camera_and_missing_gstreamer():
    with pytest.raises(EdgecamError, match="camera 9 not found"):
        open_source("9")
    if not has_gstreamer():  # the PyPI wheel: say so, and what to install
        with pytest.raises(EdgecamError, match="no GStreamer support.*apt install"):
            open_source("csi://0")


def test_stream_that_never_connects_fails_after_bounded_retries():
    url = f"http://127.0.0.1:{free_port()}/"
    with pytest.raises(EdgecamError, match=r"after 3 tries"):
        open_source(url, max_retries=3, connect_timeout=1.0)


def test_network_camera_drops_and_comes_back():
    """The server is killed: the source says reconnecting and does not end; the server comes
    back on the same port: frames flow again."""
    port = free_port()
    server = start_camera(port)
    src = None
    try:
        src = open_source(f"http://127.0.0.1:{port}/", connect_timeout=2.0)
        assert src.live and src.read(5.0) is not None and src.state == "running"
        server.kill()
        server.wait()
        assert wait_for(lambda: src.state == "reconnecting", 10)
        src.read(0)  # discard what was left from before the drop: nothing comes after it
        assert src.read(0.2) is None and src.state == "reconnecting"
        server = start_camera(port)
        frames = []
        assert wait_for(lambda: frames.append(src.read(0.1)) or frames[-1] is not None, 15)
        assert src.state == "running" and src.reconnects >= 1
    finally:
        if src is not None:
            src.close()
        server.kill()
        server.wait()


def test_video_files_finalize_and_outputs_are_checked(tmp_path):
    video = VideoFile(tmp_path / "v.avi", fps=12)
    video.close()  # nothing written: nothing created
    assert not (tmp_path / "v.avi").exists()
    write_video(tmp_path / "w.avi", 4)
    with open_source(str(tmp_path / "w.avi")) as src:
        assert len(list(src)) == 4
    (tmp_path / "file").write_text("x")
    with pytest.raises(EdgecamError, match="cannot write"):
        check_writable(tmp_path / "file" / "x.mp4")
    with pytest.raises(EdgecamError, match="is a directory"):
        check_writable(tmp_path)


def test_display_check_refuses_a_stale_display(monkeypatch):
    """A DISPLAY nobody answers on (a stale SSH forward) must mean headless: OpenCV's Qt
    window would abort the whole process."""
    from edgecam.sinks.window import display_available

    monkeypatch.setenv("DISPLAY", ":97")
    ok, why = display_available()
    assert not ok and "DISPLAY=:97" in why
    with socket.socket() as s:  # a TCP display whose port nobody listens on
        s.bind(("127.0.0.1", 6000 + 3999))
    monkeypatch.setenv("DISPLAY", "127.0.0.1:3999")
    assert display_available()[0] is False
    monkeypatch.delenv("DISPLAY")
    assert display_available() == (False, "no display (DISPLAY is not set)")
