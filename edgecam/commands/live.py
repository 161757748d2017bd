"""``edgecam live``: a camera or stream, newest frame first, to a window, a browser preview,
a video, JSON lines and MQTT, until q/Esc, Ctrl-C, SIGTERM or ``--max-frames``."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from edgecam.commands.options import LiveOptions
from edgecam.models.store import resolve_model
from edgecam.pipeline.cameras import camera_results
from edgecam.pipeline.model import Model
from edgecam.pipeline.result import Result
from edgecam.runtime.engine import Engine
from edgecam.runtime.unknown import rejection_for
from edgecam.sinks.base import Sink, SinkOptions
from edgecam.sinks.factory import flag_sinks
from edgecam.sinks.outputs import Outputs
from edgecam.sources.factory import check_source_options, open_source
from edgecam.sources.frames import Stream
from edgecam.tune.adapt import Adapter, model_builder, rung_model
from edgecam.tune.profiles import choose_profile
from edgecam.util.errors import EdgecamError

log = logging.getLogger(__name__)

__all__ = ["LiveOptions", "LiveSummary", "run_live"]


@dataclass
class CameraSummary:
    source: str
    frames: int
    dropped: int
    reconnects: int
    fps: float


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
    written: list[str] = field(default_factory=list)
    cameras: list[CameraSummary] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


class LabelChanges(Sink):
    """Print the (smoothed) answer whenever it changes, also to and from "unknown" (then with
    the best guess): what a headless run with no outputs shows."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        super().__init__()
        self.echo = echo
        self.last: str | None = None

    def write(self, result: Result) -> None:
        label = result.label
        if label is not None and label != self.last:
            top = result.top[0]
            self.last = label
            self.echo(f"frame {result.frame.index}: "
                      + (f"{label} (best: {top.label} {top.score:.2f})" if result.unknown
                         else f"{label} ({top.score:.2f})"))


def _headless(opts: LiveOptions) -> tuple[bool, str]:
    """(no window, why not) — a window only when asked for and a display answers."""
    if opts.headless:
        return True, ""
    from edgecam.sinks.window import display_available

    ok, why = display_available()
    return not ok, why


def run_live(opts: LiveOptions) -> LiveSummary:
    """Run until stopped; the few lines a user should see (headless, URL...) go to the
    ``edgecam`` logger."""
    uris = opts.sources or [opts.source]
    if len(uris) > 1 and opts.controller is not None:
        raise EdgecamError("--profile switches the model of one camera; run one process per "
                           "camera to adapt each, or give one --source")
    if len(uris) > 1 and opts.output:
        raise EdgecamError("--output writes one camera's video; with several --source use "
                           "--json-out, --serve or --mqtt (every camera), or one run per camera")
    if opts.capture_dir and not (opts.serve or any(u.startswith("http://") for u in opts.sinks)):
        raise EdgecamError("--capture-dir adds a capture button to the browser preview; "
                           "give --serve [HOST:]PORT too")
    for uri in uris:
        check_source_options(uri, opts.width, opts.height, opts.fps)
    headless, why = _headless(opts)
    model_file = resolve_model(opts.model)
    engine = Engine(model_file, opts.threads, opts.provider, labels=opts.labels)
    rejection_for(engine.meta, opts.threshold)  # a label it lacks: said before outputs open
    reads = [u for u in uris if os.path.isfile(u)]  # never written over
    sinks = flag_sinks(SinkOptions(inputs=reads, live=True, fps=opts.fps,
                                   model=engine.meta.name, model_file=str(model_file),
                                   serve_token=opts.serve_token,
                                   serve_names=opts.serve_names,
                                   capture_dir=opts.capture_dir),
                       output=opts.output, json_out=opts.json_out, serve=opts.serve,
                       mqtt=opts.mqtt, display=not headless and len(uris) == 1,
                       uris=opts.sinks)
    quiet = not sinks
    if quiet:
        sinks.append(LabelChanges(opts.echo))
    with Outputs(sinks) as outputs:
        sources = [outputs.enter(open_source(uri, width=opts.width, height=opts.height,
                                             fps=opts.fps, playback=not opts.fast,
                                             loop=opts.loop)) for uri in uris]
        if why:  # said once the sources are open, so a bad option is the only line
            log.info("%s: running headless", why)
        if quiet:
            log.info("no window and no outputs: printing the top-1 label (or unknown) when it "
                     "changes (add --json-out, --output or --serve for more)")
        pipelines = [outputs.pipeline(Model(engine, opts.top_k, opts.threshold, opts.smoothing),
                                      controller=opts.controller, status=opts.notes,
                                      overlay=True) for _ in sources]
        frames = [0] * len(sources)
        with contextlib.ExitStack() as streams:
            for index, (source, pipeline) in enumerate(zip(sources, pipelines)):
                stream = streams.enter_context(outputs.streaming(Stream.of(source, index)))
                pipeline.attach(stream, source)
            for result in _results(opts, pipelines, sources, frames):
                outputs.write(result)
    pipeline = pipelines[0]
    return LiveSummary(frames=sum(frames), seconds=time.monotonic() - pipeline.started,
                       dropped=sum(s.dropped for s in sources),
                       reconnects=sum(s.reconnects for s in sources),
                       model=pipeline.model.name, headless=headless,
                       serve_url=next((w for w in outputs.written if w.startswith("http")), None),
                       interrupted=outputs.exit_code,
                       switches=pipeline.switches,
                       written=[w for w in outputs.written if not w.startswith("http")],
                       cameras=[CameraSummary(s.uri, n, s.dropped, s.reconnects,
                                              p.frames / max(1e-9, time.monotonic() - p.started))
                                for s, n, p in zip(sources, frames, pipelines)])


def _results(opts: LiveOptions, pipelines: list, sources: list, frames: list[int]
             ) -> Iterator[Result]:
    """One camera's newest frames, or several cameras' in one loop (their ready frames
    inferred together); ``frames`` counts each camera's."""
    if len(sources) == 1:
        for result in pipelines[0].results(sources[0], opts.max_frames,
                                           stream=pipelines[0].stream):
            frames[0] += 1
            yield result
        return
    yield from camera_results(pipelines, sources, opts.max_frames, opts.batch_cameras, done=frames)


def use_profile(opts: LiveOptions, profile: str, say: Callable[[str], None] = log.info
                ) -> Adapter:
    """``--profile auto`` (this device's newest profile), ``--profile NAME`` (its profile of
    that candidate set) or ``--profile FILE``: set the model,
    threads and provider to the chosen config, show it, and install the adapter that steps
    along the profile's ladder."""
    if opts.model is not None:
        raise EdgecamError("--model and --profile both choose the model; give only one")
    path, prof, why = choose_profile(profile)
    say(f"using profile {prof.name!r} ({path}): {why}")
    index = prof.chosen_index
    if prof.chosen is None:
        say(f"profile {path.name}: no config reached {prof.target_fps:g} FPS when tuned; "
            "running the fastest")
    rung = prof.frontier[index]
    # every rung exported now, if missing, so a step down never waits for torch
    files = [rung_model(r, prof.weights) for r in prof.frontier]
    opts.model = str(files[index])
    if opts.threads is None:
        opts.threads = rung.threads
    if opts.provider is None:
        opts.provider = rung.provider
    adapter = Adapter(prof.frontier, index, prof.target_fps,
                      model_builder(prof.weights, opts.provider, opts.top_k, opts.threshold,
                                    opts.smoothing), notes=opts.notes, say=say)
    say(f"profile {path.name}: running {rung.describe()}"
        + (f" ({rung.fps:.1f} FPS when tuned" if rung.fps else "")
        + (f", top-1 {rung.top1})" if rung.fps and rung.top1 else ")" if rung.fps else "")
        + f", target {prof.target_fps:g} FPS, {len(prof.frontier) - 1} faster fallback(s)")
    opts.controller = adapter
    return adapter
