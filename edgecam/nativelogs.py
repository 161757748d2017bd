"""OpenCV and FFmpeg print their own warnings from C (a corrupt file, a refused connection, a
camera probe). edgecam reports those problems itself in one line, so their logs stay off unless
the user sets the variables.

Three channels, three switches: OpenCV's own logger (``OPENCV_LOG_LEVEL``; "ERROR" would still
print its ``[ERROR:0@...]`` lines, so it is set to "SILENT"), FFmpeg's ``av_log`` (OpenCV sets
its level from ``OPENCV_FFMPEG_LOGLEVEL``) and the codec libraries (libjpeg, libpng...) that
write to the stderr file descriptor directly; the last ones are only kept quiet by pointing fd 2
elsewhere for the length of a call (``native_stderr_silenced``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

QUIET = {"OPENCV_LOG_LEVEL": "SILENT", "OPENCV_FFMPEG_LOGLEVEL": "-8",
         "OPENCV_VIDEOIO_DEBUG": "0"}

_lock = threading.Lock()
_depth = 0
_saved_fd: int | None = None


def quiet_native_logs() -> None:
    """Call before cv2 is imported (the CLI does, first thing); a variable the user set wins."""
    for name, value in QUIET.items():
        os.environ.setdefault(name, value)
    if "cv2" in sys.modules and os.environ["OPENCV_LOG_LEVEL"] == QUIET["OPENCV_LOG_LEVEL"]:
        import cv2  # already loaded: its logger read the variable before we set it

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send what C libraries write to fd 2 to /dev/null while probing or opening a file.

    Nested and concurrent uses share one redirection (the first one in saves fd 2, the last
    one out restores it). Python's own stderr writes in that window are lost too, so keep
    the window to one call. A no-op when the user asked for OpenCV's logs.
    """
    global _depth, _saved_fd
    if os.environ.get("OPENCV_LOG_LEVEL", QUIET["OPENCV_LOG_LEVEL"]) != QUIET["OPENCV_LOG_LEVEL"]:
        yield
        return
    with _lock:
        if _depth == 0:
            try:
                sys.stderr.flush()
                _saved_fd = os.dup(2)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 2)
                os.close(devnull)
            except (OSError, ValueError, AttributeError):
                _saved_fd = None
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved_fd is not None:
                os.dup2(_saved_fd, 2)
                os.close(_saved_fd)
                _saved_fd = None
