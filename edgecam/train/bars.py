"""Training's progress bars (rich, on stderr, only on a terminal): pictures embedded per
resolution, then epochs with the loss and the validation accuracy."""

from __future__ import annotations

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


class TrainBars:
    """``with TrainBars() as bars:`` then ``bars.start(...)``, ``bars.advance(n)``,
    ``bars.epoch(e)``. Silent (and free) when stderr is not a terminal."""

    def __init__(self, enabled: bool | None = None) -> None:
        console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=console, disable=not (console.is_terminal if enabled is None else enabled),
        )
        self.task: TaskID | None = None

    def __enter__(self) -> TrainBars:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def start(self, description: str, total: int, unit: str) -> None:
        self.task = self.progress.add_task(description, total=total, info=unit)

    def advance(self, n: int) -> None:
        if self.task is not None:
            self.progress.advance(self.task, n)

    def epoch(self, e: Epoch) -> None:
        if self.task is not None:
            self.progress.update(
                self.task, completed=e.epoch,
                info=f"epoch {e.epoch} loss {e.loss:.3f} val acc {e.val_accuracy:.1%}")
