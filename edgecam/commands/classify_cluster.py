"""``edgecam classify --cluster``: the same inputs, sinks and summary as a local run, the frames
decoded and inferred on a Dask cluster, postprocessed and written here in input order."""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Iterable

from edgecam.cluster.client import (
    ClientFrames,
    NoWorkersLeft,
    check_sequence,
    connect,
    model_bytes,
    results_in_order,
)
from edgecam.cluster.tasks import Task, file_check, plan_tasks
from edgecam.cluster.worker import TaskResult, TaskSettings
from edgecam.commands.classify_units import (
    ClassifySummary,
    Skipped,
    Tally,
    Unit,
    total_frames,
    video_frame_count,
)
from edgecam.commands.options import ClassifyOptions
from edgecam.run.driver import ModelSpec, OutputSpec, Run
from edgecam.sinks.base import SinkOptions
from edgecam.sources.frames import Stream
from edgecam.util.errors import EdgecamError
from edgecam.util.progress import Progress

CHUNK_FRAMES = 240  # frames per task: seconds of work for a worker, little to redo if it dies


def classify_on_cluster(opts: ClassifyOptions, files: list[str], units: list[Unit]
                        ) -> ClassifySummary:
    """Submit every frame to the cluster at ``opts.cluster``; sinks are fed here, in input
    order, and closed however the run ends.

    Workers get absolute paths and, per file, its size and the hash of its first MB: a worker
    that sees another file there (or none) says so instead of classifying it under this
    name."""
    if opts.mqtt:  # results arrive in bulk
        raise EdgecamError("--mqtt is not available with --cluster; use --json-out")
    if opts.labels:
        raise EdgecamError("--labels is not available with --cluster (the workers read the "
                           "model's own metadata): add it to the file, as "
                           "docs/foreign-models.md shows")
    # the model is checked here, before any worker sees it (--threshold's labels too)
    run = Run(ModelSpec(model=opts.model, threads=1, top_k=opts.top_k,
                        threshold=opts.threshold),
              OutputSpec(output=opts.output, json_out=opts.json_out, uris=opts.sinks,
                         options=SinkOptions(inputs=files)))
    engine = run.engine
    names = {os.path.abspath(f): f for f in files}  # what the worker opens -> the user's name
    tasks = cluster_tasks(units, names, opts.chunk or CHUNK_FRAMES)
    total = total_frames(files, [u.paths[0] for u in units if not u.pictures])
    summary = ClassifySummary(files=len(files), model=engine.meta.name, jobs=0,
                              threads=opts.threads or 0,
                              pictures=sum(len(u.paths) for u in units if u.pictures))
    skip = Skipped(summary) if len(files) > 1 else None
    assert opts.cluster is not None  # only called with --cluster
    client = connect(opts.cluster)
    started = time.monotonic()
    try:
        summary.jobs = len(client.scheduler_info().get("workers", {}))
        with Progress(total, "frames", desc="classify", enabled=opts.progress) as bar:
            run.add(Tally(summary, bar))
            with run:
                frames = run.enter(contextlib.closing(ClientFrames(run.overlay)))
                results = run.enter(contextlib.closing(results_in_order(
                    client, model_bytes(engine.path), tasks,
                    TaskSettings(opts.batch or 1, opts.threads, opts.max_pixels,
                                 skip is not None), run.stop.is_set)))
                expected: dict[int, int] = {}
                for number, group in itertools.groupby(results, key=lambda item: item[0].unit):
                    deliver_unit(run, units[number], number, group, frames, expected, names,
                                 skip)
    except NoWorkersLeft as exc:
        raise EdgecamError(f"{exc}: {summary.frames} of {total or 'all the'} frames were "
                           "classified; " + (f"wrote {', '.join(run.written)}" if run.written
                                             else "nothing was written")) from None
    finally:
        client.close()
    summary.seconds = time.monotonic() - started
    summary.outputs = run.written
    summary.interrupted = run.exit_code
    return summary


def cluster_tasks(units: list[Unit], names: dict[str, str], chunk: int) -> list[Task]:
    """The inputs as tasks of ``chunk`` frames, each file with the check a worker makes
    that it reads the same file (``names``: absolute path -> the user's name)."""
    checks = {}
    for path in names:
        try:
            checks[path] = file_check(path)
        except OSError as exc:
            raise EdgecamError(f"cannot read {names[path]}: {exc.strerror or exc}") from None
    counts = {u.paths[0]: video_frame_count(u.paths[0]) for u in units if not u.pictures}
    return plan_tasks([([os.path.abspath(p) for p in u.paths], u.pictures, u.first_picture,
                        None if u.pictures else counts[u.paths[0]]) for u in units],
                      chunk, checks)


def deliver_unit(run: Run, unit: Unit, number: int, group: Iterable[tuple[Task, TaskResult]],
                 frames: ClientFrames, expected: dict[int, int], names: dict[str, str],
                 skip: Skipped | None) -> None:
    """One input's results (its tasks, in order) to the sinks, under the user's names; files
    a worker passed over as unreadable are named and counted here."""
    group = list(group)
    for _, result in group:
        for path, why in result.skipped:
            if skip is not None:
                skip(names.get(path, path), EdgecamError(why.replace(path, names.get(path, path))))
    if not any(result.frames for _, result in group) and any(r.skipped for _, r in group):
        run.failed(unit.uri, number)  # nothing readable in it: nothing is waited for
        return
    # opened here for what a local run tells the sinks; the workers named what they skipped
    with unit.open(None if skip is None else lambda path, exc: None) as source:
        stream = Stream.of(source, number)
    with run.streaming(stream):
        pipeline = run.pipeline().attach(stream)
        for task, result in group:
            delivered = [(i, names.get(src, src), ms) for i, src, ms in result.frames]
            check_sequence(task, delivered, expected)
            if delivered:
                for classified in pipeline.deliver(
                        [frames(task, *f) for f in delivered], [result.logits], result.ms):
                    run.write(classified)
