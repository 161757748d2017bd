"""Putting a finished file in place: written beside its destination under a temporary name,
then renamed, so a reader (or a crash) never sees half a file. ``mkstemp`` makes owner-only
files; a model or weights file is given the permissions any new file would get, so a service
running as another user can read it."""

from __future__ import annotations

import os
from pathlib import Path

_UMASK = os.umask(0o022)
os.umask(_UMASK)


def publish(tmp: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """chmod ``tmp`` to 0666 minus the umask and rename it over ``dest``."""
    os.chmod(tmp, 0o666 & ~_UMASK)
    os.replace(tmp, dest)
    return Path(dest)
