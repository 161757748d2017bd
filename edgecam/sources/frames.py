"""What every source gives (frames) and is (a ``Source``), and what sinks learn about it (a
``Stream``): the contract between sources, the pipeline and sinks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass
class Frame:
    image: np.ndarray  # BGR uint8, HxWx3; handlers may draw on it
    index: int  # position in the source (gaps on live sources are dropped frames)
    source: str
    timestamp: float  # time.monotonic() when the frame was captured or decoded
    time_ms: float | None = None  # position in a video file (its own timestamps, so a
    # variable frame rate is kept), None for pictures and live sources


class Source:
    """What the pipeline reads: iterate for every frame (files) or ``read`` the newest (live)."""

    uri: str = ""
    live: bool = False
    total: int | None = None  # frames, when known
    fps: float | None = None
    size: tuple[int, int] | None = None  # (width, height)
    dropped: int = 0
    reconnects: int = 0
    attempts: int = 0  # attempts to reopen it that have ended, well or not
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


def source_kind(source: Source) -> str:
    """"live" (newest frame), "images" (one picture per frame) or "video" (every frame)."""
    if source.live:
        return "live"
    return "images" if getattr(source, "pictures", False) else "video"


@dataclass(frozen=True)
class Stream:
    """One source as sinks see it: plain data, so a sink never holds the source itself.

    ``index`` is the source's place among the run's inputs: outputs that must follow the
    order the inputs were given (JSON lines) sort by it, whatever order streams finish in.
    """

    uri: str
    index: int = 0
    kind: str = "video"  # live, video, images
    fps: float | None = None
    size: tuple[int, int] | None = None
    total: int | None = None

    @classmethod
    def of(cls, source: Source, index: int = 0) -> Stream:
        return cls(source.uri, index, source_kind(source), source.fps, source.size,
                   source.total)
