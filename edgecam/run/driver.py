"""One door for every run: open the model (file -> engine -> its unknown rule) and the outputs
(every sink built and checked before any input opens), feed sources through pipelines to the
sinks, close it whole.

    with Run(ModelSpec(model="gate.onnx"), OutputSpec(json_out="p.jsonl")) as run:
        with open_source("clip.mp4") as source:
            run.feed(source)

``classify``, ``live``, ``bench``, ``classify --cluster`` and ``edgecam.predict`` are this loop.
Ctrl-C and SIGTERM set the run's stop flag: the frame in hand finishes, every sink closes
(videos finalized and renamed into place, JSON lines whole) and ``exit_code`` says which
signal ended it. The first error a sink raises while closing is raised after all of them
closed.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from edgecam.models.store import resolve_model
from edgecam.pipeline.cameras import camera_results
from edgecam.pipeline.loop import Pipeline
from edgecam.pipeline.model import HOLD_S, Controller, Model
from edgecam.pipeline.regions import Region
from edgecam.pipeline.result import Result, Stats
from edgecam.runtime.engine import Engine
from edgecam.runtime.unknown import ThresholdLike, rejection_for
from edgecam.sinks.base import Sink, SinkOptions
from edgecam.sinks.factory import flag_sinks, refuse_shared
from edgecam.sources.frames import Source, Stream
from edgecam.util.errors import EdgecamError
from edgecam.util.signals import EndOfRun, StopFlag

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """What a run classifies with: ``model`` is an .onnx file, a store name, a ready
    ``Engine`` or None (the default pretrained model); ``threshold`` is ``--threshold``.
    ``spin=False`` lets idle onnxruntime threads sleep (runs with a decode thread)."""

    model: str | Path | Engine | None = None
    threads: int | None = None
    provider: str | None = None
    spin: bool = True
    top_k: int = 5
    threshold: ThresholdLike = None
    smoothing: float = 0.0
    regions: tuple[Region, ...] = ()  # places to classify instead of the whole frame
    hold: float = HOLD_S  # seconds a new label must last before a region's state changes
    labels: str | None = None  # --labels: a model without edgecam metadata (the spec's own)

    def engine(self, model: str | Path | Engine | None = None) -> Engine:
        """The engine of ``model`` (default: the spec's own, with ``labels``)."""
        own = model is None
        model = self.model if own else model
        if isinstance(model, Engine):
            return model
        path = resolve_model(None if model is None else str(model))
        return Engine(path, self.threads, self.provider, spin=self.spin,
                      labels=self.labels if own else None)


@dataclass(kw_only=True)
class OutputSpec:
    """The outputs a command's flags ask for (``--output``, ``--json-out``, ``--serve``,
    ``--mqtt``, a window, ``--sink`` URIs), what the factory needs to build them (``options``;
    the run fills in the model), and ready ``extra`` sinks (a progress tally)."""

    output: str | None = None
    json_out: str | None = None
    serve: str | None = None
    mqtt: str | None = None
    display: bool = False
    events: str | None = None  # a folder for region state changes (events.jsonl, snapshots)
    uris: Sequence[str] = ()
    options: SinkOptions = field(default_factory=SinkOptions)
    extra: Sequence[Sink] = ()


class Run:
    """A model and the outputs it writes to, for as long as the ``with`` block runs."""

    def __init__(self, spec: ModelSpec, outputs: OutputSpec | None = None, *,
                 controller: Controller | None = None, status: list[str] | None = None,
                 signals: bool = True,
                 camera_regions: Sequence[Sequence[Region] | None] = ()) -> None:
        self.spec = spec
        self.engine = spec.engine()
        self._engines: dict[str, Engine] = {}
        # every region's model loaded, and every --threshold label checked against its
        # model, before any output opens
        rejection_for(self.engine.meta, spec.threshold)
        for regions in (None, *camera_regions):
            self.model(regions)
        self.camera_regions = list(camera_regions)
        outputs = outputs or OutputSpec()
        options = replace(outputs.options, model_file=str(self.engine.path),
                          inputs=[*(outputs.options.inputs or []),
                                  *(str(e.path) for e in self._engines.values())])
        self.sinks: list[Sink] = flag_sinks(
            options, output=outputs.output, json_out=outputs.json_out, serve=outputs.serve,
            mqtt=outputs.mqtt, display=outputs.display, events=outputs.events,
            uris=outputs.uris)
        self.sinks += outputs.extra
        refuse_shared(self.sinks)
        self.controller = controller
        self.status = status
        self.stop = StopFlag()
        self._signals = signals
        self._stack = contextlib.ExitStack()
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self.broken = threading.Event()  # an input failed: inputs not started yet are skipped

    # -- what the run is made of --------------------------------------------------------------

    @property
    def overlay(self) -> bool:
        """Whether any sink shows or stores the picture (then frames are annotated)."""
        return any(s.needs_image for s in self.sinks)

    @property
    def keep_raw(self) -> bool:
        """Whether any sink wants the frame as the source gave it (``result.raw``)."""
        return any(s.needs_raw for s in self.sinks)

    @property
    def exit_code(self) -> int:
        return self.stop.exit_code

    @property
    def written(self) -> list[str]:
        return [w for s in self.sinks for w in s.written]

    def add(self, sink: Sink) -> None:
        """One more sink, before the run starts (``live`` prints label changes when nothing
        else shows them)."""
        self.sinks.append(sink)

    def model(self, regions: Sequence[Region] | None = None) -> Model:
        """The engine with its own pre- and postprocessing (its own smoothing): one per
        source, all sharing the session (and each region's model, loaded once). ``regions``:
        a camera's own (default: the run's)."""
        spec = self.spec
        return Model(self.engine, spec.top_k, spec.threshold, spec.smoothing,
                     regions=spec.regions if regions is None else regions,
                     engines=self.region_engine, hold=spec.hold)

    def region_engine(self, model: str) -> Engine:
        """A region's own model, loaded once per run whatever the regions that name it."""
        engine = self._engines.get(model)
        if engine is None:
            try:
                engine = self._engines[model] = self.spec.engine(model)
            except EdgecamError as exc:
                raise EdgecamError(f"a region's model {model}: {exc}") from None
        return engine

    def pipeline(self, *, overlay: bool | None = None,
                 regions: Sequence[Region] | None = None) -> Pipeline:
        """A pipeline on a new ``model(regions)``, drawing what these sinks show, stopped by
        this run's flag, whose idle stats (a camera reconnecting) reach the sinks."""
        return Pipeline(self.model(regions), stop=self.stop, controller=self.controller,
                        overlay=self.overlay if overlay is None else overlay,
                        keep_raw=self.keep_raw, status=self.status, on_idle=self.idle)

    def enter(self, context: contextlib.AbstractContextManager[T]) -> T:
        """Close ``context`` (a source, a server) when the run ends, after the sinks."""
        return self._stack.enter_context(context)

    # -- feeding ------------------------------------------------------------------------------

    def feed(self, source: Source, *, stream: Stream | None = None,
             pipeline: Pipeline | None = None, max_frames: int | None = None,
             prefetch: int = 3, batch: int = 1, workers: int = 1) -> int:
        """Run ``source`` through a pipeline (a new one unless given) to the sinks: for files
        ``batch`` frames per inference and ``workers`` inferences at once. With no
        ``stream``, the sinks hear of its start and end here. Returns its frame count."""
        if stream is None:
            with self.streaming(Stream.of(source, self._next_index())) as opened:
                return self.feed(source, stream=opened, pipeline=pipeline,
                                 max_frames=max_frames, prefetch=prefetch, batch=batch,
                                 workers=workers)
        pipeline = pipeline or self.pipeline()
        done = 0
        for result in pipeline.results(source, max_frames, prefetch=prefetch, stream=stream,
                                       batch=batch, workers=workers):
            self.write(result)
            done += 1
        return done

    def feed_cameras(self, sources: Sequence[Source], *, max_frames: int | None = None,
                     together: bool = True, overlay: bool | None = None
                     ) -> tuple[list[int], list[Pipeline]]:
        """Cameras (one, or several in one loop), each with its own pipeline (smoothing,
        stats, and the regions the run was given for it); the frames several have ready at
        once are inferred in one call (``together``). Returns each camera's frame count and
        pipeline."""
        own = self.camera_regions
        pipelines = [self.pipeline(overlay=overlay, regions=own[i] if i < len(own) else None)
                     for i in range(len(sources))]
        frames = [0] * len(sources)
        with contextlib.ExitStack() as streams:
            for index, (source, pipeline) in enumerate(zip(sources, pipelines)):
                pipeline.attach(streams.enter_context(self.streaming(
                    Stream.of(source, index))), source)
            if len(sources) == 1:
                frames[0] = self.feed(sources[0], stream=pipelines[0].stream,
                                      pipeline=pipelines[0], max_frames=max_frames)
            else:
                for result in camera_results(pipelines, sources, max_frames, together,
                                             done=frames):
                    self.write(result)
        return frames, pipelines

    def results(self, source: Source, *, max_frames: int | None = None, overlay: bool = False,
                batch: int = 1, workers: int = 1) -> Iterator[Result]:
        """The results themselves, for a caller that takes them (``edgecam.predict``)."""
        pipeline = self.pipeline(overlay=overlay)
        yield from pipeline.results(source, max_frames, batch=batch, workers=workers)

    def write(self, result: Result) -> None:
        """One result to every sink; a sink that asks to end the run (a window's q) stops it
        after this result."""
        for sink in self.sinks:
            try:
                sink.write(result)
            except EndOfRun:
                self.stop.set()

    def idle(self, stats: Stats, stream: Stream | None = None) -> None:
        """No frame from ``stream`` for now (reconnecting): the sinks get the stats alone."""
        for sink in self.sinks:
            sink.idle(stats, stream)

    # -- inputs starting and ending -------------------------------------------------------------

    def _next_index(self) -> int:
        with self._lock:
            return next(self._numbers)

    @contextlib.contextmanager
    def streaming(self, stream: Stream) -> Iterator[Stream]:
        """Sinks hear that ``stream`` starts, and that it ended (well or not) on leaving: for
        results that come from elsewhere (several cameras in one loop, a cluster)."""
        for sink in self.sinks:
            sink.open(stream)
        ok = False
        try:
            yield stream
            ok = True
        finally:
            if not ok:
                self.broken.set()
            self._end(stream, ok)

    @contextlib.contextmanager
    def opened(self, open_input: Callable[[], Source | None], *, uri: str, index: int
               ) -> Iterator[tuple[Source | None, Stream | None]]:
        """Open one input as ``(source, stream)``, with the sinks told of its start and end;
        ``(None, None)`` when the run was stopped, another input failed, or ``open_input``
        passed it over (returned None: it is skipped). One that fails to open is reported to
        the sinks, so nothing waits for it, and the error is raised."""
        if self.stop.is_set() or self.broken.is_set():
            self.failed(uri, index)
            yield None, None
            return
        try:
            source = open_input()
        except BaseException:
            self.broken.set()
            self.failed(uri, index)
            raise
        if source is None:
            self.failed(uri, index)
            yield None, None
            return
        with source, self.streaming(Stream.of(source, index)) as stream:
            yield source, stream

    def failed(self, uri: str, index: int) -> None:
        """Input ``index`` failed before its first frame: nothing is waited for from it."""
        self._end(Stream(uri, index), False)

    def _end(self, stream: Stream, ok: bool) -> None:
        errors = []
        for sink in self.sinks:
            try:
                sink.end(stream, ok)
            except EdgecamError as exc:
                errors.append(exc)
        if errors and ok:
            raise errors[0]

    # -- the run as a whole ---------------------------------------------------------------------

    def __enter__(self) -> Run:
        if self._signals:
            self._stack.enter_context(self.stop)
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        ok = exc_type is None
        first: EdgecamError | None = None
        try:
            for sink in reversed(self.sinks):
                try:
                    sink.close(ok)
                except EdgecamError as error:
                    first = first or error
        finally:
            self._stack.close()
        if first is not None and ok:
            raise first
