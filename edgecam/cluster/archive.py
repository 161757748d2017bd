"""``edgecam classify --cluster``: the same inputs, outputs and summary as a local run, the
frames classified on a Dask cluster."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from edgecam.classify import ClassifyOptions, ClassifySummary, video_properties, video_target
from edgecam.cluster.client import (
    Annotator,
    check_sequence,
    connect,
    model_bytes,
    results_in_order,
)
from edgecam.cluster.tasks import plan_tasks
from edgecam.cluster.worker import TaskSettings
from edgecam.io.sinks import ImageDirSink, JsonlSink, VideoSink
from edgecam.io.sources import is_image_path
from edgecam.progress import Progress
from edgecam.runtime.engine import Engine
from edgecam.signals import StopFlag
from edgecam.store import resolve_model

CHUNK_FRAMES = 240  # frames per task: seconds of work for a worker, little to redo if it dies


def classify_on_cluster(opts: ClassifyOptions, files: list[str], video_out: Path | None,
                        out_dir: Path | None) -> ClassifySummary:
    """Submit every frame to the cluster at ``opts.cluster``; write JSON lines and annotated
    outputs here, in input order, closing them however the run ends."""
    model_path = resolve_model(opts.model)
    meta = Engine(model_path, 1).meta  # checked here, before any worker sees it
    images = [f for f in files if is_image_path(f)]
    videos = [f for f in files if not is_image_path(f)]
    props = {v: video_properties(v) for v in videos}
    counts = [props[v][0] for v in videos]
    total = len(images) + sum(c or 0 for c in counts) if all(counts) else None
    tasks = plan_tasks(list(zip(videos, counts)), images, opts.chunk or CHUNK_FRAMES)
    settings = TaskSettings(opts.top_k, opts.threshold, opts.batch, opts.threads)
    summary = ClassifySummary(files=len(files), model=meta.name, jobs=0, threads=0)
    client = connect(opts.cluster)
    summary.jobs = len(client.scheduler_info().get("workers", {}))
    closers: list = [client]
    with StopFlag() as stop, Progress(total, "frames", desc="classify",
                                      enabled=opts.progress) as bar:
        started = time.monotonic()
        try:
            jsonl = None
            if opts.json_out:
                jsonl = JsonlSink(opts.json_out)
                closers.append(jsonl)
                summary.outputs.append(str(opts.json_out))
            annotate = Annotator() if opts.output else None
            if annotate is not None:
                closers.append(annotate)
            pictures = ImageDirSink(out_dir) if out_dir is not None and images else None
            if pictures is not None:
                summary.outputs.append(str(out_dir))
            video, video_file = None, -1
            expected: dict[int, int] = {}
            for task, records in results_in_order(client, model_bytes(model_path), tasks,
                                                  settings, bar.update, stop.is_set):
                check_sequence(task, records, expected)
                if annotate is not None and not task.images and task.file_no != video_file:
                    if video is not None:
                        video.close()
                    target = video_target(video_out, out_dir, task.paths[0])
                    video = VideoSink(target, fps=props[task.paths[0]][1] or 30.0)
                    closers.append(video)
                    summary.outputs.append(str(target))
                    video_file = task.file_no
                for record in records:
                    if jsonl is not None:
                        jsonl.write(record)
                    if record["top"]:
                        summary.top1.setdefault(record["source"], Counter())[
                            record["top"][0]["label"]] += 1
                    if annotate is not None:
                        image = annotate(task, record)
                        if task.images:
                            pictures.write(image, Path(record["source"]).name)
                        else:
                            video.write(image)
                summary.frames += len(records)
        finally:
            for closer in reversed(closers):
                closer.close()
        summary.seconds = time.monotonic() - started
        summary.interrupted = stop.exit_code
    return summary
