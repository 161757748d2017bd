"""GStreamer pipelines as live sources: ``gst://PIPELINE`` for any pipeline, and the Jetson CSI
(``csi://``, nvarguscamerasrc) and Raspberry Pi (``picam://``, libcamerasrc) cameras, whose
pipelines are the documented element strings put through the same code.

OpenCV opens them, which needs an OpenCV built with GStreamer (Debian's and Raspberry Pi OS's
python3-opencv, JetPack's OpenCV; not the PyPI wheel). When a pipeline fails, the reason
GStreamer gives (an element that is not installed, caps that do not fit, a camera that is
absent) is said in one line.
"""

from __future__ import annotations

import re

import cv2

from edgecam.sources.camera import OpenCVCapture
from edgecam.sources.gstcheck import parse_problem, play_problem
from edgecam.util.errors import EdgecamError

GSTREAMER_HINT = (
    "this OpenCV has no GStreamer support (the PyPI opencv-python wheel is built without it); "
    "uninstall opencv-python and use the distribution's OpenCV (apt install python3-opencv "
    "gstreamer1.0-plugins-good) in a venv made with --system-site-packages"
)

# Every pipeline ends the same way: BGR frames into an appsink that keeps only the newest
# buffer and does not wait for the clock (the capture thread already keeps the newest frame).
APPSINK = "appsink drop=true max-buffers=1 sync=false"
BGR_TAIL = f"videoconvert ! video/x-raw, format=(string)BGR ! {APPSINK}"


def has_gstreamer() -> bool:
    info = cv2.getBuildInformation()
    m = re.search(r"GStreamer:\s*(\S+)", info)
    return m is not None and m.group(1).upper() not in ("NO", "OFF")


def with_appsink(pipeline: str) -> str:
    """The pipeline as OpenCV needs it: one that already ends in an appsink is kept as it is;
    any other gets the BGR conversion and the appsink appended."""
    text = pipeline.strip().rstrip("!").strip()
    if not text:
        raise EdgecamError("empty GStreamer pipeline; e.g. gst://videotestsrc ! videoconvert")
    last = text.rsplit("!", 1)[-1].split()
    if last and last[0] == "appsink":
        return text
    return f"{text} ! {BGR_TAIL}"


def csi_pipeline(sensor: int, width: int, height: int, fps: float, flip: int = 0) -> str:
    """A Jetson CSI camera: the pipeline NVIDIA's CSI-Camera samples give OpenCV (ISP output in
    NVMM memory, nvvidconv to BGRx, videoconvert to BGR), with our appsink."""
    return with_appsink(
        f"nvarguscamerasrc sensor-id={sensor} ! "
        f"video/x-raw(memory:NVMM), width=(int){width}, height=(int){height}, "
        f"framerate=(fraction){int(fps)}/1 ! nvvidconv flip-method={flip} ! "
        f"video/x-raw, width=(int){width}, height=(int){height}, format=(string)BGRx")


def libcamera_pipeline(width: int, height: int, fps: float) -> str:
    """A Raspberry Pi camera through libcamerasrc (the first camera; Picamera2 picks others).
    libcamera's documentation asks for colorimetry and framerate in the caps, or negotiation
    fails."""
    return with_appsink(
        f"libcamerasrc ! video/x-raw,colorimetry=bt709,format=NV12,width={width},"
        f"height={height},framerate={int(fps)}/1 ! queue")


class GstCapture(OpenCVCapture):
    """A GStreamer pipeline through OpenCV, checked by GStreamer itself so that a failure says
    why (``edgecam.sources.gstcheck``)."""

    def __init__(self, pipeline: str, what: str) -> None:
        super().__init__(pipeline, cv2.CAP_GSTREAMER, what=what)

    def open(self):
        problem = parse_problem(self.target)  # before OpenCV, which may hang on it
        if problem:
            raise OSError(f"GStreamer: {problem} (pipeline: {self.target})")
        try:
            return super().open()
        except OSError:
            problem = play_problem(self.target) or "it plays, but OpenCV read no frame from it"
            raise OSError(f"GStreamer: {problem} (pipeline: {self.target})") from None


def gst_capture(pipeline: str, uri: str) -> GstCapture:
    """The capture for a ``gst://``, ``csi://`` or ``picam://`` pipeline; without GStreamer in
    this OpenCV, what to install."""
    if not has_gstreamer():
        raise EdgecamError(f"{uri} needs an OpenCV with GStreamer: {GSTREAMER_HINT}")
    return GstCapture(with_appsink(pipeline), uri)
