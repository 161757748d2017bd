"""``edgecam classify --cluster``: the same inputs, sinks and summary as a local run, the frames
decoded and inferred on a Dask cluster, postprocessed and written here in input order."""

from __future__ import annotations

import contextlib
import itertools
import time

from edgecam.cluster.client import (
    ClientFrames,
    check_sequence,
    connect,
    model_bytes,
    results_in_order,
)
from edgecam.cluster.tasks import plan_tasks
from edgecam.cluster.worker import TaskSettings
from edgecam.commands.classify_units import (
    ClassifySummary,
    Tally,
    Unit,
    total_frames,
    video_frame_count,
)
from edgecam.commands.options import ClassifyOptions
from edgecam.models.store import resolve_model
from edgecam.pipeline.model import Model
from edgecam.runtime.engine import Engine
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
    order, and closed however the run ends."""
    if opts.mqtt:
        raise EdgecamError("--mqtt is not available with --cluster (results arrive in bulk); "
                           "use --json-out")
    model_path = resolve_model(opts.model)
    engine = Engine(model_path, 1)  # checked here, before any worker sees it
    sinks = flag_sinks(SinkOptions(inputs=files, model=engine.meta.name,
                                   model_file=str(model_path)),
                       output=opts.output, json_out=opts.json_out, uris=opts.sinks)
    videos = [u.paths[0] for u in units if not u.pictures]
    counts = {v: video_frame_count(v) for v in videos}
    tasks = plan_tasks([(u.paths, u.pictures, u.first_picture,
                         None if u.pictures else counts[u.paths[0]]) for u in units],
                       opts.chunk or CHUNK_FRAMES)
    summary = ClassifySummary(files=len(files), model=engine.meta.name, jobs=0,
                              threads=opts.threads or 0,
                              pictures=sum(len(u.paths) for u in units if u.pictures))
    assert opts.cluster is not None  # only called with --cluster
    client = connect(opts.cluster)
    started = time.monotonic()
    try:
        summary.jobs = len(client.scheduler_info().get("workers", {}))
        with Progress(total_frames(files, videos), "frames", desc="classify",
                      enabled=opts.progress) as bar, \
                Outputs([*sinks, Tally(summary, bar)]) as outputs:
            frames = outputs.enter(contextlib.closing(ClientFrames(outputs.overlay)))
            results = results_in_order(client, model_bytes(model_path), tasks,
                                       TaskSettings(opts.batch or 1, opts.threads),
                                       outputs.stop.is_set)
            expected: dict[int, int] = {}
            for number, group in itertools.groupby(results, key=lambda item: item[0].unit):
                with units[number].open() as source:
                    stream = Stream.of(source, number)  # what a local run tells the sinks
                with outputs.streaming(stream):
                    pipeline = outputs.pipeline(Model(engine, opts.top_k, opts.threshold))
                    pipeline.attach(stream)
                    for task, result in group:
                        check_sequence(task, result.frames, expected)
                        if result.frames:
                            for classified in pipeline.deliver(
                                    [frames(task, *f) for f in result.frames],
                                    result.logits, result.ms):
                                outputs.write(classified)
    finally:
        client.close()
    summary.seconds = time.monotonic() - started
    summary.outputs = outputs.written
    summary.interrupted = outputs.exit_code
    return summary
