"""Accuracy on the user's own pictures: top-1 on labelled ``--data`` (one folder per class,
named by the model's labels) and top-1 agreement on unlabelled ``--sample`` footage.

A model with a rejection rule (made by ``edgecam train``) may answer "unknown": that counts as
wrong for a picture of one of its classes and right for a picture of an ``unknown`` folder
(``answer_scores``).

Pictures go through the very pipeline ``classify`` runs (decode, the model's preprocessing from
its metadata, onnxruntime, postprocessing), so a figure here is what ``classify`` gives on the
same folder. Pictures are decoded once and kept; predictions are kept per model file (thread
count does not change them).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgecam.runtime.unknown import UNKNOWN
from edgecam.sources.frames import Frame, Source
from edgecam.sources.media import is_image_path, is_video_path, read_image
from edgecam.util.errors import EdgecamError

if TYPE_CHECKING:
    pass

SAMPLE_FRAMES = 48


class PictureSource(Source):
    """Decoded pictures, handed out in order (re-iterable, no decoding cost per model)."""

    def __init__(self, images: list[np.ndarray], names: list[str], uri: str) -> None:
        self.images, self.names, self.uri = images, names, uri
        self.total: int = len(images)
        self.state = "running"

    def __iter__(self) -> Iterator[Frame]:
        for i, (image, name) in enumerate(zip(self.images, self.names)):
            yield Frame(image.copy(), i, name, time.monotonic())


@dataclass
class LabelledData:
    """``DIR/<label>/<picture>``: the pictures and the label each should get."""

    root: Path
    source: PictureSource
    labels: list[str]  # per picture

    @classmethod
    def load(cls, root: Path) -> LabelledData:
        from edgecam.sources.factory import expand_inputs

        images, names, labels = [], [], []
        folders = sorted(p for p in Path(root).iterdir() if p.is_dir())
        for folder in folders:
            for path in expand_inputs([str(folder)]):
                if is_image_path(path):
                    images.append(read_image(path))
                    names.append(path)
                    labels.append(folder.name)
        if not images:
            raise EdgecamError(f"--data {root} has no pictures in class folders "
                               "(DIR/<label>/<picture>.jpg, folders named by the model's labels)")
        return cls(Path(root), PictureSource(images, names, str(root)), labels)

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels))

    @property
    def unknown(self) -> int:
        """Pictures of a folder named ``unknown``: none of the model's classes."""
        return sum(label == UNKNOWN for label in self.labels)

    @property
    def figure(self) -> str:
        """What ``top1`` measures on these pictures (the tune table and JSON say it)."""
        if self.unknown:
            return ("answered right: % of the pictures answered with their folder's label, "
                    "those of unknown/ answered 'unknown' (what train reports as known recall "
                    "and unknown rejected, in one figure)")
        return "top-1: % of the pictures answered with their folder's label"

    @property
    def chance(self) -> tuple[float, str]:
        """(percent, folder): what the best constant answer scores on these pictures, the
        figure a model that learned nothing reaches. Always answering one label scores its
        folder's share (1/classes when the folders are even, more when one is larger), and
        always answering "unknown" scores the share of ``unknown/``: so chance is the share of
        the largest folder, unknown/ included, in ``top1``'s own terms."""
        counts = Counter(self.labels)
        folder, count = max(sorted(counts.items()), key=lambda item: item[1])
        return round(100.0 * count / len(self.labels), 2), folder

    def check_labels(self, model_labels: list[str], model: str) -> None:
        """Every class folder must name one of the model's labels (else nothing could match);
        ``unknown`` holds pictures of none of them."""
        known = set(model_labels) | {UNKNOWN}
        missing = [c for c in self.classes if c not in known]
        if missing:
            example = ", ".join(repr(x) for x in list(model_labels)[:3])
            raise EdgecamError(
                f"--data folder(s) {', '.join(repr(m) for m in missing[:3])} are not labels of "
                f"{model} (folders must be named by the model's labels, e.g. {example})")

    def right(self, predicted: list[str]) -> tuple[bool, ...]:
        """Per picture, whether its answer counts as right in ``top1`` (its folder's label; for
        a picture of unknown/ that is "unknown"): what two models' scores are compared on."""
        return tuple(answer == want for answer, want in zip(predicted, self.labels))

    def top1(self, predicted: list[str]) -> float:
        """The figure tune ranks on: percent of pictures whose answer is their folder's name
        ("unknown" is wrong for a known picture, right for one of unknown/)."""
        scores = answer_scores(predicted, self.labels)
        return scores.answered_right if self.unknown else scores.top1


@dataclass(frozen=True)
class AnswerScores:
    """How a model's answers (labels or "unknown") fare against the pictures' folders."""

    known: int  # pictures of the model's classes
    correct: int  # of those, answered with their own label ("unknown" is wrong)
    unknown: int  # pictures of an ``unknown`` folder (none of the model's classes)
    rejected: int  # of those, answered "unknown"

    @property
    def top1(self) -> float:
        """Percent of known pictures on their own label."""
        return round(100.0 * self.correct / self.known, 2) if self.known else 0.0

    @property
    def answered_right(self) -> float:
        """Percent of all pictures answered right: known ones on their label, unknown ones
        as "unknown"."""
        total = self.known + self.unknown
        return round(100.0 * (self.correct + self.rejected) / total, 2) if total else 0.0

    @property
    def rejected_share(self) -> float | None:
        """Percent of ``unknown`` pictures answered "unknown" (None: there were none)."""
        return round(100.0 * self.rejected / self.unknown, 2) if self.unknown else None


def answer_scores(answers: list[str], truth: list[str]) -> AnswerScores:
    """Score answers (``Result.label``: a label or "unknown") against each picture's folder
    name: known pictures count when answered with their own label, pictures of a folder named
    ``unknown`` when answered "unknown"."""
    pairs = list(zip(answers, truth))
    known = [answer == want for answer, want in pairs if want != UNKNOWN]
    rejected = [answer == UNKNOWN for answer, want in pairs if want == UNKNOWN]
    return AnswerScores(len(known), sum(known), len(rejected), sum(rejected))


def load_sample(path: Path, count: int = SAMPLE_FRAMES) -> PictureSource:
    """Unlabelled footage: up to ``count`` frames spread over a video, or a directory's
    pictures."""
    from edgecam.sources.factory import expand_inputs
    from edgecam.sources.files import VideoFileSource

    path = Path(path)
    if path.is_file() and is_video_path(str(path)):
        video = VideoFileSource(str(path))
        try:
            frames = [f.image for f in video]
        finally:
            video.close()
        step = max(1, len(frames) // count)
        images = frames[::step][:count]
        names = [f"{path}#{i * step}" for i in range(len(images))]
    else:
        names = [p for p in expand_inputs([str(path)]) if is_image_path(p)][:count]
        images = [read_image(p) for p in names]
    if not images:
        raise EdgecamError(f"--sample {path} has no frames or pictures")
    return PictureSource(images, names, str(path))


def predictions(path: Path, source: PictureSource, threads: int) -> list[tuple[int, str]]:
    """(top-1 class index, answer) for every picture, through the classify pipeline: the
    answer is what classify says, "unknown" when the model's rule rejects the picture."""
    from edgecam.run.predict import predict
    from edgecam.runtime.engine import Engine

    return [(r.top[0].index, str(r.label))
            for r in predict(source, Engine(path, threads), top_k=1)]


def agreement(reference: list[tuple[int, str]], other: list[tuple[int, str]]) -> float:
    """Percent of frames where two models' top-1 classes agree."""
    same = sum(a[0] == b[0] for a, b in zip(reference, other))
    return round(100.0 * same / max(1, len(reference)), 1)
