"""The work of one classify run cut into tasks: a video of many frames into ranges, pictures
into groups, each small enough that a lost worker costs little and every worker stays busy."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    """Frames [start, stop) of one video (``stop`` None: to its end), or a group of pictures
    numbered from ``start`` (as a local run numbers them)."""

    number: int  # position in input order: results are delivered in this order
    unit: int  # the input stream it belongs to (classify's units)
    paths: tuple[str, ...]
    pictures: bool
    start: int = 0
    stop: int | None = None


def plan_tasks(units: list[tuple[list[str], bool, int, int | None]], chunk: int) -> list[Task]:
    """``units`` as (paths, pictures, first picture number, video frame count): pictures in
    groups of ``chunk``, each video in ranges of ``chunk`` frames. The last range of a video
    runs to its end, so a frame count the container gets wrong never loses frames."""
    tasks: list[Task] = []
    for unit, (paths, pictures, first, count) in enumerate(units):
        if pictures:
            for i in range(0, len(paths), chunk):
                tasks.append(Task(len(tasks), unit, tuple(paths[i:i + chunk]), True, first + i))
            continue
        starts = list(range(0, count or 1, chunk))
        for k, start in enumerate(starts):
            stop = starts[k + 1] if k + 1 < len(starts) else None
            tasks.append(Task(len(tasks), unit, (paths[0],), False, start, stop))
    return tasks
