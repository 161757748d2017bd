"""``edgecam classify``: every frame of videos, images, directories and globs, in order, to an
annotated video or image directory and JSON lines."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from edgecam.errors import EdgecamError
from edgecam.handlers import overlay_handler
from edgecam.io.files import FileListSource
from edgecam.io.sinks import ImageDirSink, JsonlSink, VideoSink, check_writable
from edgecam.io.sources import expand_inputs, is_image_path, is_video_path, open_source
from edgecam.pipeline import Model, Pipeline, Result
from edgecam.progress import Progress
from edgecam.runtime.engine import Engine, check_threads, default_threads
from edgecam.signals import StopFlag
from edgecam.store import resolve_model

VIDEO_OUT = (".mp4", ".avi", ".mkv", ".mov")


@dataclass
class ClassifyOptions:
    inputs: list[str]
    model: str | None = None
    output: str | None = None
    json_out: str | None = None
    top_k: int = 5
    threshold: float = 0.0
    threads: int | None = None
    mqtt: str | None = None
    progress: bool | None = None  # None: on a terminal
    jobs: int | None = None  # files in parallel (None: one per core when several videos)
    provider: str | None = None  # --provider (None: auto)


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


def _plan_outputs(files: list[str], output: str | None) -> tuple[Path | None, Path | None]:
    """(video file, directory) for --output, checked before any work starts."""
    if output is None:
        return None, None
    out = Path(output)
    videos = [f for f in files if is_video_path(f)]
    if out.suffix.lower() in VIDEO_OUT:
        if len(videos) != 1 or len(files) != 1:
            raise EdgecamError(
                f"--output {output} is a video file, which takes exactly one input video "
                f"(got {len(files)} file(s), {len(videos)} video(s)); give a directory instead"
            )
        check_writable(out)
        return out, None
    if out.exists() and not out.is_dir():
        raise EdgecamError(f"cannot write {output}: it exists and is not a directory")
    if out.suffix and not out.is_dir():
        raise EdgecamError(f"--output {output} is neither a video file "
                           f"({', '.join(VIDEO_OUT)}) nor a directory")
    for f in files:
        if Path(f).exists() and Path(f).resolve().parent == out.resolve():
            raise EdgecamError(f"--output {output} is the input's own directory; choose another")
    check_writable(out, directory=True)
    return None, out


class OrderedLines:
    """JSON lines in input order while files run in parallel: a file's lines go straight to
    the sink when it is the oldest unfinished file, else they wait until it is."""

    def __init__(self, sink: JsonlSink | None, files: int) -> None:
        self.sink = sink
        self.pending: list[list[dict]] = [[] for _ in range(files)]
        self.finished = [False] * files
        self.current = 0
        self.lock = threading.Lock()

    def write(self, file_no: int, record: dict) -> None:
        if self.sink is None:
            return
        with self.lock:
            if file_no == self.current:
                self.sink.write(record)
            else:
                self.pending[file_no].append(record)

    def done(self, file_no: int) -> None:
        with self.lock:
            self.finished[file_no] = True
            while self.current < len(self.finished) and self.finished[self.current]:
                self.current += 1
                if self.current < len(self.finished) and self.sink is not None:
                    for record in self.pending[self.current]:
                        self.sink.write(record)
                    self.pending[self.current].clear()


def plan_jobs(jobs: int | None, threads: int | None, videos: int) -> tuple[int, int]:
    """(files in parallel, onnxruntime threads each). Several videos on several cores run
    side by side with one intra-op thread each, which uses the cores better than splitting
    one small convolution over them; one video gets all the threads."""
    if jobs is not None and jobs < 1:
        raise EdgecamError(f"--jobs must be >= 1, got {jobs}")
    check_threads(threads)
    cores = threads or default_threads()
    if jobs is None:
        jobs = min(cores, videos) if videos > 1 else 1
    jobs = max(1, min(jobs, max(videos, 1)))
    return jobs, max(1, cores // jobs)


def classify(opts: ClassifyOptions) -> ClassifySummary:
    """Run every input through the model; sinks are closed (videos finalized, JSON lines
    whole) however the run ends."""
    files = expand_inputs(opts.inputs)
    video_out, out_dir = _plan_outputs(files, opts.output)
    if opts.json_out:
        check_writable(opts.json_out)
    images = [f for f in files if is_image_path(f)]
    videos = [f for f in files if not is_image_path(f)]
    jobs, threads = plan_jobs(opts.jobs, opts.threads, len(videos))
    engine = Engine(resolve_model(opts.model), threads, opts.provider)
    summary = ClassifySummary(files=len(files), model=engine.meta.name, jobs=jobs,
                              threads=engine.threads)
    totals = [video_frame_count(v) for v in videos]
    total = len(images) + sum(t or 0 for t in totals) if all(totals) else None

    closers: list = []
    with StopFlag() as stop, Progress(total, "frames", desc="classify",
                                      enabled=opts.progress) as bar:
        started = time.monotonic()
        lock = threading.Lock()
        try:
            jsonl = None
            if opts.json_out:
                jsonl = JsonlSink(opts.json_out)
                closers.append(jsonl)
                summary.outputs.append(str(opts.json_out))
            lines = OrderedLines(jsonl, 1 + len(videos))
            publisher = None
            if opts.mqtt:
                from edgecam.io.mqtt import MqttPublisher

                publisher = MqttPublisher(opts.mqtt, engine.meta.name)
                publisher.start()
                closers.append(publisher)

            def pipeline_for(file_no: int, picture) -> Pipeline:
                """One pipeline per file (or for all images): its own pre/post buffers, the
                shared session, and handlers writing to this file's outputs."""
                pipeline = Pipeline(Model(engine, opts.top_k, opts.threshold), stop=stop)

                def tally(result: Result) -> None:
                    with lock:
                        if result.top:
                            counts = summary.top1.setdefault(result.frame.source, Counter())
                            counts[result.top[0].label] += 1
                        bar.update(1)

                pipeline.handlers.append(lambda r: lines.write(file_no, r.record()))
                if publisher is not None:
                    from edgecam.handlers import mqtt_handler

                    pipeline.handlers.append(mqtt_handler(publisher, pipeline))
                if picture is not None:
                    pipeline.handlers.append(overlay_handler(pipeline))
                    pipeline.handlers.append(picture)
                pipeline.handlers.append(tally)
                return pipeline

            if images:
                picture = None
                if out_dir is not None:
                    pictures = ImageDirSink(out_dir)
                    summary.outputs.append(str(out_dir))

                    def picture(r: Result) -> None:
                        pictures.write(r.frame.image, Path(r.frame.source).name)

                pictures_source = FileListSource(images, "images")
                summary.frames += pipeline_for(0, picture).run_file(pictures_source)
            lines.done(0)

            def run_video(file_no: int, video: str) -> int:
                if stop.is_set():
                    lines.done(file_no)
                    return 0
                with open_source(video) as source, contextlib.ExitStack() as sink_stack:
                    picture = None
                    if opts.output:
                        target = video_out or out_dir / f"{Path(video).stem}.labeled.mp4"
                        sink = sink_stack.enter_context(
                            VideoSink(target, fps=source.fps or 30.0))
                        with lock:
                            summary.outputs.append(str(target))

                        def picture(r: Result) -> None:
                            sink.write(r.frame.image)

                    n = pipeline_for(file_no, picture).run_file(source)
                lines.done(file_no)
                return n

            if jobs == 1:
                for i, video in enumerate(videos, start=1):
                    summary.frames += run_video(i, video)
            else:
                with ThreadPoolExecutor(jobs, thread_name_prefix="edgecam-file") as pool:
                    futures = [pool.submit(run_video, i, v) for i, v in enumerate(videos, 1)]
                    for future in futures:
                        summary.frames += future.result()
        finally:
            for closer in reversed(closers):
                closer.close()
        summary.seconds = time.monotonic() - started
        summary.interrupted = stop.exit_code
    return summary
