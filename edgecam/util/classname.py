"""The one rule for a class name, which ``edgecam capture``, the preview's capture button and
``edgecam train`` (for the class folders it reads) all apply: a name that can be a folder of
``DIR/LABEL/`` on any file system edgecam writes to, and one line of a report, of the overlay
and of a JSON answer."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from edgecam.util.atomic import NAME_MAX
from edgecam.util.errors import EdgecamError

# control characters and line/paragraph separators: a label is one line of a report, of the
# overlay and of a JSON answer's readers
NOT_IN_A_LINE = ("Cc", "Zl", "Zp")


def check_label(label: str, name_max: int = NAME_MAX) -> str:
    """A class name is a folder name and one line of text: any characters but a path separator
    or a control character (a newline, a tab...), not empty, not ``.``/``..``, not hidden (the
    data set reader skips hidden folders), at most ``name_max`` bytes in UTF-8 (the file
    system's limit for one name: about 85 characters of an Asian script)."""
    name = (label or "").strip()
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise EdgecamError(f"label {_short(label)!r} cannot be a folder name; give a class name "
                           "without '/' (it becomes DIR/LABEL/)")
    if name.startswith("."):
        raise EdgecamError(f"label {_short(label)!r} starts with '.', which makes a hidden "
                           "folder")
    odd = next((c for c in name if unicodedata.category(c) in NOT_IN_A_LINE), None)
    if odd is not None:
        raise EdgecamError(f"label {_short(label)!r} holds a control character ({odd!r}); a "
                           "class name is one line of text")
    if any(unicodedata.category(c) == "Cs" for c in name):
        raise EdgecamError(f"label {_short(label)!r} is not valid UTF-8 text")
    size = len(name.encode("utf-8"))
    if size > name_max:
        raise EdgecamError(f"label {_short(label)!r} is {size} bytes long; a folder name "
                           f"takes at most {name_max} (UTF-8 bytes: about {name_max // 3} "
                           "characters of an Asian script)")
    return name


def _short(label: str) -> str:
    return label if len(label) <= 40 else f"{label[:30]}...({len(label)} characters)"


def class_folders(root: Path) -> list[Path]:
    """The class folders of ``root``, by name (a hidden folder is not a class; none when
    ``root`` is not a folder): what train reads and the preview's capture folder shows."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
