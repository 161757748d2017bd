"""Ctrl-C, SIGTERM and SIGHUP as a stop request: the loop finishes the frame it is on, sinks
close (videos are finalized, JSON lines end whole, train keeps the best model so far), and the
exit code says which signal ended it (130, 143, 129).

SIGHUP is what a terminal sends when it goes away (a dropped SSH session): the run ends the way
SIGTERM ends it, never with its outputs lost. It never means "reopen the logs": a live JSON
lines file follows log rotation by itself (``edgecam.sinks.jsonl``), so logrotate needs no
signal. A run started under ``nohup`` (SIGHUP ignored) keeps ignoring it: it outlives its
terminal, as asked. A second Ctrl-C raises KeyboardInterrupt at once, for a user who really
wants out.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

STOPS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class EndOfRun(Exception):  # noqa: N818 - a request, not an error
    """Raised by a sink's ``write`` to end the run after this frame (the user closed the
    window, a measurement has its frames): the pipeline sets its stop flag, the other sinks
    still get the result, and the run ends cleanly with exit code 0."""


class StopFlag:
    """``with StopFlag() as stop: while not stop.is_set(): ...`` then ``stop.exit_code``."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None
        self._previous: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {}

    def is_set(self) -> bool:
        return self.event.is_set()

    def set(self) -> None:
        self.event.set()

    @property
    def exit_code(self) -> int:
        """0 when nothing interrupted the run, else 128 + the signal number (130, 143, 129)."""
        return 128 + self.signum if self.signum else 0

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.event.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum
        self.event.set()

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in STOPS:
                if sig == signal.SIGHUP and signal.getsignal(sig) == signal.SIG_IGN:
                    continue  # started under nohup: the run outlives its terminal
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
