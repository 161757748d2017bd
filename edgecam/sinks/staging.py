"""Files that appear at their final path only when whole.

A file is written under a temporary name beside its destination,
``.NAME.edgecam-partial-PID-RANDOM.EXT`` (same directory, so the final rename is atomic; same
extension, so OpenCV picks the same container; created with ``O_EXCL | O_NOFOLLOW`` under a
name nobody can guess, so a link planted in a shared folder is never followed), flushed to
disk and renamed over the destination when complete. After SIGKILL or a power cut the
destination holds the previous file or nothing; the temporary stays behind, recognizable by
its name, and the next run writing there mentions it. The writer holds an
exclusive ``flock`` on its temporary while it works, so a temporary of a run still going is
not mistaken for a leftover.
"""

from __future__ import annotations

import fcntl
import logging
import os
import stat
from pathlib import Path

from edgecam.util.errors import EdgecamError
from edgecam.util.safewrite import check_writable, create_exclusive, reason, shown

__all__ = ["MARK", "StagedFile", "check_writable", "is_special", "mention_leftovers", "reason"]

log = logging.getLogger(__name__)

MARK = ".edgecam-partial-"


def is_special(path: Path) -> bool:
    """A device or FIFO (``/dev/null``, ``/dev/stdout``): written in place, never renamed over."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _held(path: Path) -> bool:
    """Whether a running edgecam holds ``path`` (its flock)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def mention_leftovers(folder: Path, final: Path | None = None) -> list[Path]:
    """Say which temporaries of interrupted runs lie in ``folder`` (those for ``final`` only,
    when given); they are kept: a JSON lines temporary holds the lines written so far."""
    pattern = f".{final.stem}{MARK}*{final.suffix}" if final is not None else f".*{MARK}*"
    try:
        found = sorted(folder.glob(pattern))
    except OSError:
        return []
    left = []
    for path in found:
        if _held(path):
            log.warning("warning: another edgecam run is writing %s now (%s); the one that "
                        "finishes last wins", final or folder, path.name)
        else:
            left.append(path)
    if left:
        names = ", ".join(str(p) for p in left[:3]) + (" ..." if len(left) > 3 else "")
        log.warning("warning: left by an interrupted run, incomplete (delete when not needed): %s",
                    names)
    return left


class StagedFile:
    """``create`` the temporary, write to ``temp``, then ``commit`` (fsync + rename) or
    ``discard``."""

    def __init__(self, final: str | os.PathLike) -> None:
        self.final = Path(final)
        self.temp = self.final  # the temporary's name is known once ``create`` made it
        self._made = False
        self._lock: int | None = None

    def create(self) -> Path:
        """Make the temporary (a new file of this run's own, never through a link)."""
        try:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            fd, self.temp = create_exclusive(
                self.final.parent, f".{self.final.stem}{MARK}{os.getpid()}-", self.final.suffix)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise EdgecamError(f"cannot write {shown(self.final)}: {reason(exc)}") from None
        self._lock, self._made = fd, True
        return self.temp

    def commit(self) -> Path:
        """Put the finished file in place; on failure the temporary is removed and the
        destination untouched."""
        try:
            if self._lock is not None:
                os.fsync(self._lock)
            os.replace(self.temp, self.final)
            self._made = False
        except OSError as exc:
            self.discard()
            raise EdgecamError(f"cannot write {shown(self.final)}: {reason(exc)}") from None
        self._release()
        _sync_dir(self.final.parent)
        return self.final

    def discard(self) -> None:
        if self._made:
            self._made = False
            try:
                self.temp.unlink()
            except FileNotFoundError:
                pass
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None


def _sync_dir(folder: Path) -> None:
    """Make the rename itself survive a power cut."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
