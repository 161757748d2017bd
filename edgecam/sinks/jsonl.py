"""JSON lines: one object per result, ``{"frame", "source", "top"}``.

To a file it is written under a temporary name and renamed into place when the run ends
(``classify``), or, for a live run, grown in place one whole line per write so it can be
tailed; a live run appends to the lines already there (a restarted service keeps its
history) and says so once, from the file's tail only (a start costs the same after a month of
history). A grown file follows log rotation: when its path no longer names the open file
(moved or removed: logrotate's default, no signal needed) the next line goes to a new file at
the path; a file truncated in place (``copytruncate``) is written on from its new end. To
``-`` it goes to stdout. Lines follow the order the inputs were given, even when files run
side by side: a later input's lines wait until every earlier input has ended.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING

from edgecam.sinks.base import Sink
from edgecam.sinks.staging import is_special
from edgecam.util.atomic import Staged
from edgecam.util.errors import EdgecamError, reason, shown

if TYPE_CHECKING:
    from edgecam.pipeline.loop import Result
    from edgecam.sources.frames import Stream


log = logging.getLogger(__name__)

TAIL = 1 << 16  # bytes of an existing file read at the start: its last line, and an estimate


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
        self._staged: Staged | None = None
        self._file: IO[str] | None = None
        self._fd: int | None = None  # in place: one os.write per line
        self._identity: tuple[int, int] | None = None  # (device, inode) of the open file
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
                    self._staged = Staged(self.path)
                    self._staged.create()
                    self._file = self._staged.file("w", encoding="utf-8")
                self._file.write(text)
        except OSError as exc:
            self._fail(exc)
        self.lines += 1

    def _append(self, data: bytes) -> None:
        """One whole line per write; a line cut short (a full disk) is cut off again."""
        assert self.path is not None  # not stdout
        if self._fd is not None and not self._names_open_file():
            self._reopen()
        if self._fd is None:
            self._open_in_place()
        assert self._fd is not None
        try:
            written = os.write(self._fd, data)
            if written != len(data):
                raise OSError(28, os.strerror(28))
        except OSError:
            if not is_special(self.path):
                os.ftruncate(self._fd, self._size)
            raise
        self._size += len(data)

    def _open_in_place(self) -> None:
        """Open for appending (never emptied: what earlier runs wrote stays), locked against a
        second run; a file that already holds lines gets one line saying so, and a last line
        cut short (a power cut) is ended so the new lines start whole."""
        assert self.path is not None  # not stdout
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise EdgecamError(f"cannot write {shown(self.path)}: another run is writing it") \
                from None
        self._fd = fd
        if is_special(self.path):
            return
        st = os.fstat(fd)
        self._identity, self._size = (st.st_dev, st.st_ino), st.st_size
        if self._size:
            lines, last = _tail_lines(self.path, self._size)
            log.info("appending to %s after %s line%s earlier runs wrote", shown(self.path),
                     lines, "" if lines == "1" else "s")
            if last != b"\n":
                self._size += os.write(fd, b"\n")

    def _names_open_file(self) -> bool:
        """Whether the path still names the file being grown (a stat per line: a few
        microseconds, against a frame's milliseconds). A file truncated in place is written on
        from its new end."""
        if self._identity is None:  # a device: never rotated
            return True
        assert self.path is not None  # not stdout
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        except OSError:
            return True  # cannot tell: keep writing where we are
        if (st.st_dev, st.st_ino) != self._identity:
            return False
        self._size = min(self._size, st.st_size)  # copytruncate
        return True

    def _let_go(self) -> str:
        """Close the file the path no longer names; where it is now, as a phrase."""
        assert self._fd is not None
        try:
            where = os.readlink(f"/proc/self/fd/{self._fd}")
        except OSError:
            where = ""
        os.close(self._fd)
        self._fd, self._identity = None, None
        if not where or where.endswith(" (deleted)"):
            return "removed (or moved away)"
        return f"moved to {shown(where)}"

    def _reopen(self) -> None:
        """Log rotation moved or removed the file: the next line starts a new one."""
        assert self.path is not None  # not stdout
        log.info("%s was %s; new lines go to a new %s", shown(self.path), self._let_go(),
                 shown(self.path))

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
                if self._names_open_file():
                    os.close(self._fd)
                    self._fd = None
                    self.written.append(str(self.path))
                else:  # rotated after the last line: the summary names no file that is gone
                    assert self.path is not None  # not stdout
                    log.info("%s was %s after the run's last line", shown(self.path),
                             self._let_go())
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


def _tail_lines(path: Path, size: int) -> tuple[str, bytes]:
    """(how many lines the file's first ``size`` bytes hold, its last byte) from its last
    ``TAIL`` bytes only: the count is exact for a file that small, else an estimate ("about N")
    from the tail's lines."""
    start = max(0, size - TAIL)
    try:
        with open(path, "rb") as f:
            f.seek(start)
            tail = f.read(size - start)
    except OSError:  # a file we may append to but not read
        return "the", b"\n"
    last = tail[-1:]
    count = tail.count(b"\n") + (last not in (b"", b"\n"))
    if start == 0:
        return str(count), last
    per_line = len(tail) / max(1, tail.count(b"\n"))
    return f"about {round(size / per_line):,}", last
