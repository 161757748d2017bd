"""``edgecam classify``: every frame of videos, images, directories and globs, in order, to an
annotated video or image directory and JSON lines."""

from __future__ import annotations

import functools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from edgecam.commands.classify_units import (
    ClassifySummary,
    Skipped,
    Tally,
    Unit,
    plan_units,
    total_frames,
)
from edgecam.commands.options import ClassifyOptions
from edgecam.run.driver import ModelSpec, OutputSpec, Run
from edgecam.runtime.batchsize import MEASURED_NOW, choose_batch
from edgecam.runtime.engine import Engine
from edgecam.sinks.base import SinkOptions
from edgecam.sources.factory import expand_inputs
from edgecam.sources.files import Skip
from edgecam.sources.frames import Source
from edgecam.sources.media import set_max_pixels
from edgecam.util.errors import EdgecamError
from edgecam.util.progress import Progress

__all__ = ["ClassifyOptions", "ClassifySummary", "classify_inputs"]

log = logging.getLogger(__name__)


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


def plan_jobs(jobs: int | None, threads: int, videos: int, workers: int | None = None) -> Plan:
    """The default: one inference per thread, spread over the videos first (``threads``: the
    checked options' count)."""
    if jobs is None:
        jobs = min(threads, videos) if videos > 1 else 1
    jobs = max(1, min(jobs, max(videos, 1)))
    per_job = max(1, threads // jobs)
    workers = min(workers or per_job, per_job)
    return Plan(jobs, workers, max(1, per_job // workers))


def classify_unit(run: Run, index: int, unit: Unit, batch: int = 1, workers: int = 1,
                  on_skip: Skip | None = None) -> int:
    """One input (a video, or pictures in a row) through its own pipeline (its own buffers
    and smoothing, the shared session) to the run's sinks. With ``on_skip`` an unreadable
    file is handed to it and the run goes on."""

    def open_unit() -> Source | None:
        try:
            return unit.open(on_skip)
        except EdgecamError as exc:
            if on_skip is None:
                raise
            on_skip(unit.paths[0], exc)
            return None

    with run.opened(open_unit, uri=unit.uri, index=index) as (source, stream):
        if source is None:
            return 0
        return run.feed(source, stream=stream, batch=batch, workers=workers)


def _measured_batch(engine: Engine, plan: Plan, total: int | None) -> int:
    """Frames per call for this model and plan: measured once on this device, remembered."""
    choice = choose_batch(engine, plan.jobs * plan.workers, total)
    if choice.how == MEASURED_NOW:  # once per model and plan: the second it cost
        log.info("%s", choice.describe())
    return choice.size


def classify_inputs(opts: ClassifyOptions) -> ClassifySummary:
    """Run every input through the model; sinks are closed (videos finalized, JSON lines
    whole) however the run ends."""
    set_max_pixels(opts.max_pixels)
    files = expand_inputs(opts.inputs)
    units = plan_units(files)
    if opts.cluster:
        from edgecam.commands.classify_cluster import classify_on_cluster

        return classify_on_cluster(opts, files, units)
    videos = [u.paths[0] for u in units if not u.pictures]
    assert opts.threads is not None  # the options defaulted it (a local run)
    plan = plan_jobs(opts.jobs, opts.threads, len(videos), opts.workers)
    run = Run(ModelSpec(model=opts.model, threads=plan.threads, provider=opts.provider,
                        spin=False, top_k=opts.top_k, threshold=opts.threshold,
                        regions=tuple(opts.regions), hold=opts.hold, labels=opts.labels),
              OutputSpec(output=opts.output, json_out=opts.json_out, mqtt=opts.mqtt,
                         events=opts.events, uris=opts.sinks,
                         options=SinkOptions(inputs=files, events_keep=opts.events_keep)))
    engine = run.engine
    summary = ClassifySummary(files=len(files), model=engine.meta.name, jobs=plan.jobs,
                              threads=engine.threads,
                              pictures=sum(len(u.paths) for u in units if u.pictures))
    total = total_frames(files, videos)
    batch = opts.batch or _measured_batch(engine, plan, total)
    started = time.monotonic()
    counted = "pictures" if summary.pictures == len(files) else "frames"
    with Progress(total, counted, desc="classify", enabled=opts.progress) as bar:
        run.add(Tally(summary, bar))
        with run:
            # in a run over many files an unreadable one is named, counted and passed over
            skip = Skipped(summary) if len(files) > 1 else None
            unit_run = functools.partial(classify_unit, run, batch=batch,
                                         workers=plan.workers, on_skip=skip)
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
