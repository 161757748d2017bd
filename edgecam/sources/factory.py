"""Where frames come from, named by URI: cameras (``0``, ``/dev/video0``), CSI and Pi cameras
(``csi://0``, ``picam://0``), any GStreamer pipeline (``gst://PIPELINE``), network streams
(``rtsp://``, ``http(s)://``), video and image files, directories, globs and a synthetic
pattern (``synthetic://640x480?fps=30``).

Files give every frame in order (``edgecam.sources.files``); live sources give the newest frame
(``edgecam.sources.camera``). ``open_source`` picks one and fails early, in one line, with what is
wrong.
"""

from __future__ import annotations

import glob
import logging
import math
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from edgecam.sources.camera import (
    Capture,
    LiveSource,
    PicameraCapture,
    PlaybackCapture,
    SyntheticCapture,
    camera_capture,
    stream_capture,
)
from edgecam.sources.files import FileListSource, RepeatedVideo, SyntheticSource, VideoFileSource
from edgecam.sources.frames import Frame, Source
from edgecam.sources.gstreamer import (
    GSTREAMER_HINT,
    csi_pipeline,
    gst_capture,
    has_gstreamer,
    libcamera_pipeline,
)
from edgecam.sources.media import is_image_path, is_video_path, media_kind, read_image
from edgecam.util.cvpath import opencv_safe
from edgecam.util.errors import EdgecamError

log = logging.getLogger(__name__)

__all__ = ["Frame", "Source", "SourceSpec", "expand_inputs", "is_image_path", "is_video_path",
           "open_source", "parse_uri", "read_image"]

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt")
GLOB_CHARS = re.compile(r"[*?\[]")
MIN_SIDE, MAX_SIDE = 16, 8192  # pixels per side of a frame: from a thumbnail to 8K
MAX_FPS = 1000


SYNTHETIC_SIZE = "640x480"  # synthetic:// with no size: a VGA camera


@dataclass(frozen=True)
class SourceSpec:
    """A parsed source URI."""

    kind: str  # camera, csi, picam, gstreamer, stream, synthetic, video, image, directory, glob
    target: str | int  # device index/path, sensor id, URL or filesystem path
    live: bool
    options: dict = field(default_factory=dict)


def check_capture_mode(width: int | None = None, height: int | None = None,
                       fps: float | None = None, what: str = "") -> None:
    """Refuse a frame size or rate no camera delivers (zero, negative, NaN, a 30 GB frame)
    before anything is opened; ``what`` names the URI, else the options are named."""

    def name(option: str) -> str:
        return f"{what}: {option}" if what else f"--{option}"

    for option, value in (("width", width), ("height", height)):
        if value is not None and not MIN_SIDE <= value <= MAX_SIDE:
            raise EdgecamError(f"{name(option)} must be {MIN_SIDE}-{MAX_SIDE} pixels, "
                               f"got {value}")
    if fps is not None and not (math.isfinite(fps) and 0 < fps <= MAX_FPS):
        raise EdgecamError(f"{name('fps')} must be a number above 0 and at most {MAX_FPS}, "
                           f"got {fps:g}")


def check_source_options(uri: str, width: int | None = None, height: int | None = None,
                         fps: float | None = None) -> None:
    """Everything about a source and its options that can be refused before a model is
    loaded (or exported on first use), so a typo costs no wait."""
    check_capture_mode(width, height, fps)
    parse_uri(uri)


def parse_uri(uri: str) -> SourceSpec:
    """Name a source: ``0``, ``/dev/video0``, ``csi://0``, ``picam://0``, ``gst://PIPELINE``,
    ``rtsp://...``,
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
    if (scheme in STREAM_SCHEMES or scheme == "gst") and not opencv_safe(text):
        raise EdgecamError(f"{text}: not valid UTF-8, which OpenCV cannot take; write the "
                           "address in UTF-8 (or with %XX escapes)")
    if scheme == "gst":
        pipeline = text[len("gst://"):].strip() if text.lower().startswith("gst://") else ""
        if not pipeline:
            raise EdgecamError(f"{text}: expected gst://PIPELINE, e.g. "
                               "gst://videotestsrc ! videoconvert ! appsink")
        return SourceSpec("gstreamer", pipeline, True)
    if scheme in ("csi", "picam"):
        sensor = (parts.netloc or parts.path or "0").strip("/")
        if not sensor.isdigit():
            raise EdgecamError(f"{text}: the sensor id must be a number, e.g. {scheme}://0")
        return SourceSpec(scheme, int(sensor), True)
    if scheme == "synthetic":
        m = re.fullmatch(r"(\d+)x(\d+)", parts.netloc or parts.path.strip("/") or SYNTHETIC_SIZE)
        if not m:
            raise EdgecamError(f"{text}: expected synthetic://WIDTHxHEIGHT[?fps=N]")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        size = (int(m.group(1)), int(m.group(2)))
        check_capture_mode(*size, what=text)
        opts: dict = {"size": size}
        if "fps" in query:
            try:
                opts["fps"] = float(query["fps"])
            except ValueError:
                raise EdgecamError(f"{text}: fps must be a number") from None
            check_capture_mode(fps=opts["fps"], what=text)
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
    check_readable_kind(path, text)
    kind = media_kind(str(path))
    if kind is None:
        raise EdgecamError(f"cannot decode {text}: not a picture or video this OpenCV can read")
    return SourceSpec(kind, str(path), False)


def check_readable_kind(path: Path, text: str) -> None:
    """A named pipe or a socket given as an input would block the decoder in native code until
    someone writes to it, deaf to Ctrl-C: refused. Regular files and devices are read."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise EdgecamError(f"cannot read {text}: {exc.strerror or exc}") from None
    if stat.S_ISREG(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return
    what = "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else (
        "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
    raise EdgecamError(f"{text} is {what}: edgecam reads files and devices; save the "
                       "stream to a file first, or give it as a stream URI")


def _media(paths: list[str], where: str) -> list[str]:
    """The pictures and videos among ``paths``, in order; the rest is named on stderr (hidden
    files such as .DS_Store are passed over quietly)."""
    found, skipped = [], []
    for p in sorted(paths):
        if not os.path.isfile(p):
            continue
        if media_kind(p) is not None:
            found.append(p)
        elif not Path(p).name.startswith("."):
            skipped.append(Path(p).name)
    if skipped and found:
        names = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5
                                          else "")
        log.warning("skipped %d file(s) in %s that are not pictures or videos: %s",
                    len(skipped), where, names)
    return found


def walk_files(folder: str) -> list[str]:
    """Every file under ``folder``, sub-folders included (``DIR/LABEL/*.jpg``, the layout
    ``capture`` writes, is the common case), as paths that start with ``folder``; hidden
    folders (``.git``, a camera's ``.thumbnails``) and links to folders are not entered."""
    found: list[str] = []
    for root, dirs, files in os.walk(folder, onerror=None):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.join(root, name) for name in files]
    return found


def expand_inputs(inputs: list[str]) -> list[str]:
    """Files named by paths, directories and globs, in order; a missing file, an empty
    directory or a glob that matches nothing is an error before any work starts."""
    if not inputs:
        raise EdgecamError("no input given")
    files: list[str] = []
    for item in inputs:
        spec = parse_uri(item)
        if spec.kind == "directory":
            found = _media(walk_files(str(spec.target)), item)
            if not found:
                raise EdgecamError(f"{item} is empty: no images or videos in it or in its "
                                   "sub-folders")
            files += found
        elif spec.kind == "glob":
            found = _media(glob.glob(str(spec.target)), item)
            if not found:
                raise EdgecamError(f"no images or videos match {item}")
            files += found
        elif spec.kind in ("image", "video"):
            files.append(str(spec.target))
        else:
            raise EdgecamError(f"{item} is a live source; classify takes files "
                               "(use `edgecam live --source` for cameras and streams)")
    return files


def open_source(uri: str, width: int | None = None, height: int | None = None,
                fps: float | None = None, connect_timeout: float = 5.0,
                max_retries: int = 3, playback: bool = False, loop: bool = False) -> Source:
    """Open what ``uri`` names; errors (missing file, absent camera, no GStreamer, a stream that
    never connects) are one-line EdgecamErrors raised here, before the run starts.

    A video file gives every frame as fast as they are asked for; with ``playback`` it plays
    at its own frame rate like a camera (newest frame, drops counted), and ``loop`` repeats it.
    """
    check_capture_mode(width, height, fps)
    spec = parse_uri(str(uri))
    w, h, rate = width or 1280, height or 720, fps or 30
    if spec.kind == "video" and playback:
        VideoFileSource(str(spec.target)).close()  # the same one-line error as classify's
        return LiveSource(str(uri), PlaybackCapture(str(spec.target), loop), max_retries=1)
    if spec.kind == "video":
        return RepeatedVideo(str(spec.target)) if loop else VideoFileSource(str(spec.target))
    if spec.kind in ("image", "directory", "glob"):
        return FileListSource(expand_inputs([str(spec.target)]), str(uri))
    if spec.kind == "synthetic":
        pattern = SyntheticSource(str(uri), spec.options["size"])
        if not spec.live:
            return pattern
        return LiveSource(str(uri), SyntheticCapture(pattern, spec.options["fps"]))
    if spec.kind == "camera":
        return LiveSource(str(uri), camera_capture(spec.target, width, height, fps), max_retries=1)
    if spec.kind == "gstreamer":
        return LiveSource(str(uri), gst_capture(str(spec.target), str(uri)), max_retries=1)
    if spec.kind == "csi":
        pipe = csi_pipeline(int(spec.target), w, h, rate)
        return LiveSource(str(uri), gst_capture(pipe, str(uri)), max_retries=1)
    if spec.kind == "picam":
        return LiveSource(str(uri), picam_capture(int(spec.target), w, h, rate), max_retries=1)
    return LiveSource(str(uri), stream_capture(str(spec.target), connect_timeout),
                      max_retries=max_retries)


def picam_capture(sensor: int, w: int, h: int, rate: float) -> Capture:
    """Picamera2 when importable, else libcamerasrc through GStreamer, else what to install."""
    try:
        import picamera2  # noqa: F401
    except ImportError:
        if not has_gstreamer():
            raise EdgecamError(
                f"picam://{sensor} needs Picamera2 "
                "(apt install python3-picamera2, venv with --system-site-packages) or an "
                f"OpenCV with GStreamer and libcamerasrc; neither is here: {GSTREAMER_HINT}"
            ) from None
        return gst_capture(libcamera_pipeline(w, h, rate), f"picam://{sensor}")
    return PicameraCapture(sensor, w, h)
