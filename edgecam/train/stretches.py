"""Consecutive frames among a class's pictures, and a validation split that keeps them together.

Frames of one capture are near copies of their neighbours. A random split puts a frame in
validation and its neighbour, nearly the same picture, in training, and the validation accuracy
then tells how well the model recognises what it was shown, not how it does on new pictures
(a clip gave "validation accuracy 100.0% of 20" that way). Two kinds of names say pictures are
frames:

- ``edgecam capture`` and the preview's capture button name theirs ``DATE-TIME-PID-COUNTER``
  (``edgecam.sinks.labelled``): one process is one session, cut into stretches where its clock
  paused more than ``PAUSE_S``;
- numbered names (``frame_0001.jpg``: a video tool's frames, a camera's burst) most of whose
  neighbours in the numbering are near copies (``NEAR``): a stretch is a run of near copies.

Every other picture is a stretch of its own. When no stretch holds two pictures, the split is
the random one it always was. Otherwise whole stretches are held out (chosen at random with the
seed, up to the validation share); when no choice comes near the share (one capture per class,
say), the latest frames of the class are, so one boundary at most has neighbours on both sides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

PAUSE_S = 60.0  # a capture session that paused longer than this starts a new stretch
NEAR = 0.04  # mean absolute difference (0..1) of two LOOK_PX grey thumbnails: a near copy
LOOK_PX = 32
CAPTURE_NAME = re.compile(r"^(\d{8}-\d{6})-(\d+)-(\d+)$")  # LabelFolder.save's names
NUMBERED = re.compile(r"^(.*?)(\d+)$")


def look(image: np.ndarray) -> np.ndarray:
    """What near copies share: a small grey thumbnail (noise and JPEG artefacts average
    out, a moved object or a new scene does not), 1 KB a picture."""
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.resize(grey, (LOOK_PX, LOOK_PX), interpolation=cv2.INTER_AREA)


def near_copies(a: np.ndarray, b: np.ndarray) -> bool:
    return float(np.abs(a.astype(np.int16) - b).mean()) / 255.0 < NEAR


def _captured(path: Path) -> tuple[int, float, int] | None:
    """(process id, time, counter) of a picture ``LabelFolder`` named, else None."""
    m = CAPTURE_NAME.match(path.stem)
    if m is None:
        return None
    try:
        when = datetime.strptime(m[1], "%Y%m%d-%H%M%S").timestamp()
    except ValueError:  # digits in that shape, but no time
        return None
    return int(m[2]), when, int(m[3])


def _capture_stretches(files: list[Path]) -> list[list[Path]]:
    """Captured pictures, one session per process, cut where the clock paused (or the
    counter went back: a process id used again), the earliest first."""
    keyed = []
    for path in files:
        key = _captured(path)
        assert key is not None  # only capture names come here
        keyed.append((path.parent, *key, path))
    keyed.sort(key=lambda k: k[:4])
    out: list[tuple[float, list[Path]]] = []
    last = None
    for folder, pid, when, count, path in keyed:
        if (last is None or (folder, pid) != last[:2] or when - last[2] > PAUSE_S
                or count <= last[3]):
            out.append((when, []))
        out[-1][1].append(path)
        last = (folder, pid, when, count)
    return [paths for _, paths in sorted(out, key=lambda s: s[0])]


def _numbered_stretches(files: list[Path], looks: dict[Path, np.ndarray]) -> list[list[Path]]:
    """Numbered pictures (one series per folder and name prefix) are frames when most
    neighbours in the numbering are near copies (one close pair is chance: two alike digits);
    a stretch is then a run of near copies. Other series are a picture per stretch."""
    series: dict[tuple[Path, str], list[tuple[int, Path]]] = {}
    for path in files:
        m = NUMBERED.match(path.stem)
        assert m is not None  # only numbered names come here
        series.setdefault((path.parent, m[1]), []).append((int(m[2]), path))
    out: list[list[Path]] = []
    for key in sorted(series):
        paths = [p for _, p in sorted(series[key])]
        near = [near_copies(looks[a], looks[b]) for a, b in zip(paths, paths[1:])]
        if 2 * sum(near) <= len(near):
            out += [[p] for p in paths]
            continue
        out.append(paths[:1])
        for path, joined in zip(paths[1:], near):
            if not joined:
                out.append([])
            out[-1].append(path)
    return out


def stretches(files: list[Path], looks: dict[Path, np.ndarray]) -> list[list[Path]]:
    """A class's pictures as stretches of consecutive frames, in capture order; a picture that
    is no frame of anything is a stretch of its own (those come first)."""
    captured = [p for p in files if _captured(p) is not None]
    numbered = [p for p in files if _captured(p) is None and NUMBERED.match(p.stem)]
    framed = _numbered_stretches(numbered, looks) + _capture_stretches(captured)
    taken = {p for s in framed if len(s) > 1 for p in s}
    singles = sorted(p for p in files if p not in taken)
    return [[p] for p in singles] + [s for s in framed if len(s) > 1]


@dataclass(frozen=True)
class ClassSplit:
    """How one class of frames was split (the report's ``split.classes`` entries)."""

    name: str
    stretches: int  # stretches of two or more frames
    held_whole: int  # of those, held out whole (separate pictures may be held out beside)
    latest: int  # frames held out as the class's latest, when whole stretches could not be

    def to_json(self) -> dict:
        return {"class": self.name, "stretches": self.stretches,
                "held_out_whole": self.held_whole, "latest_frames_held_out": self.latest}


def val_count(n: int, fraction: float) -> int:
    """Validation pictures of a class of ``n``: at least one on each side, else the share."""
    return min(n - 1, max(1, int(round(n * fraction))))


def random_split(files: list[Path], fraction: float, rng: np.random.Generator
                 ) -> tuple[list[Path], list[Path]]:
    """Pictures that are not frames: drawn at random."""
    order = rng.permutation(len(files))
    n_val = val_count(len(files), fraction)
    return [files[i] for i in sorted(order[n_val:])], [files[i] for i in sorted(order[:n_val])]


def _whole(groups: list[list[Path]], n_val: int, rng: np.random.Generator) -> list[int]:
    """Stretches drawn at random until they make ``n_val`` pictures, none taking the held-out
    share past 1.5 times it (or the training side to nothing); [] when they cannot make half
    of it."""
    total = sum(len(g) for g in groups)
    limit = min(total - 1, max(1, int(n_val * 1.5)))
    held, size = [], 0
    for i in rng.permutation(len(groups)):
        if size + len(groups[i]) <= limit:
            held.append(int(i))
            size += len(groups[i])
        if size >= n_val:
            break
    return sorted(held) if 2 * size >= n_val else []


def split_class(name: str, files: list[Path], looks: dict[Path, np.ndarray], fraction: float,
                rng: np.random.Generator) -> tuple[list[Path], list[Path], ClassSplit | None]:
    """(training pictures, validation pictures, how frames were split: None when the class has
    none and the split was drawn at random)."""
    groups = stretches(files, looks)
    runs = sum(len(g) > 1 for g in groups)
    if not runs:
        train, val = random_split(files, fraction, rng)
        return train, val, None
    n_val = val_count(len(files), fraction)
    held = _whole(groups, n_val, rng)
    if held:
        val = sorted(p for i in held for p in groups[i])
        how = ClassSplit(name, runs, sum(len(groups[i]) > 1 for i in held), 0)
    else:
        val = [p for g in groups for p in g][-n_val:]
        how = ClassSplit(name, runs, 0, n_val)
    chosen = set(val)
    return sorted(p for p in files if p not in chosen), sorted(val), how


def split_line(splits: list[ClassSplit], folders: int) -> str | None:
    """The line ``train`` says about a split that kept frames together (None: no folder had
    frames); ``folders``: the classes and the unknown folder, if any."""
    if not splits:
        return None
    parts = []
    whole = [s for s in splits if not s.latest]
    latest = [s for s in splits if s.latest]
    if whole:
        held = sum(s.held_whole for s in whole)
        runs = sum(s.stretches for s in whole)
        parts.append(f"{held} of {runs} capture stretches held out whole ({_names(whole)})")
    if latest:
        each = ", ".join(f"{s.latest} of {s.name!r}" for s in latest[:4])
        more = f" and {len(latest) - 4} more" if len(latest) > 4 else ""
        parts.append(f"the latest frames held out ({each}{more}): too few stretches to hold "
                     "out whole ones")
    rest = folders - len(splits)
    if rest:
        parts.append(f"{rest} folder{'s' if rest != 1 else ''} of separate pictures split at "
                     "random")
    return ("validation: frames of a capture kept on one side (a random split would put near "
            "copies on both sides and overstate accuracy): " + "; ".join(parts))


def _names(splits: list[ClassSplit]) -> str:
    names = [repr(s.name) for s in splits]
    return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
