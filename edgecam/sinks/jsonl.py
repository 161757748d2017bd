"""JSON lines: one object per result, ``{"frame", "source", "top"}``.

To a file it is written under a temporary name and renamed into place when the run ends
(``classify``), or, for a live run, grown in place one whole line per write so it can be
tailed; to ``-`` it goes to stdout. Lines follow the order the inputs were given, even when
files run side by side: a later input's lines wait until every earlier input has ended.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING

from edgecam.sinks.base import Sink
from edgecam.sinks.staging import StagedFile, is_special, reason
from edgecam.util.errors import EdgecamError

if TYPE_CHECKING:
    from edgecam.pipeline.loop import Result
    from edgecam.sources.frames import Stream


def line_of(result: Result) -> str:
    return json.dumps(result.record(), separators=(",", ":")) + "\n"


class JsonLinesSink(Sink):
    """``path`` a file, or ``-`` for stdout; ``grow`` writes in place, flushed per line."""

    def __init__(self, path: str, grow: bool = False) -> None:
        super().__init__()
        self.uri = path
        self.to_stdout = path == "-"
        self.path = None if self.to_stdout else Path(path)
        self.in_place = self.to_stdout or grow or is_special(Path(path))
        self.ordered = not grow  # a live file grows as results come
        self.lines = 0
        self._lock = threading.Lock()
        self._staged: StagedFile | None = None
        self._file: IO[str] | None = None
        self._fd: int | None = None  # in place: one os.write per line
        self._size = 0
        self._pending: dict[int, list[str]] = {}
        self._ended: set[int] = set()
        self._next = 0  # the earliest input whose lines are not all written yet
        self._failed: str | None = None

    def targets(self) -> list[str]:
        return [] if self.path is None or is_special(self.path) else [str(self.path)]

    # -- writing -----------------------------------------------------------------------------

    def write(self, result: Result) -> None:
        index = result.stream.index if result.stream is not None else 0
        text = line_of(result)
        with self._lock:
            if not self.ordered or index <= self._next:
                self._emit(text)
            else:
                self._pending.setdefault(index, []).append(text)

    def end(self, stream: Stream, ok: bool) -> None:
        with self._lock:
            self._ended.add(stream.index)
            while self._next in self._ended:
                self._next += 1
                for text in self._pending.pop(self._next, []):
                    self._emit(text)

    def _emit(self, text: str) -> None:
        if self._failed:
            raise EdgecamError(self._failed)
        try:
            if self.to_stdout:
                sys.stdout.write(text)
                sys.stdout.flush()
            elif self.in_place:
                self._append(text.encode())
            else:
                if self._file is None:
                    assert self.path is not None  # not stdout
                    self._staged = StagedFile(self.path)
                    self._file = open(self._staged.create(), "w", encoding="utf-8")  # noqa: SIM115
                self._file.write(text)
        except OSError as exc:
            self._fail(exc)
        self.lines += 1

    def _append(self, data: bytes) -> None:
        """One whole line per write; a line cut short (a full disk) is cut off again."""
        assert self.path is not None  # not stdout
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o666)
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(self._fd)
                self._fd = None
                raise EdgecamError(f"cannot write {self.path}: another run is writing it") \
                    from None
            if not is_special(self.path):
                os.ftruncate(self._fd, 0)
        try:
            written = os.write(self._fd, data)
            if written != len(data):
                raise OSError(28, os.strerror(28))
        except OSError:
            if not is_special(self.path):
                os.ftruncate(self._fd, self._size)
            raise
        self._size += len(data)

    def _fail(self, exc: OSError) -> None:
        where = "stdout" if self.to_stdout else str(self.path)
        self._failed = f"cannot write {where}: {reason(exc)}"
        self._drop()
        raise EdgecamError(self._failed) from None

    def _drop(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None
        if self._staged is not None:
            self._staged.discard()
            self._staged = None

    # -- the end -----------------------------------------------------------------------------

    def close(self, ok: bool) -> None:
        with self._lock:
            for index in sorted(self._pending):  # inputs that never ended (a failed run)
                for text in self._pending.pop(index):
                    if not self._failed:
                        self._emit(text)
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
                self.written.append(str(self.path))
            if self._file is None:
                return
            try:
                self._file.close()
            except OSError as exc:
                self._file = None
                self._fail(exc)
            self._file = None
            assert self._staged is not None  # made with the file
            self._staged.commit()
            self._staged = None
            self.written.append(str(self.path))
