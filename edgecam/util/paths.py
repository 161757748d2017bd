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


def install_hint(extra: str, package: str) -> str:
    """The command that installs an optional extra here: the clone's own set-up when edgecam
    runs from a clone's ``.venv`` (what a newcomer ran), pip on the clone from another venv,
    else pip on the package the extra brings (edgecam is installed from a clone, not PyPI)."""
    import sys

    if (CLONE / "pyproject.toml").is_file() and (CLONE / "scripts" / "setup").is_file():
        venv = CLONE / ".venv"
        if Path(sys.prefix).resolve() == venv.resolve():
            return f"cd {CLONE} && ./scripts/setup export,pretrained,{extra}"
        return f"{sys.executable} -m pip install -e '{CLONE}[{extra}]'"
    return f"{sys.executable} -m pip install {package}"
