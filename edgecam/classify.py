"""``edgecam classify``: every frame of videos, images, directories and globs, in order, to an
annotated video or image directory and JSON lines."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2

from edgecam.errors import EdgecamError
from edgecam.io.files import FileListSource
from edgecam.io.sources import expand_inputs, is_image_path, open_source
from edgecam.options import ClassifyOptions
from edgecam.pipeline import Model, Result
from edgecam.progress import Progress
from edgecam.run import Run
from edgecam.runtime.batchsize import MEASURED_NOW, choose_batch
from edgecam.runtime.engine import Engine, check_threads, default_threads
from edgecam.sinks import Sink, SinkOptions
from edgecam.sinks.factory import flag_sinks
from edgecam.store import resolve_model

__all__ = ["ClassifyOptions", "ClassifySummary", "classify"]

log = logging.getLogger(__name__)


@dataclass
class ClassifySummary:
    files: int = 0
    frames: int = 0
    seconds: float = 0.0
    model: str = ""
    outputs: list[str] = field(default_factory=list)
    top1: dict[str, Counter] = field(default_factory=dict)  # per source: top-1 label counts
    interrupted: int = 0  # exit code when a signal ended the run
    jobs: int = 1
    threads: int = 1

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def video_frame_count(path: str) -> int | None:
    cap = cv2.VideoCapture(path)
    try:
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    finally:
        cap.release()
    return n if n > 0 else None


def total_frames(files: list[str], videos: list[str]) -> int | None:
    """Frames of the whole run for the progress bar, when every video states its count."""
    totals = [video_frame_count(v) for v in videos]
    return len(files) - len(videos) + sum(t or 0 for t in totals) if all(totals) else None


@dataclass(frozen=True)
class Plan:
    """How a run spends its threads: ``jobs`` files side by side, each with ``workers``
    inferences at once, each inference on ``threads`` onnxruntime threads.

    Several small inferences side by side, one thread each, use the cores better than one
    inference split over them (no thread waits for another between two convolutions): on a
    2-core x86, two one-thread inferences at once made a whole classify run about 1.3x
    faster than one two-thread inference (benchmarks/classify_vs_bare.py)."""

    jobs: int
    workers: int
    threads: int


def plan_jobs(jobs: int | None, threads: int | None, videos: int,
              workers: int | None = None) -> Plan:
    """The default: one inference per thread, spread over the videos first."""
    if jobs is not None and jobs < 1:
        raise EdgecamError(f"--jobs must be >= 1, got {jobs}")
    if workers is not None and workers < 1:
        raise EdgecamError(f"--workers must be >= 1, got {workers}")
    check_threads(threads)
    cores = threads or default_threads()
    if jobs is None:
        jobs = min(cores, videos) if videos > 1 else 1
    jobs = max(1, min(jobs, max(videos, 1)))
    per_job = max(1, cores // jobs)
    workers = min(workers or per_job, per_job)
    return Plan(jobs, workers, max(1, per_job // workers))


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

    def open(self):
        if self.pictures:
            return FileListSource(self.paths, "images", self.first_picture)
        return open_source(self.paths[0])


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
    """Top-1 counts per source for the summary, and the progress bar."""

    def __init__(self, summary: ClassifySummary, bar: Progress) -> None:
        super().__init__()
        self.summary = summary
        self.bar = bar
        self.lock = threading.Lock()

    def write(self, result: Result) -> None:
        with self.lock:
            if result.top:
                counts = self.summary.top1.setdefault(result.frame.source, Counter())
                counts[result.top[0].label] += 1
            self.summary.frames += 1
            self.bar.update(1)


def classify_unit(run: Run, new_model: Callable[[], Model], index: int, unit: Unit,
                  batch: int = 1, workers: int = 1) -> int:
    """One input (a video, or pictures in a row) through its own pipeline: its own buffers
    and smoothing, the shared session and sinks."""
    return run.stream_input(unit.open, run.pipeline(new_model()), uri=unit.uri, index=index,
                            batch=batch, workers=workers)


def classify(opts: ClassifyOptions) -> ClassifySummary:
    """Run every input through the model; sinks are closed (videos finalized, JSON lines
    whole) however the run ends."""
    files = expand_inputs(opts.inputs)
    units = plan_units(files)
    videos = [u.paths[0] for u in units if not u.pictures]
    plan = plan_jobs(opts.jobs, opts.threads, len(videos), opts.workers)
    if opts.batch is not None and opts.batch < 1:
        raise EdgecamError(f"--batch must be >= 1, got {opts.batch}")
    if opts.cluster:
        from edgecam.cluster.archive import classify_on_cluster

        return classify_on_cluster(opts, files, units)
    engine = Engine(resolve_model(opts.model), plan.threads, opts.provider, spin=False)
    sinks = flag_sinks(SinkOptions(inputs=files, model=engine.meta.name),
                       output=opts.output, json_out=opts.json_out, mqtt=opts.mqtt,
                       uris=opts.sinks)
    summary = ClassifySummary(files=len(files), model=engine.meta.name, jobs=plan.jobs,
                              threads=engine.threads)
    total = total_frames(files, videos)
    batch = opts.batch
    if batch is None:
        choice = choose_batch(engine, plan.jobs * plan.workers, total)
        if choice.how == MEASURED_NOW:  # once per model and plan: the second it cost
            log.info("%s", choice.describe())
        batch = choice.size
    started = time.monotonic()
    new_model = functools.partial(Model, engine, opts.top_k, opts.threshold)
    with Progress(total, "frames", desc="classify", enabled=opts.progress) as bar, \
            Run([*sinks, Tally(summary, bar)]) as run:
        unit_run = functools.partial(classify_unit, run, new_model, batch=batch,
                                     workers=plan.workers)
        if plan.jobs == 1:
            for index, unit in enumerate(units):
                unit_run(index, unit)
        else:
            with ThreadPoolExecutor(plan.jobs, thread_name_prefix="edgecam-file") as pool:
                futures = [pool.submit(unit_run, i, u) for i, u in enumerate(units)]
                for future in futures:
                    future.result()
    summary.seconds = time.monotonic() - started
    summary.outputs = run.written
    summary.interrupted = run.exit_code
    return summary
