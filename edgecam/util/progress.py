"""Progress on stderr for long work (downloads, files, tuning) and a spinner for work that
cannot count its steps (exporting a model), both drawn by rich.

Both draw only when stderr is a terminal, so logs, pipes and CI stay clean.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any, TextIO

log = logging.getLogger(__name__)


@contextlib.contextmanager
def working(what: str, stream: TextIO | None = None) -> Iterator[None]:
    """Say what is going on for the length of the block: a rich spinner with the elapsed time
    on a terminal, else one log line (``edgecam: ...`` from the CLI)."""
    stream = stream or sys.stderr
    if not stream.isatty():
        log.info("%s...", what)
        yield
        return
    from rich.console import Console

    console = Console(file=stream)
    started = time.monotonic()
    with console.status(f"{what}..."):
        yield
    console.print(f"edgecam: {what}: done in {time.monotonic() - started:.0f} s",
                  highlight=False, markup=False)


class Progress:
    """``with Progress(total, "frames") as bar: bar.update(1)``: done/total, rate and time left,
    drawn by rich on stderr while it is a terminal (``enabled`` forces it on or off).
    ``update`` may be called from several threads."""

    def __init__(self, total: int | None, unit: str = "it", desc: str = "",
                 stream: TextIO | None = None, enabled: bool | None = None,
                 scale: float = 1.0, scale_unit: str | None = None) -> None:
        self.total = total
        self.unit = unit
        self.desc = desc
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.scale = scale  # e.g. 1/2**20 to show bytes as MiB
        self.scale_unit = scale_unit or unit
        self.n = 0
        self.start = time.monotonic()
        self._bar: Any = None
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as Bars

            self._bar = Bars(TextColumn("{task.description}"), BarColumn(),
                             TextColumn("{task.fields[done]}"), TextColumn("{task.fields[rate]}"),
                             TimeRemainingColumn(), console=Console(file=self.stream),
                             refresh_per_second=8)
            self._bar.start()
            self._task = self._bar.add_task(desc, total=total, **self._fields())

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.start
        return self.n / elapsed if elapsed > 0 else 0.0

    def _fields(self) -> dict[str, str]:
        unit = self.scale_unit
        done = f"{self.n * self.scale:.0f}"
        if self.total:
            done += f"/{self.total * self.scale:.0f}"
        return {"done": f"{done} {unit}", "rate": f"{self.rate * self.scale:.1f} {unit}/s"}

    def update(self, n: int = 1) -> None:
        self.n += n
        if self._bar is not None:
            self._bar.update(self._task, completed=self.n, **self._fields())

    def close(self) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=self.n, **self._fields())
            self._bar.stop()
            self._bar = None
        self.enabled = False
