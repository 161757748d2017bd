"""``edgecam classify``: every frame of videos, images, directories and globs, in order, to an
annotated video or image directory and JSON lines."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from edgecam.errors import EdgecamError
from edgecam.handlers import jsonl_handler, overlay_handler
from edgecam.io.sinks import ImageDirSink, JsonlSink, VideoSink, check_writable
from edgecam.io.sources import Frame, expand_inputs, is_image_path, is_video_path, open_source
from edgecam.pipeline import Model, Pipeline, Result
from edgecam.progress import Progress
from edgecam.runtime.engine import Engine
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


@dataclass
class ClassifySummary:
    files: int = 0
    frames: int = 0
    seconds: float = 0.0
    model: str = ""
    outputs: list[str] = field(default_factory=list)
    top1: dict[str, Counter] = field(default_factory=dict)  # per source: top-1 label counts
    interrupted: int = 0  # exit code when a signal ended the run

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


class ImageList:
    """Image files as one file-like source: one frame per image, numbered across the run."""

    live = False
    dropped = 0
    state = "running"

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        self.total = len(paths)

    def __iter__(self) -> Iterator[Frame]:
        for i, path in enumerate(self.paths):
            with open_source(path) as src:
                for frame in src:
                    frame.index = i
                    yield frame

    def close(self) -> None:
        """Nothing held open between images."""


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
    for f in files:
        if Path(f).exists() and Path(f).resolve().parent == out.resolve():
            raise EdgecamError(f"--output {output} is the input's own directory; choose another")
    check_writable(out / "probe")
    return None, out


def classify(opts: ClassifyOptions) -> ClassifySummary:
    """Run every input through the model; sinks are closed (videos finalized, JSON lines
    whole) however the run ends."""
    files = expand_inputs(opts.inputs)
    video_out, out_dir = _plan_outputs(files, opts.output)
    if opts.json_out:
        check_writable(opts.json_out)
    engine = Engine(resolve_model(opts.model), opts.threads)
    model = Model(engine, opts.top_k, opts.threshold, smoothing=0.0)
    summary = ClassifySummary(files=len(files), model=model.name)

    images = [f for f in files if is_image_path(f)]
    videos = [f for f in files if not is_image_path(f)]
    totals = [video_frame_count(v) for v in videos]
    total = len(images) + sum(t or 0 for t in totals) if all(totals) else None

    closers: list = []
    with StopFlag() as stop, Progress(total, "frames", desc="classify",
                                      enabled=opts.progress) as bar:
        pipeline = Pipeline(model, stop=stop)
        counts = summary.top1
        current: dict[str, object] = {"sink": None}

        def tally(result: Result) -> None:
            if result.top:
                counts.setdefault(result.frame.source, Counter())[result.top[0].label] += 1
            bar.update(1)

        def write_picture(result: Result) -> None:
            sink = current["sink"]
            if isinstance(sink, ImageDirSink):
                sink.write(result.frame.image, Path(result.frame.source).name)
            elif sink is not None:
                sink.write(result.frame.image)

        try:
            if opts.json_out:
                jsonl = JsonlSink(opts.json_out)
                closers.append(jsonl)
                pipeline.handlers.append(jsonl_handler(jsonl))
                summary.outputs.append(str(opts.json_out))
            if opts.mqtt:
                from edgecam.handlers import mqtt_handler
                from edgecam.io.mqtt import MqttPublisher

                publisher = MqttPublisher(opts.mqtt, model.name)
                publisher.start()
                closers.append(publisher)
                pipeline.handlers.append(mqtt_handler(publisher, pipeline))
            if opts.output:
                pipeline.handlers.append(overlay_handler(pipeline))
                pipeline.handlers.append(write_picture)
            pipeline.handlers.append(tally)

            if images and not stop.is_set():
                if out_dir is not None:
                    current["sink"] = ImageDirSink(out_dir)
                    summary.outputs.append(str(out_dir))
                summary.frames += pipeline.run_file(ImageList(images))
            for video in videos:
                if stop.is_set():
                    break
                with open_source(video) as source:
                    if opts.output:
                        target = video_out or out_dir / f"{Path(video).stem}.labeled.mp4"
                        sink = VideoSink(target, fps=source.fps or 30.0)
                        closers.append(sink)
                        current["sink"] = sink
                        summary.outputs.append(str(target))
                    summary.frames += pipeline.run_file(source)
                    if current["sink"] is not None:
                        current["sink"].close()
        finally:
            for closer in reversed(closers):
                closer.close()
        summary.seconds = time.monotonic() - pipeline.started
        summary.interrupted = stop.exit_code
    return summary
