"""A small progress bar for long work (downloads, files, tuning) on stderr, and a spinner for
work that cannot count its steps (exporting a model).

Both draw only when stderr is a terminal, so logs, pipes and CI stay clean; the bar costs
nothing per step beyond a time check.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from typing import TextIO

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


def _fmt_time(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60:d}:{seconds % 60:02d}"


class Progress:
    """``with Progress(total, "frames") as bar: bar.update(1)`` — done/total, rate and ETA."""

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
        self._last_draw = 0.0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.start
        return self.n / elapsed if elapsed > 0 else 0.0

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.enabled:
            now = time.monotonic()
            if now - self._last_draw >= 0.1 or (self.total is not None and self.n >= self.total):
                self._last_draw = now
                self._draw()

    def line(self) -> str:
        """The text of the bar (also used by tests)."""
        done = self.n * self.scale
        rate = self.rate * self.scale
        head = f"{self.desc}: " if self.desc else ""
        if self.total:
            frac = min(1.0, self.n / self.total)
            width = 24
            filled = int(frac * width)
            bar = "#" * filled + "-" * (width - filled)
            eta = (self.total - self.n) / self.rate if self.rate > 0 else 0.0
            total = self.total * self.scale
            return (f"{head}[{bar}] {done:.0f}/{total:.0f} {self.scale_unit} "
                    f"{rate:.1f} {self.scale_unit}/s ETA {_fmt_time(eta)}")
        return f"{head}{done:.0f} {self.scale_unit} {rate:.1f} {self.scale_unit}/s"

    def _draw(self) -> None:
        self.stream.write("\r" + self.line() + "\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
            self.enabled = False
