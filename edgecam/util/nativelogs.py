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
import logging
import os
import sys
import threading
from collections.abc import Iterator

QUIET = {"OPENCV_LOG_LEVEL": "SILENT", "OPENCV_FFMPEG_LOGLEVEL": "-8",
         "OPENCV_VIDEOIO_DEBUG": "0"}

_lock = threading.RLock()  # held while fd 2 points away, and by StderrHandler while it writes


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

    One thread at a time (others wait for the lock, and so do edgecam's log lines, which
    would otherwise be lost in the window); keep the window to one call. A no-op when the
    user asked for OpenCV's logs.
    """
    if os.environ.get("OPENCV_LOG_LEVEL", QUIET["OPENCV_LOG_LEVEL"]) != QUIET["OPENCV_LOG_LEVEL"]:
        yield
        return
    with _lock:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):
            yield
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class StderrHandler(logging.StreamHandler):
    """Log lines on stderr that wait for a silenced window to end instead of vanishing in it."""

    def emit(self, record: logging.LogRecord) -> None:
        with _lock:
            super().emit(record)
