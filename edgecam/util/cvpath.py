"""Paths OpenCV can take, for every place edgecam hands OpenCV a file name.

A file name that is not valid UTF-8 (old cameras and FAT sticks write Latin-1 names) reaches
Python as a str with surrogate escapes, and OpenCV's Python bindings crash the process on such a
str (SIGSEGV in ``VideoCapture``, ``VideoWriter``, ``haveImageReader``), taking a whole run with
it. Such a path is handed over as a symbolic link with a plain ASCII name instead, made in a
private temporary folder for the length of the call that opens the file and removed after:
OpenCV and FFmpeg keep the file they opened, so the link is not needed once the call returns.
The link keeps the file's extension, which FFmpeg uses to pick a container (and a writer its
format). Valid names (UTF-8 of any script) are passed as they are.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2

from edgecam.util.errors import EdgecamError


def opencv_safe(path: str) -> bool:
    """True when OpenCV can take ``path`` as it is (it encodes as UTF-8)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _suffix(path: str) -> str:
    suffix = Path(path).suffix
    return suffix if suffix.isascii() and opencv_safe(suffix) else ""


@contextlib.contextmanager
def opencv_path(path: str | os.PathLike) -> Iterator[str]:
    """``path`` as OpenCV can take it, valid for the ``with`` block: itself, or a link to it
    with an ASCII name (see the module's docstring); a one-line EdgecamError when no link can
    be made."""
    text = os.fspath(path)
    if opencv_safe(text):
        yield text
        return
    try:
        folder = tempfile.mkdtemp(prefix="edgecam-name-")
    except OSError as exc:
        raise EdgecamError(f"cannot open {text}: its name is not valid UTF-8 and no link with "
                           f"a plain name could be made ({exc.strerror or exc}); rename "
                           "it") from None
    try:
        link = os.path.join(folder, "file" + _suffix(text))
        try:
            os.symlink(os.path.abspath(text), link)
        except OSError as exc:
            raise EdgecamError(f"cannot open {text}: its name is not valid UTF-8 and no link "
                               f"with a plain name could be made ({exc.strerror or exc}); "
                               "rename it") from None
        yield link
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def video_capture(path: str | os.PathLike, backend: int = cv2.CAP_FFMPEG) -> cv2.VideoCapture:
    """``cv2.VideoCapture`` on a video file, whatever its name."""
    with opencv_path(path) as name:
        return cv2.VideoCapture(name, backend)


def video_writer(path: str | os.PathLike, fourcc: int, fps: float, size: tuple[int, int]
                 ) -> cv2.VideoWriter:
    """``cv2.VideoWriter`` on a file, whatever its name."""
    with opencv_path(path) as name:
        return cv2.VideoWriter(name, fourcc, fps, size)


def have_image_reader(path: str | os.PathLike) -> bool:
    """``cv2.haveImageReader`` (a decoder knows the file's signature), whatever its name."""
    with opencv_path(path) as name:
        return cv2.haveImageReader(name)
