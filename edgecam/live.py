"""``edgecam live``: a camera or stream, newest frame first, to a window, a browser preview,
a video, JSON lines and MQTT, until q/Esc, Ctrl-C, SIGTERM or ``--max-frames``."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from edgecam.errors import EdgecamError
from edgecam.handlers import jsonl_handler, mqtt_handler, overlay_handler
from edgecam.io.sinks import JsonlSink, VideoSink, check_writable, display_available
from edgecam.io.sources import check_source_options, open_source
from edgecam.pipeline import Model, Pipeline, Result
from edgecam.runtime.engine import Engine, check_threads
from edgecam.signals import StopFlag
from edgecam.store import resolve_model

log = logging.getLogger(__name__)


@dataclass
class LiveOptions:
    source: str = "0"
    model: str | None = None
    headless: bool = False
    serve: str | None = None
    serve_token: str | None = None
    output: str | None = None
    json_out: str | None = None
    max_frames: int | None = None
    threads: int | None = None
    top_k: int = 3
    threshold: float = 0.0
    smoothing: float = 0.6
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    mqtt: str | None = None
    provider: str | None = None  # --provider (None: auto)
    # a callable(pipeline) -> (Model | None, status lines) consulted once per frame: the
    # run-time adaptation of ``--profile auto`` plugs in here
    adapt: Callable[[Pipeline], Model | None] | None = None
    notes: list[str] = field(default_factory=list)  # status lines shown from the start
    echo: Callable[[str], None] = log.info  # where printed predictions go (the CLI: stdout)


@dataclass
class LiveSummary:
    frames: int = 0
    seconds: float = 0.0
    dropped: int = 0
    reconnects: int = 0
    model: str = ""
    headless: bool = True
    serve_url: str | None = None
    interrupted: int = 0
    switches: list[str] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def label_changes(echo: Callable[[str], None]) -> Callable[[Result], None]:
    """Print the (smoothed) top-1 whenever it changes: what a headless run with no outputs
    shows."""
    last: dict[str, str | None] = {"label": None}

    def show(result: Result) -> None:
        if result.top and result.top[0].label != last["label"]:
            top = result.top[0]
            last["label"] = top.label
            echo(f"frame {result.frame.index}: {top.label} ({top.score:.2f})")

    return show


def live(opts: LiveOptions, say: Callable[[str], None] = log.info) -> LiveSummary:
    """Run until stopped; ``say`` receives the few lines a user should see (headless, URL...)."""
    if opts.max_frames is not None and opts.max_frames < 1:
        raise EdgecamError(f"--max-frames must be >= 1, got {opts.max_frames}")
    check_source_options(opts.source, opts.width, opts.height, opts.fps)
    check_threads(opts.threads)
    for path in (opts.output, opts.json_out):
        if path:
            check_writable(path)
    headless, why = opts.headless, ""
    if not headless:
        ok, why = display_available()
        headless = not ok
    model = Model(Engine(resolve_model(opts.model), opts.threads, opts.provider), opts.top_k,
                  opts.threshold, opts.smoothing)
    summary = LiveSummary(model=model.name, headless=headless)
    closers: list = []
    with StopFlag() as stop:
        source = open_source(opts.source, width=opts.width, height=opts.height, fps=opts.fps)
        closers.append(source)
        pipeline = Pipeline(model, stop=stop)
        last: dict[str, object] = {"result": None}

        def status() -> list[str]:
            lines = list(opts.notes)
            if source.state == "reconnecting":
                lines.append(f"reconnecting to {opts.source}...")
            return lines + pipeline.status

        def remember(result: Result) -> None:
            last["result"] = result
            if opts.adapt is not None:
                swapped = opts.adapt(pipeline)
                if swapped is not None:
                    summary.switches.append(swapped.name)
                    pipeline.model = swapped

        try:
            pipeline.handlers.append(overlay_handler(pipeline, status))
            if opts.output:
                video = VideoSink(opts.output, fps=source.fps or opts.fps or 30.0)
                closers.append(video)
                pipeline.handlers.append(lambda r: video.write(r.frame.image))
            if opts.json_out:
                jsonl = JsonlSink(opts.json_out)
                closers.append(jsonl)
                pipeline.handlers.append(jsonl_handler(jsonl))
            if opts.mqtt:
                from edgecam.io.mqtt import MqttPublisher

                publisher = MqttPublisher(opts.mqtt, model.name)
                publisher.start()
                closers.append(publisher)
                pipeline.handlers.append(mqtt_handler(publisher, pipeline, lambda: source.dropped))
            preview = None
            if opts.serve:
                from edgecam.io.preview import PreviewServer, is_loopback, parse_serve

                host, port = parse_serve(opts.serve)
                if not is_loopback(host) and not opts.serve_token:
                    say(f"warning: serving on {host} without --serve-token: anyone on the "
                        "network can watch")
                preview = PreviewServer(host, port, token=opts.serve_token)
                preview.start()
                closers.append(preview)
                summary.serve_url = preview.url
                say(f"preview at {preview.url}")
                pipeline.handlers.append(
                    lambda r: preview.publish(r.frame.image,
                                              pipeline.stats(r.top, source.dropped)))
            if not headless:
                from edgecam.io.sinks import WindowSink

                window = WindowSink("edgecam")
                closers.append(window)

                def show(result: Result) -> None:
                    if not window.show(result.frame.image):
                        stop.set()

                pipeline.handlers.append(show)
            pipeline.handlers.append(remember)
            if why:  # said once everything is open, so a bad option is the only line
                say(f"{why}: running headless")
            if headless and not (opts.output or opts.json_out or opts.serve or opts.mqtt):
                say("no window and no outputs: printing top-1 when it changes (add --json-out, "
                    "--output or --serve for more)")
                pipeline.handlers.append(label_changes(opts.echo))

            def idle() -> None:
                """While the source reconnects: keep the preview's stats saying so (the
                pipeline's state follows the source's)."""
                result = last["result"]
                if preview is not None and result is not None:
                    preview.publish(result.frame.image,
                                    pipeline.stats(result.top, source.dropped))

            summary.frames = pipeline.run(source, opts.max_frames, on_idle=idle)
        finally:
            for closer in reversed(closers):
                closer.close()
        summary.seconds = time.monotonic() - pipeline.started
        summary.dropped = source.dropped
        summary.reconnects = source.reconnects
        summary.interrupted = stop.exit_code
    return summary
