"""``dir/``: annotated pictures under their own names and one ``NAME.labeled.mp4`` per video.

Two inputs never share an output name: where names collide (``s1/x.jpg`` and ``s2/x.jpg``,
``a.mp4`` and ``a.avi``) the relative folder is kept, and where that does not separate them
the input's extension is added to the name. An output that would replace one of the inputs
is refused before the run starts.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import cv2

from edgecam.sinks.base import Sink
from edgecam.sinks.staging import mention_leftovers
from edgecam.sinks.video import VideoFile
from edgecam.sources.media import is_image_path
from edgecam.util.atomic import write_whole
from edgecam.util.errors import EdgecamError
from edgecam.util.nativelogs import native_stderr_silenced
from edgecam.util.safewrite import check_writable

if TYPE_CHECKING:
    from edgecam.pipeline.loop import Result
    from edgecam.sources.frames import Stream

VIDEO_SUFFIX = ".labeled.mp4"


def _plain(path: str) -> str:
    p = Path(path)
    return p.name if is_image_path(path) else p.stem + VIDEO_SUFFIX


def _with_ext(path: str) -> str:
    p = Path(path)
    ext = p.suffix.lstrip(".")
    return (f"{p.stem}-{ext}{p.suffix}" if is_image_path(path)
            else f"{p.stem}-{ext}{VIDEO_SUFFIX}")


def _clashes(names: dict[str, str]) -> list[list[str]]:
    """Groups of inputs that would get the same output name."""
    groups: dict[str, list[str]] = defaultdict(list)
    for path, name in names.items():
        groups[name].append(path)
    return [paths for paths in groups.values() if len(paths) > 1]


def output_names(inputs: list[str]) -> dict[str, str]:
    """Input path -> output path relative to the directory, distinct for distinct inputs."""
    names = {path: _plain(path) for path in inputs}
    for paths in _clashes(names):
        folders = [Path(os.path.abspath(p)).parent for p in paths]
        common = Path(os.path.commonpath(folders))
        for path, folder in zip(paths, folders):
            names[path] = str(folder.relative_to(common) / names[path])
    for paths in _clashes(names):
        for path in paths:
            names[path] = str(Path(names[path]).parent / _with_ext(path))
    return names


class FolderSink(Sink):
    """Pictures are written whole one by one; a video is renamed into place when its stream
    ends."""

    needs_image = True

    def __init__(self, directory: str, inputs: list[str] | None = None,
                 fps: float | None = None) -> None:
        super().__init__()
        self.uri = directory
        self.directory = Path(directory)
        self.fps = fps
        self.names = output_names(inputs or [])
        self._videos: dict[int, VideoFile] = {}
        self._wrote = False
        self._lock = threading.Lock()
        if self.directory.exists() and not self.directory.is_dir():
            raise EdgecamError(f"cannot write {directory}: it exists and is not a directory")
        check_writable(self.directory, directory=True)
        mention_leftovers(self.directory)

    def targets(self) -> list[str]:
        return [str(self.directory / name) for name in self.names.values()]

    def target(self, source: str) -> Path:
        return self.directory / self.names.get(source, _plain(source))

    def open(self, stream: Stream) -> None:
        if stream.kind != "images":
            with self._lock:
                self._videos[stream.index] = VideoFile(self.target(stream.uri),
                                                       stream.fps or self.fps)

    def write(self, result: Result) -> None:
        stream = result.stream
        video = self._videos.get(stream.index) if stream is not None else None
        if video is not None:
            video.write(result.frame.image)
            return
        target = self.target(result.frame.source)
        # encoded in memory and written here: a write error is ours to name (no space left,
        # permission...), never the codec's own "Write Error" on the terminal
        with native_stderr_silenced():
            ok, encoded = cv2.imencode(target.suffix or ".png", result.frame.image)
        if not ok:
            raise EdgecamError(f"cannot write {target}: OpenCV cannot encode {target.suffix}")
        write_whole(target, encoded.tobytes())
        self._wrote = True

    def end(self, stream: Stream, ok: bool) -> None:
        with self._lock:
            video = self._videos.pop(stream.index, None)
        if video is not None and video.close() is not None:
            self._wrote = True

    def close(self, ok: bool) -> None:
        with self._lock:
            videos, self._videos = list(self._videos.values()), {}
        for video in videos:  # finalized even when the run failed: nothing whole is lost
            self._wrote |= video.close() is not None
        if self._wrote:
            self.written.append(str(self.directory))
