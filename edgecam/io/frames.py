"""What every source gives (frames) and is (a ``Source``): the contract between sources and
the pipeline."""

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
