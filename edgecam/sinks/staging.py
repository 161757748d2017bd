"""Temporaries the sinks find in their output folders: a file an interrupted run was writing
(``edgecam.util.atomic`` names them ``.NAME.edgecam-partial-PID-RANDOM.EXT``) is mentioned by
the next run writing there and kept (a JSON lines temporary holds the lines written so far);
one a running edgecam holds its ``flock`` on is another run's work in progress, said as such.
"""

from __future__ import annotations

import fcntl
import logging
import os
import stat
from pathlib import Path

from edgecam.util.atomic import leftover_glob

log = logging.getLogger(__name__)


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
    pattern = leftover_glob(final)
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
