"""OpenCV and FFmpeg print their own warnings from C (a corrupt file, a refused connection, a
camera probe). edgecam reports those problems itself in one line, so their logs stay off unless
the user sets the variables; call this before the first capture is opened."""

from __future__ import annotations

import os

QUIET = {"OPENCV_LOG_LEVEL": "ERROR", "OPENCV_FFMPEG_LOGLEVEL": "-8",
         "OPENCV_VIDEOIO_DEBUG": "0"}


def quiet_native_logs() -> None:
    for name, value in QUIET.items():
        os.environ.setdefault(name, value)
