"""GStreamer sources. The pipeline strings are checked here against the documented ones; the
rest runs for real only with an OpenCV built with GStreamer (Debian's python3-opencv with
gstreamer1.0-plugins-base/-good): ``scripts/gst-check`` makes that venv and runs this file,
with videotestsrc where a camera element would be. Under the PyPI wheel those tests skip."""

from __future__ import annotations

import json
import time

import pytest

from edgecam.sources.factory import open_source, parse_uri
from edgecam.sources.gstreamer import (
    BGR_TAIL,
    csi_pipeline,
    has_gstreamer,
    libcamera_pipeline,
    with_appsink,
)
from edgecam.util.errors import EdgecamError

from conftest import assert_one_line_error, run_cli

# NVIDIA's CSI-Camera sample for OpenCV on Jetson (JetsonHacksNano/CSI-Camera,
# simple_camera.py), with the display size equal to the capture size
NVARGUS_DOC = (
    "nvarguscamerasrc sensor-id=%d ! "
    "video/x-raw(memory:NVMM), width=(int)%d, height=(int)%d, framerate=(fraction)%d/1 ! "
    "nvvidconv flip-method=%d ! "
    "video/x-raw, width=(int)%d, height=(int)%d, format=(string)BGRx ! "
    "videoconvert ! "
    "video/x-raw, format=(string)BGR ! appsink"
)
# libcamera's README, "Using GStreamer plugin": colorimetry and framerate must be given or
# negotiation fails
LIBCAMERA_DOC = ("libcamerasrc ! "
                 "video/x-raw,colorimetry=bt709,format=NV12,width=%d,height=%d,framerate=%d/1 ! "
                 "queue ! ")
APPSINK_OPTIONS = " drop=true max-buffers=1 sync=false"

needs_gstreamer = pytest.mark.skipif(
    not has_gstreamer(), reason="this OpenCV has no GStreamer; scripts/gst-check runs these")
TEST_SRC = ("gst://videotestsrc pattern=ball is-live=true ! "
            "video/x-raw,width=320,height=240,framerate=30/1")


def test_csi_pipeline_is_nvidias_documented_one():
    ours = csi_pipeline(1, 1920, 1080, 30)
    assert ours == NVARGUS_DOC % (1, 1920, 1080, 30, 0, 1920, 1080) + APPSINK_OPTIONS
    assert csi_pipeline(0, 1280, 720, 60, flip=2) == \
        NVARGUS_DOC % (0, 1280, 720, 60, 2, 1280, 720) + APPSINK_OPTIONS


def test_libcamera_pipeline_is_the_documented_one():
    ours = libcamera_pipeline(1280, 720, 30)
    assert ours == LIBCAMERA_DOC % (1280, 720, 30) + BGR_TAIL
    assert BGR_TAIL == "videoconvert ! video/x-raw, format=(string)BGR ! appsink" + \
        APPSINK_OPTIONS


def test_gst_uri_and_appsink():
    spec = parse_uri("gst://videotestsrc ! videoconvert ! appsink")
    assert (spec.kind, spec.target, spec.live) == ("gstreamer", "videotestsrc ! videoconvert "
                                                   "! appsink", True)
    assert with_appsink("videotestsrc ! appsink name=s") == "videotestsrc ! appsink name=s"
    assert with_appsink("videotestsrc ! ") == f"videotestsrc ! {BGR_TAIL}"
    with pytest.raises(EdgecamError, match="expected gst://PIPELINE"):
        parse_uri("gst://")


@pytest.mark.skipif(has_gstreamer(), reason="this OpenCV has GStreamer")
def test_without_gstreamer_says_what_to_install():
    with pytest.raises(EdgecamError, match="needs an OpenCV with GStreamer.*python3-opencv"):
        open_source(TEST_SRC)


@needs_gstreamer
def test_frames_arrive_from_a_pipeline():
    with open_source(TEST_SRC) as source:
        first = source.read(5.0)
        assert first is not None and first.image.shape == (240, 320, 3)
        later = None
        for _ in range(20):
            later = source.read(5.0)
        assert later is not None and later.index > first.index
        assert (later.image != first.image).any()  # the ball moves
        assert source.state == "running"


@needs_gstreamer
def test_newest_frame_reader_skips_what_a_slow_reader_missed():
    with open_source(TEST_SRC) as source:
        first = source.read(5.0)
        time.sleep(0.5)  # about 15 frames at 30 fps arrive meanwhile
        newest = source.read(5.0)
        assert newest.index - first.index >= 5
        assert source.dropped >= 4  # the frames overwritten while nobody read


@needs_gstreamer
@pytest.mark.parametrize("uri, reason", [
    ("gst://nosuchsrc ! videoconvert", 'no element "nosuchsrc"'),
    ("csi://0", 'no element "nvarguscamerasrc"'),  # no Jetson here: the same code says why
])
def test_failing_pipeline_says_why(uri, reason):
    with pytest.raises(EdgecamError) as err:
        open_source(uri)
    assert reason in str(err.value)
    assert "\n" not in str(err.value)


@needs_gstreamer
def test_live_through_the_cli(tmp_path):
    from tiny_models import tiny_classifier

    model = tiny_classifier(tmp_path / "t.onnx", resolution=32)
    out = tmp_path / "live.jsonl"
    proc = run_cli("live", "--source", TEST_SRC, "--model", str(model), "--headless",
                   "--max-frames", "5", "--json-out", str(out))
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 5 and all(r["top"] for r in records)
    bad = run_cli("live", "--source", "gst://nosuchsrc", "--model", str(model), "--headless")
    assert 'no element "nosuchsrc"' in assert_one_line_error(bad)
