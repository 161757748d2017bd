"""Where a clone keeps its working files (``models/``, ``calibration/``): here when this
directory has them, else in the clone edgecam runs from, so a command typed in another
directory finds the models and profiles made in the clone instead of starting afresh."""

from __future__ import annotations

import os
from pathlib import Path

CLONE = Path(__file__).resolve().parents[2]  # the repository root of a clone (editable install)


def working_dir(relative: str | Path, env: str | None = None) -> Path:
    """``$env`` when set; else ``./relative`` when it exists here; else the clone's when it
    has one; else ``./relative`` (made on first use)."""
    if env and os.environ.get(env):
        return Path(os.environ[env])
    here = Path(relative)
    if here.is_dir():
        return here
    clone = CLONE / relative
    if (CLONE / "pyproject.toml").is_file() and clone.is_dir():
        return clone
    return here
