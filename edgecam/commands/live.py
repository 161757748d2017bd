"""``edgecam live``: a camera or stream, newest frame first, to a window, a browser preview,
a video, JSON lines and MQTT, until q/Esc, Ctrl-C, SIGTERM or ``--max-frames``."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field, replace

from edgecam.commands.options import LiveOptions
from edgecam.pipeline.result import Result
from edgecam.run.driver import ModelSpec, OutputSpec, Run
from edgecam.sinks.base import Sink, SinkOptions
from edgecam.sinks.factory import service_sinks
from edgecam.sources.factory import check_source_options, open_source
from edgecam.studio.session import Studio
from edgecam.tune.adapt import Adapter, model_builder, rung_model
from edgecam.tune.profiles import choose_profile
from edgecam.util.device import default_threads
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
    interrupted: int = 0
    switches: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    cameras: list[CameraSummary] = field(default_factory=list)
    models_used: str | None = None  # with --profile: each model and how long it ran

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        """What the run did, for stderr: each camera of several, then the whole run."""
        out = [f"{cam.source}: {cam.frames} frames ({cam.fps:.1f} FPS), {cam.dropped} dropped"
               for cam in self.cameras] if len(self.cameras) > 1 else []
        out.append(f"{self.frames} frames in {self.seconds:.1f} s ({self.fps:.1f} FPS) with "
                   f"{self.model}, {self.dropped} dropped"
                   + (f", {self.reconnects} reconnects" if self.reconnects else "")
                   + (f"; wrote {', '.join(self.written)}" if self.written else ""))
        if self.models_used is not None:
            out.append(f"models used: {self.models_used}")
        return out


class LabelChanges(Sink):
    """Print the (smoothed) answer whenever it changes, also to and from "unknown" (then with
    the best guess): what a headless run with no outputs shows."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        super().__init__()
        self.echo = echo
        self.last: str | None = None
        self.started = False

    def write(self, result: Result) -> None:
        if not self.started:  # said at the first answer: a frame's error stays the one line
            self.started = True
            log.info("no window and no outputs: printing the top-1 label (or unknown) when it "
                     "changes (add --json-out, --output or --serve for more)")
        if not result.whole:  # regions: their state changes
            for region in result.changes:
                assert region.change is not None  # result.changes holds changes only
                self.echo(f"frame {result.frame.index}: {region.name}: "
                          f"{region.change.before or '(start)'} -> {region.change.after}")
            return
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
    adapter = None
    _check(opts)  # before a profile's rungs are exported
    if opts.profile is not None:
        opts, adapter = use_profile(opts, opts.profile)
    uris = opts.sources
    headless, why = _headless(opts)
    spec = ModelSpec(model=opts.model, threads=opts.threads, provider=opts.provider,
                     top_k=opts.top_k, threshold=opts.threshold, smoothing=opts.smoothing,
                     regions=tuple(opts.regions), hold=opts.hold, labels=opts.labels)
    studio = _studio(opts, spec) if opts.capture_dir else None
    run = Run(spec, _outputs(opts, display=not headless and len(uris) == 1, studio=studio),
              controller=studio.switch if studio else opts.controller, status=opts.notes,
              camera_regions=opts.camera_regions)
    quiet = not run.sinks
    if quiet:
        run.add(LabelChanges(opts.echo))
    for sink in service_sinks():  # systemd's readiness and watchdog, when run as a service
        run.add(sink)
    with run:
        run.enter(studio or nullcontext())  # a training still going is cancelled at the end
        sources = [run.enter(open_source(uri, width=opts.width, height=opts.height,
                                         fps=opts.fps, playback=not opts.fast,
                                         loop=opts.loop)) for uri in uris]
        if why:  # said once the sources are open, so a bad option is the only line
            log.info("%s: running headless", why)
        frames, pipelines = run.feed_cameras(sources, max_frames=opts.max_frames,
                                             together=opts.batch_cameras, overlay=True)
    now = time.monotonic()
    first = pipelines[0]
    return LiveSummary(frames=sum(frames), seconds=now - first.started,
                       dropped=sum(s.dropped for s in sources),
                       reconnects=sum(s.reconnects for s in sources),
                       model=first.model.name, headless=headless,
                       interrupted=run.exit_code, switches=first.switches,
                       written=[w for w in run.written if not w.startswith("http")],
                       cameras=[CameraSummary(s.uri, n, s.dropped, s.reconnects,
                                              p.frames / max(1e-9, now - p.started))
                                for s, n, p in zip(sources, frames, pipelines)],
                       models_used=adapter.summary() if adapter is not None else None)


def _outputs(opts: LiveOptions, display: bool, studio: Studio | None = None) -> OutputSpec:
    """The run's outputs as the flags ask (a window when ``display``); the sources that are
    files are inputs, never written over."""
    options = SinkOptions(inputs=[u for u in opts.sources if os.path.isfile(u)], live=True,
                          fps=opts.fps, serve_token=opts.serve_token,
                          serve_names=opts.serve_names, capture_dir=opts.capture_dir,
                          events_keep=opts.events_keep, camera_names=opts.camera_names,
                          ha_prefix=opts.ha_prefix if opts.ha else None, studio=studio)
    return OutputSpec(output=opts.output, json_out=opts.json_out, serve=opts.serve,
                      mqtt=opts.mqtt, display=display, events=opts.events, uris=opts.sinks,
                      options=options)


def _studio(opts: LiveOptions, spec: ModelSpec) -> Studio:
    """The preview page's region editor and train button (``--capture-dir``): its switch is
    the run's controller, around ``--profile``'s adapter; trained models open like the run's
    own (threads, provider)."""
    own = [*opts.camera_regions, *[None] * len(opts.sources)][:len(opts.sources)]
    given = [tuple(opts.regions if r is None else r) for r in own]
    return Studio(opts.capture_dir or ".", load=spec.engine,
                  threads=spec.threads or default_threads(), given=given,
                  site_file=opts.config, inner=opts.controller)


def _check(opts: LiveOptions) -> None:
    """What the options cannot say alone: combinations, and each source's own options."""
    uris = opts.sources
    if len(uris) > 1 and (opts.controller is not None or opts.profile is not None):
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


def preflight(opts: LiveOptions) -> None:
    """What a live command line can be checked for before it ever runs (``edgecam service
    install``: a unit whose command fails at once would be restarted forever): the profile it
    names, the combinations, each source's options and each model file. Nothing is opened
    or made: not the sources (a camera may be unplugged at install time), not a profile's
    models (``sudo`` would leave root's files in the user's folder)."""
    _check(opts)
    if opts.profile is not None:  # it exists and reads (live exports its rungs at start)
        choose_profile(opts.profile)
    from edgecam.models.store import check_model

    regions = [*opts.regions, *(r for cam in opts.camera_regions for r in cam or [])]
    if opts.profile is None:
        check_model(opts.model)  # None: the default model
    for model in dict.fromkeys(r.model for r in regions if r.model is not None):
        check_model(model)


def use_profile(opts: LiveOptions, profile: str, say: Callable[[str], None] = log.info
                ) -> tuple[LiveOptions, Adapter]:
    """``--profile auto`` (this device's newest profile), ``--profile NAME`` (its profile of
    that candidate set) or ``--profile FILE``: new options running the chosen config (its
    model, and its threads and provider unless given), shown, with the adapter that steps
    along the profile's ladder as their controller."""
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
    provider = opts.provider if opts.provider is not None else rung.provider
    adapter = Adapter(prof.frontier, index, prof.target_fps,
                      model_builder(prof.weights, provider, opts.top_k, opts.threshold,
                                    opts.smoothing), notes=opts.notes, say=say)
    say(f"profile {path.name}: running {rung.describe()}"
        + (f" ({rung.fps:.1f} FPS when tuned" if rung.fps else "")
        + (f", top-1 {rung.top1})" if rung.fps and rung.top1 else ")" if rung.fps else "")
        + f", target {prof.target_fps:g} FPS, {len(prof.frontier) - 1} faster fallback(s)")
    # a profile made on a larger machine asks for more threads than this one has
    threads = opts.threads if opts.threads is not None else min(rung.threads, default_threads())
    return replace(opts, profile=None, model=str(files[index]), threads=threads,
                   provider=provider, controller=adapter), adapter
