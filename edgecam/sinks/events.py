"""Events: every region's state change as one line of ``DIR/events.jsonl`` and a JPEG snapshot
beside it (the whole frame with the region's box drawn, and the region's crop at its side).

A line is written whole or not at all (one ``write`` of the whole line, cut back to the line
before when the disk fills mid-line), then flushed to disk: a camera that loses power keeps
every event it reported. Snapshots are whole files (written beside, then renamed). The folder
is bounded: at most ``keep`` snapshots, and never below ``MIN_FREE`` of the disk free: the
oldest snapshots go first; the lines stay (a line whose snapshot was removed still says
what happened).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edgecam.pipeline.overlay import draw_regions
from edgecam.sinks.base import Sink
from edgecam.util.atomic import write_whole
from edgecam.util.errors import CannotWrite, EdgecamError, shown
from edgecam.util.safewrite import check_writable

if TYPE_CHECKING:
    from edgecam.pipeline.result import RegionResult, Result

log = logging.getLogger(__name__)

EVENTS = "events.jsonl"
MIN_FREE = 0.05  # share of the disk a snapshot never takes the last of
SNAPSHOT = re.compile(r"^\d{8}T\d{6}-.*\.jpg$")


def snapshot_image(frame: np.ndarray, region: RegionResult) -> np.ndarray:
    """The frame with the region's box drawn, and the region's crop scaled to the frame's
    height beside it: what happened, and where, in one picture."""
    picture = frame.copy()
    draw_regions(picture, [region])
    if region.box is None:
        return picture
    x, y, w, h = region.box
    crop = frame[y:y + h, x:x + w]
    height = picture.shape[0]
    width = max(1, round(w * height / max(1, h)))
    side = cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.hstack([picture, side])


def snapshot_jpeg(result: Result, region: RegionResult, quality: int) -> bytes | None:
    """A change's snapshot as JPEG bytes (``snapshot_image`` of the frame as the camera gave
    it): what the events folder saves and Home Assistant's image entity shows."""
    image = result.raw if result.raw is not None else result.frame.image
    ok, jpeg = cv2.imencode(".jpg", snapshot_image(image, region),
                            [cv2.IMWRITE_JPEG_QUALITY, quality])
    return jpeg.tobytes() if ok else None


def event_record(result: Result, region: RegionResult, now: float | None = None,
                 snapshot: str | None = None) -> dict:
    """One event as ``events.jsonl`` and MQTT carry it: the region, its state before (None for
    its first) and after, the score, the frame, when (ISO 8601), the snapshot's file name,
    and since when the new label held (the source's seconds)."""
    change = region.change
    assert change is not None  # only changes are events
    return {"region": region.name, "from": change.before, "to": change.after,
            "score": round(region.top[0].score, 5), "frame": result.frame.index,
            "time": iso(time.time() if now is None else now), "snapshot": snapshot,
            "source": result.frame.source, "model": result.stats.model,
            "since": round(change.since, 3)}


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).astimezone().isoformat(timespec="milliseconds")


class EventsSink(Sink):
    """``EventsSink(folder, keep)``: the state changes of every result, as lines and
    snapshots."""

    needs_raw = True  # snapshots show the frame as the camera gave it

    def __init__(self, folder: str, keep: int = 1000, quality: int = 90) -> None:
        super().__init__()
        self.uri = folder
        self.folder = Path(folder)
        self.keep = keep
        self.quality = quality
        self.events = 0
        self._fd: int | None = None
        self._lock = threading.Lock()
        self._snapshots: list[Path] = []
        self._said_full = False
        if self.folder.exists() and not self.folder.is_dir():
            raise EdgecamError(f"--events {shown(folder)} is not a directory")
        check_writable(self.folder / EVENTS)

    def targets(self) -> list[str]:
        return [str(self.folder / EVENTS)]

    def _open(self) -> int:
        if self._fd is None:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.folder / EVENTS,
                                   os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise CannotWrite(self.folder / EVENTS, exc) from None
            self._snapshots = sorted((p for p in self.folder.iterdir() if SNAPSHOT.match(p.name)),
                                     key=lambda p: p.name)
            self.written.append(str(self.folder / EVENTS))
        return self._fd

    def write(self, result: Result) -> None:
        changes = result.changes
        if not changes:
            return
        with self._lock:
            fd = self._open()
            for region in changes:
                self._event(fd, result, region)

    def _event(self, fd: int, result: Result, region: RegionResult) -> None:
        now = time.time()
        record = event_record(result, region, now, self._snapshot(result, region, now))
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode()
        self._append(fd, line)
        self.events += 1

    def _append(self, fd: int, line: bytes) -> None:
        """One whole line or none: a short write (a full disk) is cut back."""
        before = os.fstat(fd).st_size
        try:
            if os.write(fd, line) != len(line):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            os.fsync(fd)
        except OSError as exc:
            os.ftruncate(fd, before)
            raise CannotWrite(self.folder / EVENTS, exc) from None

    def _snapshot(self, result: Result, region: RegionResult, now: float) -> str | None:
        jpeg = snapshot_jpeg(result, region, self.quality)
        if jpeg is None:
            return None
        stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(now))
        name = f"{stamp}-{result.frame.index:08d}-{_safe(region.name)}.jpg"
        if not self._make_room(len(jpeg)):
            return None
        try:
            write_whole(self.folder / name, jpeg)
        except EdgecamError as exc:
            self._full(str(exc))
            return None
        self._snapshots.append(self.folder / name)
        return name

    def _make_room(self, size: int) -> bool:
        """Room for one more snapshot: within ``keep``, and leaving ``MIN_FREE`` of the disk
        free; the oldest go first. False when even an empty folder would not do."""
        while len(self._snapshots) >= self.keep:
            self._remove_oldest()
        while not self._room(size):
            if not self._snapshots:
                self._full(f"less than {MIN_FREE:.0%} of the disk would be left free")
                return False
            self._remove_oldest()
        return True

    def _room(self, size: int) -> bool:
        usage = shutil.disk_usage(self.folder)
        return usage.free - size >= MIN_FREE * usage.total

    def _remove_oldest(self) -> None:
        self._snapshots.pop(0).unlink(missing_ok=True)

    def _full(self, why: str) -> None:
        if not self._said_full:
            self._said_full = True
            log.warning("events: snapshots are left out (%s); the event lines are still "
                        "written", why)

    def close(self, ok: bool) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _safe(name: str) -> str:
    """A region's name as part of a file name."""
    return re.sub(r"[^\w.-]+", "_", name)[:40] or "region"
