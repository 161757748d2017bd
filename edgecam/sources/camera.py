"""Live sources: a capture thread that keeps only the newest frame, so a slow model never
shows a picture seconds behind (overwritten frames are counted as dropped), and reopens a
device or stream that fails, with backoff, reporting ``state == "reconnecting"`` meanwhile.
The devices themselves (V4L2, Picamera2, FFmpeg streams, the synthetic pattern; GStreamer
pipelines in ``edgecam.sources.gstreamer``) are small ``Capture`` classes."""

from __future__ import annotations

import glob
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np

from edgecam.sources.files import SyntheticSource
from edgecam.sources.frames import Frame, Source
from edgecam.util.cvpath import video_capture
from edgecam.util.errors import EdgecamError

log = logging.getLogger(__name__)

PORTS = {"http": 80, "https": 443, "rtsp": 554, "rtsps": 322, "rtmp": 1935}

class Capture:
    """One way to open and read a live device: ``open()`` returns a handle or raises OSError
    with the reason; ``read(handle)`` returns an image or None when the device failed (or,
    when ``ends``, when it has no more: a video file played like a camera)."""

    ends = False

    def open(self):  # pragma: no cover - interface
        raise NotImplementedError

    def read(self, handle) -> np.ndarray | None:  # pragma: no cover - interface
        raise NotImplementedError

    def release(self, handle) -> None:
        """Free the handle."""

    def properties(self, handle) -> tuple[float | None, tuple[int, int] | None]:
        """(fps, (width, height)) when the device reports them."""
        return None, None

    def position(self, handle) -> float | None:
        """The last image's place in a file's own time (ms), for a file played like a camera;
        None for devices (their clock is the wall's)."""
        return None


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
            raise OSError(unreachable_reason(self.target) or "OpenCV could not open it")
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


class PlaybackCapture(Capture):
    """A video file played at its own frame rate, like a camera (``live --source clip.mp4``):
    a model slower than the file drops frames instead of slowing the clip down. ``loop``
    starts it again at the end; otherwise the end of the file ends the source."""

    def __init__(self, path: str, loop: bool = False, fallback_fps: float = 30.0) -> None:
        self.path = path
        self.loop = loop
        self.ends = not loop
        self.fallback_fps = fallback_fps

    def open(self) -> dict:
        cap = video_capture(self.path)
        if not cap.isOpened():
            cap.release()
            raise OSError("not a readable video file")
        fps = cap.get(cv2.CAP_PROP_FPS)
        period = 1.0 / (fps if 0 < fps < 1000 else self.fallback_fps)
        return {"cap": cap, "period": period, "next": time.monotonic(), "frames": 0,
                "base": 0.0, "at": 0.0}

    def read(self, handle) -> np.ndarray | None:
        delay = handle["next"] - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        handle["next"] = max(handle["next"] + handle["period"],
                             time.monotonic() - handle["period"])
        ok, image = handle["cap"].read()
        if not ok and self.loop and handle["frames"]:
            handle["cap"].set(cv2.CAP_PROP_POS_FRAMES, 0)
            # the file's clock goes on across the loop, so states held over it still count
            handle["base"] = handle["at"] + handle["period"] * 1e3
            ok, image = handle["cap"].read()
        if not ok or image is None or not image.size:
            return None
        handle["frames"] += 1
        handle["at"] = handle["base"] + handle["cap"].get(cv2.CAP_PROP_POS_MSEC)
        return image

    def position(self, handle) -> float | None:
        return handle["at"]

    def release(self, handle) -> None:
        handle["cap"].release()

    def properties(self, handle) -> tuple[float | None, tuple[int, int] | None]:
        cap = handle["cap"]
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        return 1.0 / handle["period"], ((w, h) if w > 0 and h > 0 else None)


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
        # set on every new frame: one loop serving several cameras waits on one event
        self.arrived: threading.Event | None = None
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
                    self._publish(image, self.capture.position(handle))
                    return handle
                self.capture.release(handle)
                reason = "it opened but gave no frame"
            if attempt + 1 < max_retries:
                time.sleep(delay)
                delay = min(delay * 2, self.backoff_s[1])
        tries = f" after {max_retries} tries" if max_retries > 1 else ""
        raise EdgecamError(f"cannot open {self.uri}{tries}: {reason}")

    def _publish(self, image: np.ndarray, position: float | None = None) -> None:
        with self._cond:
            if self._latest is not None:
                self.dropped += 1
            self._latest = Frame(image, self._count, self.uri, time.monotonic(), position)
            self._count += 1
            self._cond.notify_all()
        if self.arrived is not None:
            self.arrived.set()

    def _run(self) -> None:
        handle = self.handle
        delay = self.backoff_s[0]
        while not self._closed.is_set():
            if handle is None:
                try:
                    handle = self.capture.open()
                except (OSError, RuntimeError, ImportError) as exc:
                    log.debug("reopening %s failed: %s", self.uri, exc)
                    self.attempts += 1
                    self._closed.wait(delay)
                    delay = min(delay * 2, self.backoff_s[1])
                    continue
                self.attempts += 1
            image = self.capture.read(handle)
            if image is None and self.capture.ends:
                self.state = "ended"  # a file played like a camera: nothing to reconnect to
                with self._cond:
                    self._cond.notify_all()
                break
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
            self._publish(image, self.capture.position(handle))
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


def unreachable_reason(target: object) -> str | None:
    """Why a network stream did not open, when the network says: refused, no answer, unknown
    host. None for devices, pipelines, or a server that answers (then the stream is the
    problem, e.g. a wrong path or format)."""
    parts = urlsplit(target) if isinstance(target, str) else None
    if parts is None or not parts.hostname or parts.scheme not in PORTS:
        return None
    port = parts.port or PORTS[parts.scheme]
    try:
        with socket.create_connection((parts.hostname, port), timeout=2.0):
            return None
    except socket.gaierror:
        return f"unknown host {parts.hostname}"
    except TimeoutError:
        return f"no answer from {parts.hostname}:{port}"
    except OSError as exc:
        return f"{parts.hostname}:{port}: {exc.strerror or exc}"


def camera_capture(device: int | str, width: int | None, height: int | None,
                   fps: float | None) -> Capture:
    """A V4L2 camera by index or path; absent devices fail at once with what is there."""
    path = device if isinstance(device, str) else f"/dev/video{device}"
    if os.name == "posix" and Path("/dev").is_dir() and not os.path.exists(path):
        cams = sorted(glob.glob("/dev/video*"))
        have = ", ".join(cams) if cams else "none"
        raise EdgecamError(f"camera {device} not found: no {path} (cameras here: {have}); "
                           "without a camera, try --source synthetic:// or a video file")
    settings: list[tuple[int, float]] = [(cv2.CAP_PROP_BUFFERSIZE, 1)]
    if width or height:
        settings.append((cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG")))  # type: ignore[attr-defined]
    if width:
        settings.append((cv2.CAP_PROP_FRAME_WIDTH, width))
    if height:
        settings.append((cv2.CAP_PROP_FRAME_HEIGHT, height))
    if fps:
        settings.append((cv2.CAP_PROP_FPS, fps))
    backend = cv2.CAP_V4L2 if os.name == "posix" else cv2.CAP_ANY
    return OpenCVCapture(device, backend, settings, what=f"camera {device}")


def stream_capture(url: str, connect_timeout: float) -> OpenCVCapture:
    """A network stream through FFmpeg with open and read timeouts."""
    params: list[int] = []
    for name, value in (("CAP_PROP_OPEN_TIMEOUT_MSEC", connect_timeout),
                        ("CAP_PROP_READ_TIMEOUT_MSEC", connect_timeout)):
        prop = getattr(cv2, name, None)
        if prop is not None:
            params += [prop, int(value * 1000)]
    return OpenCVCapture(url, cv2.CAP_FFMPEG, params=params, what=url)
