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
from edgecam.models.store import resolve_model
from edgecam.pipeline.model import Model
from edgecam.runtime.engine import Engine
from edgecam.runtime.unknown import rejection_for
from edgecam.sinks.base import SinkOptions
from edgecam.sinks.factory import flag_sinks
from edgecam.sinks.outputs import Outputs
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
    if opts.mqtt:
        raise EdgecamError("--mqtt is not available with --cluster (results arrive in bulk); "
                           "use --json-out")
    if opts.labels:
        raise EdgecamError("--labels is not available with --cluster (the workers read the "
                           "model's own metadata): add it to the file, as "
                           "docs/foreign-models.md shows")
    model_path = resolve_model(opts.model)
    engine = Engine(model_path, 1)  # checked here, before any worker sees it
    rejection_for(engine.meta, opts.threshold)  # as a local run: --threshold's labels too
    sinks = flag_sinks(SinkOptions(inputs=files, model=engine.meta.name,
                                   model_file=str(model_path)),
                       output=opts.output, json_out=opts.json_out, uris=opts.sinks)
    videos = [u.paths[0] for u in units if not u.pictures]
    counts = {v: video_frame_count(v) for v in videos}
    names = {os.path.abspath(f): f for f in files}  # what the worker opens -> the user's name
    checks = {}
    for path in names:
        try:
            checks[path] = file_check(path)
        except OSError as exc:
            raise EdgecamError(f"cannot read {names[path]}: {exc.strerror or exc}") from None
    tasks = plan_tasks([([os.path.abspath(p) for p in u.paths], u.pictures, u.first_picture,
                         None if u.pictures else counts[u.paths[0]]) for u in units],
                       opts.chunk or CHUNK_FRAMES, checks)
    total = total_frames(files, videos)
    summary = ClassifySummary(files=len(files), model=engine.meta.name, jobs=0,
                              threads=opts.threads or 0,
                              pictures=sum(len(u.paths) for u in units if u.pictures))
    skip = Skipped(summary) if len(files) > 1 else None
    assert opts.cluster is not None  # only called with --cluster
    client = connect(opts.cluster)
    started = time.monotonic()
    outputs: Outputs | None = None
    try:
        summary.jobs = len(client.scheduler_info().get("workers", {}))
        with Progress(total, "frames", desc="classify", enabled=opts.progress) as bar, \
                Outputs([*sinks, Tally(summary, bar)]) as outputs:
            frames = outputs.enter(contextlib.closing(ClientFrames(outputs.overlay)))
            results = outputs.enter(contextlib.closing(results_in_order(
                client, model_bytes(model_path), tasks,
                TaskSettings(opts.batch or 1, opts.threads, opts.max_pixels, skip is not None),
                outputs.stop.is_set)))
            expected: dict[int, int] = {}
            for number, group in itertools.groupby(results, key=lambda item: item[0].unit):
                deliver_unit(outputs, engine, opts, units[number], number, group, frames,
                             expected, names, skip)
    except NoWorkersLeft as exc:
        raise EdgecamError(f"{exc}: {summary.frames} of {total or 'all the'} frames were "
                           "classified; " + (f"wrote {', '.join(outputs.written)}"
                                             if outputs is not None and outputs.written
                                             else "nothing was written")) from None
    finally:
        client.close()
    summary.seconds = time.monotonic() - started
    summary.outputs = outputs.written
    summary.interrupted = outputs.exit_code
    return summary


def deliver_unit(outputs: Outputs, engine: Engine, opts: ClassifyOptions, unit: Unit,
                 number: int, group: Iterable[tuple[Task, TaskResult]], frames: ClientFrames,
                 expected: dict[int, int], names: dict[str, str], skip: Skipped | None
                 ) -> None:
    """One input's results (its tasks, in order) to the sinks, under the user's names; files
    a worker passed over as unreadable are named and counted here."""
    group = list(group)
    for _, result in group:
        for path, why in result.skipped:
            if skip is not None:
                skip(names.get(path, path), EdgecamError(why.replace(path, names.get(path, path))))
    if not any(result.frames for _, result in group) and any(r.skipped for _, r in group):
        outputs.failed(unit.uri, number)  # nothing readable in it: nothing is waited for
        return
    # opened here for what a local run tells the sinks; the workers named what they skipped
    with unit.open(None if skip is None else lambda path, exc: None) as source:
        stream = Stream.of(source, number)
    with outputs.streaming(stream):
        pipeline = outputs.pipeline(Model(engine, opts.top_k, opts.threshold))
        pipeline.attach(stream)
        for task, result in group:
            delivered = [(i, names.get(src, src), ms) for i, src, ms in result.frames]
            check_sequence(task, delivered, expected)
            if delivered:
                for classified in pipeline.deliver(
                        [frames(task, *f) for f in delivered], result.logits, result.ms):
                    outputs.write(classified)
