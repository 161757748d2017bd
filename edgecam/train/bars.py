"""Training's progress: rich bars on stderr (only on a terminal) with the pictures embedded
per resolution, then epochs with the loss and the validation accuracy; and, for a program that
shows it elsewhere (the browser preview's train button), the same steps as JSON lines appended
to a file (``--progress-json``)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from edgecam.train.head import Epoch

EVERY_S = 0.25  # at most this often a JSON line for pictures (epochs: every one)


class TrainBars:
    """``with TrainBars() as bars:`` then ``bars.start(...)``, ``bars.advance(n)``,
    ``bars.epoch(e)``. The bars are silent (and free) when stderr is not a terminal; with
    ``progress`` each step is also one JSON line there: ``{"step", "resolution", "done",
    "total", "unit"}`` (an epoch adds ``loss`` and ``val_accuracy``), flushed at once."""

    def __init__(self, enabled: bool | None = None, progress: Path | None = None) -> None:
        console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=console, disable=not (console.is_terminal if enabled is None else enabled),
        )
        self.task: TaskID | None = None
        self.path = progress
        self._file: IO[str] | None = None
        self._step: dict = {}
        self._said = 0.0

    def __enter__(self) -> TrainBars:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()
        if self._file is not None:
            self._file.close()
            self._file = None

    def start(self, what: str, total: int, unit: str, resolution: int | None = None) -> None:
        description = f"{resolution}px {what}" if resolution is not None else what
        self.task = self.progress.add_task(description, total=total, info=unit)
        self._step = {"step": what, "resolution": resolution, "done": 0, "total": total,
                      "unit": unit}
        self._write(force=True)

    def advance(self, n: int) -> None:
        if self.task is not None:
            self.progress.advance(self.task, n)
        if self._step:
            self._step["done"] += n
            self._write(force=self._step["done"] >= self._step["total"])

    def epoch(self, e: Epoch) -> None:
        if self.task is not None:
            self.progress.update(
                self.task, completed=e.epoch,
                info=f"epoch {e.epoch} loss {e.loss:.3f} val acc {e.val_accuracy:.1%}")
        if self._step:
            self._step.update(done=e.epoch, loss=round(e.loss, 4),
                              val_accuracy=round(e.val_accuracy, 4))
            self._write(force=True)

    def _write(self, force: bool) -> None:
        if self._file is None:
            return
        now = time.monotonic()
        if not force and now - self._said < EVERY_S:
            return
        self._said = now
        self._file.write(json.dumps(self._step) + "\n")
        self._file.flush()
