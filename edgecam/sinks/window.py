"""``display://0``: an OpenCV window; closing it (q, Esc, the window's button) ends the run."""

from __future__ import annotations

import os
import socket
import sys
from typing import TYPE_CHECKING

import cv2

from edgecam.sinks.base import Sink
from edgecam.util.errors import EdgecamError
from edgecam.util.signals import EndOfRun

if TYPE_CHECKING:
    from edgecam.pipeline.loop import Result


def x_display_reachable(display: str) -> bool:
    """Whether the X server named by ``display`` (":0", "host:10.0") accepts connections:
    OpenCV's Qt window aborts the whole process when it does not (a stale DISPLAY over SSH)."""
    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit():
        return False
    if host in ("", "unix"):
        return os.path.exists(f"/tmp/.X11-unix/X{number}")
    try:
        with socket.create_connection((host, 6000 + int(number)), timeout=1.0):
            return True
    except OSError:
        return False


def display_available() -> tuple[bool, str]:
    """(True, "") when a window can be shown, else (False, why not)."""
    if sys.platform.startswith("linux"):
        display = os.environ.get("DISPLAY", "")
        if not display:
            return False, "no display (DISPLAY is not set)"
        if not x_display_reachable(display):
            return False, f"no display (nothing answers on DISPLAY={display})"
    gui = [line for line in cv2.getBuildInformation().splitlines()
           if line.strip().startswith("GUI:")]
    if gui and gui[0].split(":", 1)[1].strip().upper() in ("NONE", "NO"):
        return False, "this OpenCV has no GUI support"
    return True, ""


class WindowSink(Sink):
    needs_image = True

    def __init__(self, uri: str = "display://0", title: str = "edgecam") -> None:
        super().__init__()
        self.uri = uri
        self.title = title
        self._open = False

    def write(self, result: Result) -> None:
        if not self.show(result.frame.image):
            raise EndOfRun

    def show(self, image) -> bool:
        """False when the user pressed q or Esc or closed the window."""
        try:
            cv2.imshow(self.title, image)
            self._open = True
            key = cv2.waitKey(1) & 0xFF
            if key in (ord("q"), 27):
                return False
            return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) >= 1
        except cv2.error as exc:
            raise EdgecamError(f"cannot show a window: {exc.msg.strip()}; use --headless") \
                from None

    def close(self, ok: bool) -> None:
        if self._open:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
            self._open = False
