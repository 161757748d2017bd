"""What a classify run is made of, wherever it runs (here or on a Dask cluster): its inputs cut
into streams (``Unit``), their frame count for the progress bar, and the summary a ``Tally``
fills from the results."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field

import cv2

from edgecam.pipeline.result import Result
from edgecam.runtime.postprocess import Prediction
from edgecam.runtime.unknown import UNKNOWN
from edgecam.sinks.base import Sink
from edgecam.sources.factory import is_image_path, open_source
from edgecam.sources.files import FileListSource, Skip
from edgecam.sources.frames import Source
from edgecam.util.cvpath import video_capture
from edgecam.util.errors import EdgecamError
from edgecam.util.progress import Progress

log = logging.getLogger(__name__)


@dataclass
class ClassifySummary:
    files: int = 0
    frames: int = 0
    seconds: float = 0.0
    model: str = ""
    outputs: list[str] = field(default_factory=list)
    top1: dict[str, Counter] = field(default_factory=dict)  # per source: answer counts
    # per source: the first frame's top-k and whether it was answered "unknown"
    first: dict[str, tuple[list[Prediction], bool]] = field(default_factory=dict)
    pictures: int = 0  # of ``files``
    interrupted: int = 0  # exit code when a signal ended the run
    jobs: int = 1
    threads: int = 1
    skipped: list[str] = field(default_factory=list)  # unreadable files passed over

    @property
    def exit_code(self) -> int:
        """A signal's code; else 1 when a file was skipped, so scripts notice; else 0."""
        return self.interrupted or (1 if self.skipped else 0)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def answers(self, scores: bool) -> list[str]:
        """Each input's answer, one line each ("photo.jpg: tabby"); with ``scores`` (a person
        reads it) each picture's top-k with its scores."""
        return [f"{source}: {answer_line(counts, *self.first[source], scores)}"
                for source, counts in self.top1.items()]

    def closing(self) -> list[str]:
        """What the run did, for stderr."""
        lines = [f"classified {self.work()} with {self.model}"
                 + (f"; skipped {len(self.skipped)} unreadable file(s)" if self.skipped else "")
                 + (f"; wrote {', '.join(self.outputs)}" if self.outputs else "")]
        if self.interrupted:
            lines.append("edgecam: interrupted; outputs were closed cleanly")
        return lines

    def work(self) -> str:
        """"3 pictures in 0.2 s (15.0 per second)", "1 picture in 0.05 s" or "240 frames from
        2 file(s) in 6.0 s (40.0 FPS)": what a run did, in the words that fit its inputs."""
        if self.files and self.pictures == self.files:
            n = self.frames
            what = f"{n} picture{'s' if n != 1 else ''} in {self.seconds:.2f} s"
            return what + (f" ({self.fps:.1f} per second)" if n > 1 else "")
        return (f"{self.frames} frames from {self.files} file(s) in {self.seconds:.1f} s "
                f"({self.fps:.1f} FPS)")


def answer_line(counts: Counter, top: list[Prediction], unknown: bool, scores: bool) -> str:
    """What classify says about one input: "gate open", with ``scores`` "gate open 97.0%, gate
    closed 2.1%" or "unknown (best: gate open 61.0%, gate closed 30.2%)"; a video's most
    frequent answer with its count of frames ("gate open (40/45 frames; 5 unknown)")."""
    label, n = counts.most_common(1)[0]
    total = sum(counts.values())
    if total > 1:
        also = f"; {counts[UNKNOWN]} {UNKNOWN}" if label != UNKNOWN and counts[UNKNOWN] else ""
        return f"{label} ({n}/{total} frames{also})"
    if not scores:
        return label
    best = ", ".join(f"{p.label} {p.score:.1%}" for p in top)
    return f"{UNKNOWN} (best: {best})" if unknown else best


def video_frame_count(path: str) -> int | None:
    cap = video_capture(path)
    try:
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    finally:
        cap.release()
    return n if n > 0 else None


def total_frames(files: list[str], videos: list[str]) -> int | None:
    """Frames of the whole run for the progress bar, when every video states its count."""
    totals = [video_frame_count(v) for v in videos]
    return len(files) - len(videos) + sum(t or 0 for t in totals) if all(totals) else None


@dataclass
class Unit:
    """One stream of the run: a video, or pictures given one after another."""

    paths: list[str]
    first_picture: int = 0  # pictures are numbered across the whole run

    @property
    def pictures(self) -> bool:
        return is_image_path(self.paths[0])

    @property
    def uri(self) -> str:
        return "images" if self.pictures else self.paths[0]

    def open(self, on_skip: Skip | None = None) -> Source:
        if self.pictures:
            return FileListSource(self.paths, "images", self.first_picture, on_skip)
        return open_source(self.paths[0])


class Skipped:
    """Unreadable files of a run over many files: each is named in one line as it is met and
    counted in the summary; the rest of the run goes on."""

    def __init__(self, summary: ClassifySummary) -> None:
        self.summary = summary
        self.lock = threading.Lock()

    def __call__(self, path: str, error: EdgecamError) -> None:
        with self.lock:
            self.summary.skipped.append(path)
        why = str(error).removeprefix(f"{path} is ").replace(f" {path}", "").strip(": ")
        log.warning("skipped %s: %s", path, why)


def plan_units(files: list[str]) -> list[Unit]:
    """Inputs in the order given: consecutive pictures share a stream, each video has one."""
    units: list[Unit] = []
    pictures = 0
    for path in files:
        if is_image_path(path) and units and units[-1].pictures:
            units[-1].paths.append(path)
        else:
            units.append(Unit([path], pictures))
        pictures += is_image_path(path)
    return units


class Tally(Sink):
    """Answer counts per source ("unknown" among them) for the summary, and the progress
    bar."""

    def __init__(self, summary: ClassifySummary, bar: Progress) -> None:
        super().__init__()
        self.summary = summary
        self.bar = bar
        self.lock = threading.Lock()

    def write(self, result: Result) -> None:
        with self.lock:
            # a run of regions answers per region: "clip.mp4 gate: open (40/45 frames)"
            answers = ([(result.frame.source, r.top, r.unknown, r.label)
                        for r in result.regions if r.top] if result.whole else
                       [(f"{result.frame.source} {r.name}", r.top, r.unknown, r.label)
                        for r in result.regions])
            for key, top, unknown, label in answers:
                self.summary.top1.setdefault(key, Counter())[label] += 1
                self.summary.first.setdefault(key, (top, unknown))
            self.summary.frames += 1
            self.bar.update(1)
