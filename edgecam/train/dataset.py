"""A data set folder: one sub-folder per class (or ``train/`` and ``val/``, each with one
sub-folder per class), read into labelled file lists with a stratified validation split.

A sub-folder named ``unknown`` (or ``--unknown DIR``) is not a class: its pictures are "anything
else", label ``UNKNOWN``, which the classifier learns to be unsure of and the rejection rule is
calibrated against.

Every picture is decoded once here, so an unreadable file is skipped (and listed) before the
split is drawn, and the fingerprint covers the exact bytes that were trained on. Consecutive
frames of a capture stay on one side of the split (``edgecam.train.stretches``). No torch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edgecam.runtime.unknown import UNKNOWN as UNKNOWN_ANSWER
from edgecam.sources.media import is_image_path, media_kind, too_large
from edgecam.train.stretches import ClassSplit, look, split_class, split_line
from edgecam.util.classname import check_label, class_folders
from edgecam.util.errors import EdgecamError

UNKNOWN = -1  # the label of the unknown folder's pictures
UNKNOWN_FOLDER = UNKNOWN_ANSWER  # the folder is named like the answer its pictures should get


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int  # an index into ``DataSet.classes``, or UNKNOWN


@dataclass
class DataSet:
    """Labelled pictures split into train and validation; ``classes[i]`` is label ``i``."""

    root: Path
    classes: list[str]
    train: list[Sample]
    val: list[Sample]
    layout: str  # "folders" (split drawn here) or "train/val" (the user's split)
    fingerprint: str  # sha256 over (class, relative path, file sha256) of every used picture
    skipped: list[str] = field(default_factory=list)  # unreadable files, relative paths
    # why a skipped file was not read, when it is more than "not a picture" (too large)
    reasons: dict[str, str] = field(default_factory=dict)
    # videos and animations, which train does not read: class folder -> their paths
    videos: dict[Path, list[Path]] = field(default_factory=dict)
    # validation pictures that are byte copies of training pictures: (val, train) relative paths
    duplicates: list[tuple[str, str]] = field(default_factory=list)

    unknown: Path | None = None  # where the "anything else" pictures came from
    # the classes (and unknown pictures) of consecutive frames, split by stretches
    splits: list[ClassSplit] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.root.resolve().name

    def count_unknown(self, samples: list[Sample]) -> int:
        return sum(s.label == UNKNOWN for s in samples)

    def notes(self) -> list[str]:
        """What was not read, one line each: unreadable pictures (and why, when known), and
        videos or animations per class with how to make pictures of them."""
        lines = []
        if self.skipped:
            shown = ", ".join(f"{p} ({self.reasons[p]})" if p in self.reasons else p
                              for p in self.skipped[:5])
            lines.append(f"skipped {len(self.skipped)} unreadable picture(s): {shown}"
                         + (" ..." if len(self.skipped) > 5 else ""))
        return lines + [f"not read: {videos_hint(folder, videos, self.root)}"
                        for folder, videos in self.videos.items()]

    def describe(self) -> dict:
        """The JSON block a report and the model metadata carry."""
        return {
            "name": self.name, "path": str(self.root), "layout": self.layout,
            "classes": len(self.classes),
            "train_images": len(self.train) - self.count_unknown(self.train),
            "val_images": len(self.val) - self.count_unknown(self.val),
            "fingerprint": self.fingerprint,
            "unknown": str(self.unknown) if self.unknown else None,
            "unknown_train_images": self.count_unknown(self.train),
            "unknown_val_images": self.count_unknown(self.val),
            "skipped": len(self.skipped), "skipped_files": self.skipped,
            "videos_not_read": [relative(p, self.root) for found in self.videos.values()
                                for p in found],
            "val_copies_of_train": len(self.duplicates),
            "split": self.split_description(),
        }

    def split_note(self) -> str | None:
        """The line that says frames were kept together (None: a random or the user's split)."""
        return split_line(self.splits, len(self.classes) + (self.unknown is not None))

    def split_description(self) -> dict:
        """How the validation pictures were chosen."""
        if self.layout == "train/val":
            return {"by": "folders", "classes": [], "note": None}
        return {"by": "stretches" if self.splits else "random",
                "classes": [s.to_json() for s in self.splits], "note": self.split_note()}


def relative(path: Path, root: Path) -> str:
    """``path`` as it is named in reports and caches: below ``root`` if it is (the unknown
    folder may be elsewhere)."""
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def _media(folder: Path) -> dict[Path, str | None]:
    """The files under ``folder`` (hidden ones aside), in order, with what they are
    ("image", "video" or None)."""
    return {p: media_kind(str(p)) for p in sorted(folder.rglob("*")) if p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(folder).parts)}


def _readable(path: Path) -> tuple[str | None, str, np.ndarray | None]:
    """(sha256, "", ``look``) of a file that decodes as a picture; else (None, why when it is
    more than unreadable: too large to decode, refused from its header, None)."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError:
        return None, "", None
    why = too_large(data)
    if why is not None:
        return None, why, None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        return None, "", None
    return hashlib.sha256(data.tobytes()).hexdigest(), "", look(image)


@dataclass
class _Scan:
    """What reading the folders found besides the pictures kept: the fingerprint, each kept
    picture's sha256 (the copies check) and look (which pictures are near copies of their
    neighbours), the files skipped (and why), the videos and animations not read."""

    root: Path
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    shas: dict[Path, str] = field(default_factory=dict)
    looks: dict[Path, np.ndarray] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    videos: dict[Path, list[Path]] = field(default_factory=dict)

    def collect(self, folders: dict[str, Path]) -> dict[str, list[Path]]:
        """The readable pictures of each folder, by its class name."""
        out: dict[str, list[Path]] = {}
        for name, folder in folders.items():
            found = _media(folder)
            videos = [p for p, kind in found.items() if kind == "video"]
            if videos:
                self.videos[folder] = videos
            good = []
            for path in (p for p, kind in found.items() if kind == "image"):
                rel = relative(path, self.root)
                sha, why, seen = _readable(path)
                if sha is None or seen is None:
                    self.skipped.append(rel)
                    if why:
                        self.reasons[rel] = why
                    continue
                self.digest.update(f"{name}\t{rel}\t{sha}\n".encode())
                self.shas[path], self.looks[path] = sha, seen
                good.append(path)
            out[name] = good
        return out

    def hint(self, folder: Path) -> str:
        """The videos of a class folder short of pictures, named, and what to do (empty when
        it has none)."""
        videos = self.videos.get(folder)
        return f"; it also holds {videos_hint(folder, videos, self.root)}" if videos else ""


def videos_hint(folder: Path, videos: list[Path], root: Path, shown: int = 3) -> str:
    """The videos and animations of a class folder, which train does not read, and the
    command that saves their frames as pictures in that folder."""
    names = [relative(p, root) for p in videos]
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return (f"{len(videos)} video(s) or animation(s), which train does not read ("
            f"{', '.join(names[:shown])}{more}): save their frames as pictures with "
            f"`edgecam capture --source VIDEO --label {folder.name} --out {folder.parent}`")


def check_names(classes: list[str], root: Path) -> None:
    """A class folder's name becomes its label's text, in the model and drawn on frames: the
    one rule for a class name (``util.classname``), and a name that is not valid UTF-8 (a
    Latin-1 name from an old system) named as a terminal shows it."""
    for name in classes:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            shown = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            raise EdgecamError(f"class folder {shown!r} in {root} has a name that is not valid "
                               "UTF-8, and it would be its label's text: rename it in "
                               "UTF-8") from None
        try:
            check_label(name)
        except EdgecamError as exc:
            raise EdgecamError(f"{exc} (a class folder of {root}); rename the folder") from None


def check_folder(root: str | Path) -> Path:
    """The data set argument names a folder (said before torch loads, so a typo costs no
    seconds)."""
    root = Path(root)
    if root.is_file():
        raise EdgecamError(f"{root} is a file; give the data set folder (one sub-folder of "
                           "pictures per class)")
    if not root.is_dir():
        raise EdgecamError(f"data set folder not found: {root}")
    return root


def _unknown_dirs(root: Path, split_dirs: bool, unknown: Path | None
                  ) -> tuple[Path | None, dict[str, Path], dict[str, Path]]:
    """(the unknown pictures' folder, its train side, its val side); the val side is empty
    when the split is drawn here, the train side may be (pictures to check the rule against
    only)."""
    own = [root / side / UNKNOWN_FOLDER for side in ("train", "val")] if split_dirs else [
        root / UNKNOWN_FOLDER]
    if unknown is not None:
        if not unknown.is_dir():
            raise EdgecamError(f"--unknown folder not found: {unknown}")
        given, data = unknown.resolve(), root.resolve()
        if given == data or data.is_relative_to(given):
            raise EdgecamError(f"--unknown {unknown} holds the data set {root}; give a folder "
                               "of pictures of anything else beside it")
        inside = [p for p in own if p.is_dir() and p.resolve() == given]
        if given.is_relative_to(data) and not inside:
            raise EdgecamError(
                f"--unknown {unknown} is inside the data set {root}, where its pictures would "
                f"also be a class: move it out, or name it {UNKNOWN_FOLDER}/ there")
        others = [p for p in own if p.is_dir() and p.resolve() != given]
        if others:
            raise EdgecamError(f"both --unknown {unknown} and {others[0]} hold pictures of "
                               "anything else; give one")
        return given, {UNKNOWN_FOLDER: given}, {}
    tr, va = (own[0], own[1]) if split_dirs else (own[0], None)
    train = {UNKNOWN_FOLDER: tr} if tr.is_dir() else {}
    val = {UNKNOWN_FOLDER: va} if va is not None and va.is_dir() else {}
    folder = tr if tr.is_dir() else va if val else None
    return folder, train, val


def read_dataset(root: str | Path, val_split: float = 0.2, seed: int = 0,
                 unknown: Path | None = None) -> DataSet:
    """Scan ``root``; fewer than two classes or a class with fewer than two usable pictures is
    a user error that names the class. An ``unknown`` sub-folder or ``unknown`` (a folder of
    pictures anywhere) adds "anything else" pictures, split like a class."""
    root = Path(root)
    check_folder(root)
    if not 0.0 < val_split < 1.0:
        raise EdgecamError(f"--val-split must be between 0 and 1, got {val_split}")
    split_dirs = (root / "train").is_dir() and (root / "val").is_dir()
    if split_dirs:
        train_dirs = {p.name: p for p in class_folders(root / "train")}
        val_dirs = {p.name: p for p in class_folders(root / "val")}
        train_dirs.pop(UNKNOWN_FOLDER, None)
        val_dirs.pop(UNKNOWN_FOLDER, None)
        extra = sorted(set(val_dirs) - set(train_dirs))
        if extra:
            raise EdgecamError(f"{root}/val has class {extra[0]!r} that {root}/train lacks")
    else:
        train_dirs = {p.name: p for p in class_folders(root)}
        train_dirs.pop(UNKNOWN_FOLDER, None)
    classes = sorted(train_dirs)
    check_names(classes, root)
    if len(classes) < 2:
        where = f"{root}/train" if split_dirs else str(root)
        if not classes and any(p.is_file() and is_image_path(p.name) for p in root.iterdir()):
            raise EdgecamError(
                f"{where} holds pictures, not class folders: give the folder above it (one "
                "sub-folder of pictures per class, named by its label)")
        besides = f" besides {UNKNOWN_FOLDER}/ (pictures of anything else)" if (
            (root / "train" if split_dirs else root) / UNKNOWN_FOLDER).is_dir() else ""
        raise EdgecamError(
            f"{where} has {len(classes)} class folder(s){besides}; training needs at least two "
            "(one sub-folder of pictures per class, named by its label)")

    scan = _Scan(root)
    train_files = scan.collect(train_dirs)
    val_files = scan.collect(val_dirs) if split_dirs else {}
    rng = np.random.default_rng(seed)
    train: list[Sample] = []
    val: list[Sample] = []
    splits: list[ClassSplit] = []
    for label, name in enumerate(classes):
        if split_dirs:
            tr, va = train_files[name], val_files.get(name, [])
            if not tr or not va:
                side = "train" if not tr else "val"
                raise EdgecamError(
                    f"class {name!r} has no readable pictures in {root / side}; each class "
                    "needs at least one in train/ and one in val/"
                    + scan.hint(root / side / name))
        else:
            files = train_files[name]
            if len(files) < 2:
                raise EdgecamError(
                    f"class {name!r} has {len(files)} readable picture(s) in {root / name}; "
                    "each class needs at least two (one to train on, one to validate)"
                    + scan.hint(root / name))
            tr, va, how = split_class(name, files, scan.looks, val_split, rng)
            splits += [how] if how else []
        train += [Sample(p, label) for p in tr]
        val += [Sample(p, label) for p in va]
    unknown_dir, unknown_train, unknown_val = _unknown_dirs(root, split_dirs, unknown)
    if unknown_dir is not None:
        tr, va, how = _unknown_split(unknown_dir, unknown_train, unknown_val, scan, val_split,
                                     rng)
        train += [Sample(p, UNKNOWN) for p in tr]
        val += [Sample(p, UNKNOWN) for p in va]
        splits += [how] if how else []
    return DataSet(root, classes, train, val, "train/val" if split_dirs else "folders",
                   scan.digest.hexdigest(), scan.skipped, scan.reasons, scan.videos,
                   _duplicates(train, val, scan.shas, root), unknown_dir, splits)


def _unknown_split(folder: Path, train_dirs: dict[str, Path], val_dirs: dict[str, Path],
                   scan: _Scan, val_split: float, rng: np.random.Generator
                   ) -> tuple[list[Path], list[Path], ClassSplit | None]:
    """The unknown pictures' train and validation sides (named below the data set when they
    are in it, else by their absolute path), and how frames among them were split."""
    tr = scan.collect(train_dirs).get(UNKNOWN_FOLDER, [])
    if val_dirs:
        return tr, scan.collect(val_dirs)[UNKNOWN_FOLDER], None
    if len(tr) < 2:
        raise EdgecamError(
            f"the unknown folder {folder} has {len(tr)} readable picture(s); it needs at least "
            "two (one to train on, one to calibrate the rejection with)"
            + scan.hint(folder))
    return split_class(UNKNOWN_FOLDER, tr, scan.looks, val_split, rng)


def _duplicates(train: list[Sample], val: list[Sample], shas: dict[Path, str], root: Path
                ) -> list[tuple[str, str]]:
    """Validation pictures whose bytes are a training picture's: scored on what it learned
    from, they make the validation accuracy say nothing about new pictures."""
    seen = {shas[s.path]: s.path for s in train}
    return [(relative(v.path, root), relative(seen[shas[v.path]], root))
            for v in val if shas[v.path] in seen]
