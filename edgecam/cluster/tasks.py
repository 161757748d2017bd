"""The work of one classify run cut into tasks: a video of many frames into ranges, pictures
into groups, each small enough that a lost worker costs little and every worker stays busy."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

FileCheck = tuple[int, str]
CHECK_BYTES = 1 << 20


@dataclass(frozen=True)
class Task:
    """Frames [start, stop) of one video (``stop`` None: to its end), or a group of pictures
    numbered from ``start`` (as a local run numbers them)."""

    number: int  # position in input order: results are delivered in this order
    unit: int  # the input stream it belongs to (classify's units)
    paths: tuple[str, ...]  # as the worker opens them (absolute on a real cluster)
    pictures: bool
    start: int = 0
    stop: int | None = None
    # per path, what the client sees there (size, sha256 of the first MB): the worker checks
    # that it reads the same file; empty: not checked
    checks: tuple[FileCheck, ...] = ()


def file_check(path: str) -> FileCheck:
    """A file's size and the sha256 of its first MB: cheap, and enough to tell a different file
    of the same name (another clip, another day's picture) from the one the client means."""
    with open(path, "rb") as f:
        head = f.read(CHECK_BYTES)
        size = os.fstat(f.fileno()).st_size
    return size, hashlib.sha256(head).hexdigest()


def plan_tasks(units: list[tuple[list[str], bool, int, int | None]], chunk: int,
               checks: dict[str, FileCheck] | None = None) -> list[Task]:
    """``units`` as (paths, pictures, first picture number, video frame count): pictures in
    groups of ``chunk``, each video in ranges of ``chunk`` frames. The last range of a video
    runs to its end, so a frame count the container gets wrong never loses frames. ``checks``
    (per path) go with the tasks for the workers to verify."""
    tasks: list[Task] = []

    def checked(paths: list[str]) -> tuple[FileCheck, ...]:
        return tuple(checks[p] for p in paths) if checks else ()

    for unit, (paths, pictures, first, count) in enumerate(units):
        if pictures:
            for i in range(0, len(paths), chunk):
                group = paths[i:i + chunk]
                tasks.append(Task(len(tasks), unit, tuple(group), True, first + i,
                                  checks=checked(group)))
            continue
        starts = list(range(0, count or 1, chunk))
        for k, start in enumerate(starts):
            stop = starts[k + 1] if k + 1 < len(starts) else None
            tasks.append(Task(len(tasks), unit, (paths[0],), False, start, stop,
                              checks=checked(paths[:1])))
    return tasks
