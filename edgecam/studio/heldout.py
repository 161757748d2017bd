"""The capture folder split for the studio's training: the newest pictures of each label are
held out, the rest are trained on.

A folder of captures is frames of one camera taken in bursts: pictures taken a second apart are
near copies, so a random split puts copies on both sides and scores the model on what it
learned (the 100%-of-20 that told nothing in the gate trial). Holding out the newest stretch of
each label (by capture time) keeps whole stretches together. The split is hard links in a
folder of the job's own (``train/LABEL`` and ``val/LABEL``, the layout ``edgecam train`` takes
as the user's split), so nothing is copied and the capture folder is never touched; ``train``
validates and calibrates its unknown rule on the held-out side, and ``tune --data`` measures
each size's accuracy on it.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from edgecam.sinks.captures import label_pictures
from edgecam.util.classname import class_folders
from edgecam.util.errors import EdgecamError

HELD_OUT = 0.2  # share of each label's pictures held out (at least one)
MIN_PICTURES = 2  # per label: one to train on, one held out


def pictures(folder: Path) -> list[Path]:
    """A label's pictures, oldest first (by the time they were written, then by name: the
    capture names carry the time and a counter)."""
    return [p for p in reversed(label_pictures(folder)) if p.is_file()]


@dataclass
class Split:
    """Where the split went and how many pictures of each label are on each side."""

    root: Path  # holds train/ and val/
    train: dict[str, int] = field(default_factory=dict)
    held_out: dict[str, int] = field(default_factory=dict)

    @property
    def val(self) -> Path:
        return self.root / "val"


def check_captures(data: Path) -> dict[str, int]:
    """Each label's picture count, refused in one line when training could not start: fewer
    than two labels besides ``unknown``, or a label with fewer than two pictures (a folder
    left empty is no label)."""
    counts = {f.name: n for f in class_folders(data) if (n := len(pictures(f)))}
    classes = [name for name in counts if name != "unknown"]
    if len(classes) < 2:
        raise EdgecamError(f"{data} has {len(classes)} label(s) with pictures; training needs "
                           "at least two (capture pictures of each thing to tell apart)")
    few = [name for name, n in counts.items() if n < MIN_PICTURES]
    if few:
        raise EdgecamError(f"label {few[0]!r} has {counts[few[0]]} picture(s); each needs at "
                           f"least {MIN_PICTURES} (one to train on, one held out to check it)")
    return counts


def split_captures(data: Path, root: Path, share: float = HELD_OUT) -> Split:
    """Link each label's older pictures into ``root/train/LABEL`` and its newest ``share``
    (at least one) into ``root/val/LABEL``; ``root`` is made new."""
    check_captures(data)
    if root.exists():
        shutil.rmtree(root)
    split = Split(root)
    for folder in class_folders(data):
        files = pictures(folder)
        if not files:
            continue
        held = max(1, math.floor(len(files) * share + 0.5))
        for side, part in (("train", files[:-held]), ("val", files[-held:])):
            dest = root / side / folder.name
            dest.mkdir(parents=True, exist_ok=True)
            for path in part:
                _link(path, dest / path.name)
        split.train[folder.name] = len(files) - held
        split.held_out[folder.name] = held
    return split


def _link(src: Path, dest: Path) -> None:
    """A hard link (no copy); a copy where the file system takes none."""
    try:
        os.link(src, dest)
    except OSError:
        try:
            shutil.copy2(src, dest)
        except OSError as exc:
            raise EdgecamError(f"cannot copy {src} for training: {exc.strerror or exc}"
                               ) from None
