"""Where frames come from, named by URI: cameras, CSI/Pi cameras, files, directories, globs,
network streams and a synthetic test pattern.

Two behaviours, chosen by the kind of source:

* files (videos, images, directories, globs) give every frame in order, none dropped;
* live sources (cameras, streams, paced synthetic) are read by a capture thread that keeps only
  the newest frame, so a slow model never shows a picture seconds behind; overwritten frames
  are counted as dropped. A live source that fails is reopened with backoff and reports
  ``state == "reconnecting"`` meanwhile.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np

from edgecam.errors import EdgecamError

log = logging.getLogger(__name__)

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
VIDEO_EXT = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv",
             ".ts", ".mjpeg", ".mjpg", ".gif", ".3gp", ".ogv"}
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt")
GLOB_CHARS = re.compile(r"[*?\[]")

GSTREAMER_HINT = (
    "this OpenCV has no GStreamer support (the PyPI opencv-python wheel is built without it); "
    "uninstall opencv-python and use the distribution's OpenCV (apt install python3-opencv "
    "gstreamer1.0-plugins-good) in a venv made with --system-site-packages"
)


def is_image_path(path: str) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXT


def is_video_path(path: str) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXT


@dataclass
class Frame:
    image: np.ndarray  # BGR uint8, HxWx3; handlers may draw on it
    index: int  # position in the source (gaps on live sources are dropped frames)
    source: str
    timestamp: float  # time.monotonic() when the frame was captured or decoded


@dataclass(frozen=True)
class SourceSpec:
    """A parsed source URI."""

    kind: str  # camera, csi, picam, stream, synthetic, video, image, directory, glob
    target: str | int  # device index/path, sensor id, URL or filesystem path
    live: bool
    options: dict = field(default_factory=dict)


def parse_uri(uri: str) -> SourceSpec:
    """Name a source: ``0``, ``/dev/video0``, ``csi://0``, ``picam://0``, ``rtsp://...``,
    ``http(s)://...``, ``synthetic://640x480?fps=30``, a video, image, directory or glob."""
    text = str(uri).strip()
    if not text:
        raise EdgecamError("empty source; give a camera index, a file or a URI")
    if text.isdigit():
        return SourceSpec("camera", int(text), True)
    if re.fullmatch(r"/dev/video\d+", text):
        return SourceSpec("camera", text, True)
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in ("csi", "picam"):
        sensor = (parts.netloc or parts.path or "0").strip("/")
        if not sensor.isdigit():
            raise EdgecamError(f"{text}: the sensor id must be a number, e.g. {scheme}://0")
        return SourceSpec(scheme, int(sensor), True)
    if scheme == "synthetic":
        m = re.fullmatch(r"(\d+)x(\d+)", parts.netloc or parts.path.strip("/"))
        if not m:
            raise EdgecamError(f"{text}: expected synthetic://WIDTHxHEIGHT[?fps=N]")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        opts: dict = {"size": (int(m.group(1)), int(m.group(2)))}
        if "fps" in query:
            try:
                opts["fps"] = float(query["fps"])
            except ValueError:
                raise EdgecamError(f"{text}: fps must be a number") from None
            if opts["fps"] <= 0:
                raise EdgecamError(f"{text}: fps must be > 0")
        return SourceSpec("synthetic", text, "fps" in opts, opts)
    if scheme in STREAM_SCHEMES:
        return SourceSpec("stream", text, True)
    if scheme == "file":
        text = parts.path
    elif scheme and len(scheme) > 1:
        raise EdgecamError(f"unknown source scheme {scheme}:// in {text}")
    if GLOB_CHARS.search(text) and not os.path.exists(text):
        return SourceSpec("glob", text, False)
    path = Path(text).expanduser()
    if path.is_dir():
        return SourceSpec("directory", str(path), False)
    if not path.exists():
        raise EdgecamError(f"no such file: {text}")
    if is_image_path(text):
        return SourceSpec("image", str(path), False)
    return SourceSpec("video", str(path), False)


def _media_in(directory: str) -> list[str]:
    return sorted(str(p) for p in Path(directory).iterdir()
                  if p.is_file() and (is_image_path(p.name) or is_video_path(p.name)))


def expand_inputs(inputs: list[str]) -> list[str]:
    """Files named by paths, directories and globs, in order; a missing file, an empty
    directory or a glob that matches nothing is an error before any work starts."""
    if not inputs:
        raise EdgecamError("no input given")
    files: list[str] = []
    for item in inputs:
        spec = parse_uri(item)
        if spec.kind == "directory":
            found = _media_in(str(spec.target))
            if not found:
                raise EdgecamError(f"{item} is empty: no images or videos in it")
            files += found
        elif spec.kind == "glob":
            found = sorted(p for p in glob.glob(str(spec.target))
                           if is_image_path(p) or is_video_path(p))
            if not found:
                raise EdgecamError(f"no images or videos match {item}")
            files += found
        elif spec.kind in ("image", "video"):
            files.append(str(spec.target))
        else:
            raise EdgecamError(f"{item} is a live source; classify takes files "
                               "(use `edgecam live --source` for cameras and streams)")
    return files


def read_image(path: str) -> np.ndarray:
    """An image file as BGR (via imdecode, so any path encoding works)."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise EdgecamError(f"cannot read {path}: {exc.strerror or exc}") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise EdgecamError(f"cannot decode image {path}: not a readable picture")
    return image


class Source:
    """What the pipeline reads: iterate for every frame (files) or ``read`` the newest (live)."""

    uri: str = ""
    live: bool = False
    total: int | None = None  # frames, when known
    fps: float | None = None
    size: tuple[int, int] | None = None  # (width, height)
    dropped: int = 0
    reconnects: int = 0
    state: str = "starting"  # starting, running, reconnecting, ended

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def read(self, timeout: float | None = None) -> Frame | None:
        """The next frame, or None when there is none yet (live) or no more (``ended``)."""
        if not hasattr(self, "_iter"):
            self._iter = iter(self)
        frame = next(self._iter, None)
        if frame is None:
            self.state = "ended"
        return frame

    def close(self) -> None:
        """Release the device or file."""

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class VideoFileSource(Source):
    """Every frame of a video file, in order."""

    def __init__(self, path: str) -> None:
        self.uri = path
        self.cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
        ok, first = self.cap.read() if self.cap.isOpened() else (False, None)
        if not ok or first is None:
            self.cap.release()
            raise EdgecamError(f"cannot decode video {path}: not a readable video file")
        self._first: np.ndarray | None = first
        n = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.total = n if n > 0 else None
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 0 < fps < 1000 else None
        self.size = (first.shape[1], first.shape[0])
        self.state = "running"

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        while True:
            if self._first is not None:
                image, self._first = self._first, None
            else:
                ok, image = self.cap.read()
                if not ok:
                    break
            yield Frame(image, index, self.uri, time.monotonic())
            index += 1
        self.state = "ended"

    def close(self) -> None:
        self.cap.release()


class FileListSource(Source):
    """Images and videos one after another (a directory, a glob, one image)."""

    def __init__(self, paths: list[str], uri: str) -> None:
        self.paths = paths
        self.uri = uri
        self.state = "running"
        if all(is_image_path(p) for p in paths):
            self.total = len(paths)
            first = read_image(paths[0])
            self.size = (first.shape[1], first.shape[0])
            self._first: np.ndarray | None = first

    def __iter__(self) -> Iterator[Frame]:
        for path in self.paths:
            if is_image_path(path):
                image = getattr(self, "_first", None)
                self._first = None
                if image is None:
                    image = read_image(path)
                yield Frame(image, 0, path, time.monotonic())
            else:
                video = VideoFileSource(path)
                try:
                    yield from video
                finally:
                    video.close()
        self.state = "ended"


class SyntheticSource(Source):
    """A moving test pattern: no camera needed for ``bench`` and tests. With ``fps`` it is a
    live source paced like a camera; without, frames come as fast as they are asked for."""

    def __init__(self, uri: str, size: tuple[int, int], count: int = 30) -> None:
        self.uri = uri
        self.size = size
        w, h = size
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        self._frames = []
        for i in range(count):
            phase = 2 * np.pi * i / count
            img = np.empty((h, w, 3), np.uint8)
            img[..., 0] = (127 + 120 * np.sin(xx / 37.0 + phase)).astype(np.uint8)
            img[..., 1] = (127 + 120 * np.sin(yy / 23.0 - phase)).astype(np.uint8)
            img[..., 2] = (127 + 120 * np.sin((xx + yy) / 51.0 + 2 * phase)).astype(np.uint8)
            cx = int(w / 2 + w / 4 * np.cos(phase))
            cy = int(h / 2 + h / 4 * np.sin(phase))
            cv2.circle(img, (cx, cy), max(4, min(w, h) // 8), (20, 40, 230), -1)
            self._frames.append(img)
        self.state = "running"

    def frame(self, index: int) -> np.ndarray:
        """A fresh copy (handlers draw on frames)."""
        return self._frames[index % len(self._frames)].copy()

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        while True:
            yield Frame(self.frame(index), index, self.uri, time.monotonic())
            index += 1


# -- live sources: a capture thread, newest frame only ---------------------------------------


class Capture:
    """One way to open and read a live device: ``open()`` returns a handle or raises OSError
    with the reason; ``read(handle)`` returns an image or None when the device failed."""

    def open(self):  # pragma: no cover - interface
        raise NotImplementedError

    def read(self, handle) -> np.ndarray | None:  # pragma: no cover - interface
        raise NotImplementedError

    def release(self, handle) -> None:
        """Free the handle."""

    def properties(self, handle) -> tuple[float | None, tuple[int, int] | None]:
        """(fps, (width, height)) when the device reports them."""
        return None, None


class OpenCVCapture(Capture):
    """cv2.VideoCapture on a camera index/path, a stream URL or a GStreamer pipeline."""

    def __init__(self, target: str | int, backend: int = cv2.CAP_ANY,
                 settings: list[tuple[int, float]] | None = None,
                 params: list[int] | None = None, what: str = "") -> None:
        self.target = target
        self.backend = backend
        self.settings = settings or []
        self.params = params or []
        self.what = what or str(target)

    def open(self):
        if self.params:
            cap = cv2.VideoCapture(self.target, self.backend, self.params)
        else:
            cap = cv2.VideoCapture(self.target, self.backend)
        if not cap.isOpened():
            cap.release()
            raise OSError(f"cannot open {self.what}")
        for prop, value in self.settings:
            cap.set(prop, value)
        return cap

    def read(self, handle) -> np.ndarray | None:
        ok, image = handle.read()
        return image if ok and image is not None and image.size else None

    def release(self, handle) -> None:
        handle.release()

    def properties(self, handle) -> tuple[float | None, tuple[int, int] | None]:
        fps = handle.get(cv2.CAP_PROP_FPS)
        w, h = int(handle.get(cv2.CAP_PROP_FRAME_WIDTH)), int(handle.get(cv2.CAP_PROP_FRAME_HEIGHT))
        return (fps if 0 < fps < 1000 else None), ((w, h) if w > 0 and h > 0 else None)


class SyntheticCapture(Capture):
    """The synthetic pattern delivered at a fixed rate, like a camera that never waits."""

    def __init__(self, pattern: SyntheticSource, fps: float) -> None:
        self.pattern = pattern
        self.period = 1.0 / fps
        self.fps = fps

    def open(self):
        return {"index": 0, "next": time.monotonic()}

    def read(self, handle) -> np.ndarray | None:
        delay = handle["next"] - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        handle["next"] = max(handle["next"] + self.period, time.monotonic() - self.period)
        handle["index"] += 1
        return self.pattern.frame(handle["index"])

    def properties(self, handle) -> tuple[float | None, tuple[int, int] | None]:
        return self.fps, self.pattern.size


class PicameraCapture(Capture):
    """Raspberry Pi cameras through Picamera2 (libcamera), when it is importable."""

    def __init__(self, sensor: int, width: int, height: int) -> None:
        self.sensor, self.width, self.height = sensor, width, height

    def open(self):
        from picamera2 import Picamera2

        cam = Picamera2(self.sensor)
        config = cam.create_video_configuration(
            main={"size": (self.width, self.height), "format": "RGB888"})
        cam.configure(config)
        cam.start()
        return cam

    def read(self, handle) -> np.ndarray | None:
        # Picamera2's "RGB888" is laid out B, G, R in memory: OpenCV's order already
        return handle.capture_array("main")

    def release(self, handle) -> None:
        handle.stop()
        handle.close()


class LiveSource(Source):
    """A capture thread that keeps only the newest frame and reopens a failed device.

    Opening is tried ``max_retries`` times before the run starts (a camera that is absent or a
    stream that never connects ends the run with its reason); once it has delivered frames, a
    failure makes it reconnect with backoff, forever, with ``state == "reconnecting"``.
    """

    live = True

    def __init__(self, uri: str, capture: Capture, max_retries: int = 3,
                 backoff_s: tuple[float, float] = (0.25, 1.0)) -> None:
        self.uri = uri
        self.capture = capture
        self.backoff_s = backoff_s
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._closed = threading.Event()
        self._count = 0
        self.handle = self._open_first(max_retries)
        self.fps, self.size = capture.properties(self.handle)
        self.state = "running"
        self._thread = threading.Thread(target=self._run, name="edgecam-capture", daemon=True)
        self._thread.start()

    def _open_first(self, max_retries: int):
        delay = self.backoff_s[0]
        reason = ""
        for attempt in range(max(1, max_retries)):
            try:
                handle = self.capture.open()
            except (OSError, RuntimeError, ImportError) as exc:
                reason = str(exc)
            else:
                image = self.capture.read(handle)
                if image is not None:
                    self._publish(image)
                    return handle
                self.capture.release(handle)
                reason = "it opened but gave no frame"
            if attempt + 1 < max_retries:
                time.sleep(delay)
                delay = min(delay * 2, self.backoff_s[1])
        tries = f" after {max_retries} tries" if max_retries > 1 else ""
        raise EdgecamError(f"cannot open {self.uri}{tries}: {reason}")

    def _publish(self, image: np.ndarray) -> None:
        with self._cond:
            if self._latest is not None:
                self.dropped += 1
            self._latest = Frame(image, self._count, self.uri, time.monotonic())
            self._count += 1
            self._cond.notify_all()

    def _run(self) -> None:
        handle = self.handle
        delay = self.backoff_s[0]
        while not self._closed.is_set():
            if handle is None:
                try:
                    handle = self.capture.open()
                except (OSError, RuntimeError, ImportError) as exc:
                    log.debug("reopening %s failed: %s", self.uri, exc)
                    self._closed.wait(delay)
                    delay = min(delay * 2, self.backoff_s[1])
                    continue
            image = self.capture.read(handle)
            if image is None:
                self.capture.release(handle)
                handle = None
                if not self._closed.is_set():
                    if self.state != "reconnecting":
                        log.warning("%s stopped delivering frames: reconnecting", self.uri)
                    self.state = "reconnecting"
                    self.reconnects += 1
                continue
            if self.state == "reconnecting":
                log.info("%s is back", self.uri)
            self.state = "running"
            delay = self.backoff_s[0]
            self._publish(image)
        if handle is not None:
            self.capture.release(handle)

    def read(self, timeout: float | None = None) -> Frame | None:
        with self._cond:
            if self._latest is None:
                self._cond.wait(timeout)
            frame, self._latest = self._latest, None
        return frame

    def __iter__(self) -> Iterator[Frame]:
        while not self._closed.is_set():
            frame = self.read(0.25)
            if frame is not None:
                yield frame

    def close(self) -> None:
        self._closed.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=3)
        self.state = "ended"


# -- opening ----------------------------------------------------------------------------------


def has_gstreamer() -> bool:
    info = cv2.getBuildInformation()
    m = re.search(r"GStreamer:\s*(\S+)", info)
    return bool(m) and m.group(1).upper() not in ("NO", "OFF")


def _camera_capture(spec: SourceSpec, width: int | None, height: int | None,
                    fps: float | None) -> Capture:
    device = spec.target
    path = device if isinstance(device, str) else f"/dev/video{device}"
    if os.name == "posix" and Path("/dev").is_dir() and not os.path.exists(path):
        cams = sorted(glob.glob("/dev/video*"))
        have = ", ".join(cams) if cams else "none"
        raise EdgecamError(f"camera {device} not found: no {path} (cameras here: {have})")
    settings: list[tuple[int, float]] = [(cv2.CAP_PROP_BUFFERSIZE, 1)]
    if width or height:
        settings.append((cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG")))
    if width:
        settings.append((cv2.CAP_PROP_FRAME_WIDTH, width))
    if height:
        settings.append((cv2.CAP_PROP_FRAME_HEIGHT, height))
    if fps:
        settings.append((cv2.CAP_PROP_FPS, fps))
    backend = cv2.CAP_V4L2 if os.name == "posix" else cv2.CAP_ANY
    return OpenCVCapture(device, backend, settings, what=f"camera {device}")


def _csi_pipeline(sensor: int, width: int, height: int, fps: float) -> str:
    return (f"nvarguscamerasrc sensor-id={sensor} ! video/x-raw(memory:NVMM),width={width},"
            f"height={height},framerate={int(fps)}/1 ! nvvidconv ! video/x-raw,format=BGRx ! "
            "videoconvert ! video/x-raw,format=BGR ! appsink drop=true max-buffers=1")


def _libcamera_pipeline(width: int, height: int, fps: float) -> str:
    """libcamerasrc opens the first camera; Picamera2 is the way to pick another."""
    return (f"libcamerasrc ! video/x-raw,width={width},height={height},"
            f"framerate={int(fps)}/1 ! videoconvert ! video/x-raw,format=BGR ! "
            "appsink drop=true max-buffers=1")


def _stream_capture(url: str, connect_timeout: float) -> OpenCVCapture:
    params: list[int] = []
    for name, value in (("CAP_PROP_OPEN_TIMEOUT_MSEC", connect_timeout),
                        ("CAP_PROP_READ_TIMEOUT_MSEC", connect_timeout)):
        prop = getattr(cv2, name, None)
        if prop is not None:
            params += [prop, int(value * 1000)]
    return OpenCVCapture(url, cv2.CAP_FFMPEG, params=params, what=url)


def open_source(uri: str, width: int | None = None, height: int | None = None,
                fps: float | None = None, connect_timeout: float = 5.0,
                max_retries: int = 3) -> Source:
    """Open what ``uri`` names; errors (missing file, absent camera, no GStreamer, a stream that
    never connects) are one-line EdgecamErrors raised here, before the run starts."""
    spec = parse_uri(str(uri))
    w, h, rate = width or 1280, height or 720, fps or 30
    if spec.kind == "video":
        return VideoFileSource(str(spec.target))
    if spec.kind in ("image", "directory", "glob"):
        return FileListSource(expand_inputs([str(spec.target)]), str(uri))
    if spec.kind == "synthetic":
        pattern = SyntheticSource(str(uri), spec.options["size"])
        if not spec.live:
            return pattern
        return LiveSource(str(uri), SyntheticCapture(pattern, spec.options["fps"]))
    if spec.kind == "camera":
        return LiveSource(str(uri), _camera_capture(spec, width, height, fps), max_retries=1)
    if spec.kind == "csi":
        if not has_gstreamer():
            raise EdgecamError(f"{uri} needs GStreamer (nvarguscamerasrc): {GSTREAMER_HINT}")
        pipe = _csi_pipeline(int(spec.target), w, h, rate)
        return LiveSource(str(uri), OpenCVCapture(pipe, cv2.CAP_GSTREAMER, what=str(uri)),
                          max_retries=1)
    if spec.kind == "picam":
        return LiveSource(str(uri), _picam_capture(spec, w, h, rate), max_retries=1)
    return LiveSource(str(uri), _stream_capture(str(spec.target), connect_timeout),
                      max_retries=max_retries)


def _picam_capture(spec: SourceSpec, w: int, h: int, rate: float) -> Capture:
    try:
        import picamera2  # noqa: F401
    except ImportError:
        if not has_gstreamer():
            raise EdgecamError(
                f"picam://{spec.target} needs Picamera2 "
                "(apt install python3-picamera2, venv with --system-site-packages) or an "
                f"OpenCV with GStreamer and libcamerasrc; neither is here: {GSTREAMER_HINT}"
            ) from None
        pipe = _libcamera_pipeline(w, h, rate)
        return OpenCVCapture(pipe, cv2.CAP_GSTREAMER, what=f"picam://{spec.target}")
    return PicameraCapture(int(spec.target), w, h)

