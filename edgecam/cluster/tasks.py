"""The work of one classify run cut into tasks: a video of many frames into ranges, images
into groups, each small enough that a lost worker costs little and every worker stays busy."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    """Frames [start, stop) of one video (``stop`` None: to its end), or a group of images
    numbered from ``start`` (as a local run numbers pictures)."""

    number: int  # position in input order: results are written in this order
    file_no: int  # 0 for images, then one per video
    paths: tuple[str, ...]
    start: int = 0
    stop: int | None = None

    @property
    def images(self) -> bool:
        return self.file_no == 0


def plan_tasks(videos: list[tuple[str, int | None]], images: list[str], chunk: int
               ) -> list[Task]:
    """Images first (as a local run orders them), in groups of ``chunk``, then each video in
    ranges of ``chunk`` frames; the last range of a video runs to its end, so a frame count
    the container gets wrong never loses frames."""
    tasks: list[Task] = []
    for i in range(0, len(images), chunk):
        tasks.append(Task(len(tasks), 0, tuple(images[i:i + chunk]), i))
    for file_no, (path, count) in enumerate(videos, start=1):
        starts = list(range(0, count or 1, chunk))
        for k, start in enumerate(starts):
            stop = starts[k + 1] if k + 1 < len(starts) else None
            tasks.append(Task(len(tasks), file_no, (path,), start, stop))
    return tasks
