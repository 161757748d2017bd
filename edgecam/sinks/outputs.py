"""A run's outputs: the sinks, the stop flag and everything to close, owned in one place.

    with Outputs(["out.mp4", "p.jsonl"], SinkOptions(inputs=files)) as outputs:
        pipeline = outputs.pipeline(model)
        with open_source(path) as source, outputs.streaming(Stream.of(source)) as stream:
            for result in pipeline.results(source, stream=stream):
                outputs.write(result)

Sinks are built (and checked) when the Outputs are made, before any input is opened. Ctrl-C
and SIGTERM set the stop flag: the frame in hand finishes, every sink closes (videos finalized
and renamed into place, JSON lines whole) and ``exit_code`` says which signal ended it. The
first error a sink raises while closing is raised after all of them closed.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from edgecam.pipeline.loop import Pipeline
from edgecam.pipeline.model import Controller, Model
from edgecam.pipeline.result import Result, Stats
from edgecam.sinks.base import Sink, SinkOptions
from edgecam.sinks.factory import open_sink, refuse_shared
from edgecam.sources.frames import Source, Stream
from edgecam.util.errors import EdgecamError
from edgecam.util.signals import EndOfRun, StopFlag

T = TypeVar("T")


class Outputs:
    """``sinks`` are URIs (built by ``open_sink``) or ready ``Sink`` objects."""

    def __init__(self, sinks: Iterable[str | Sink] = (), options: SinkOptions | None = None
                 ) -> None:
        self.stop = StopFlag()
        self.sinks: list[Sink] = [s if isinstance(s, Sink) else open_sink(s, options)
                                  for s in sinks]
        refuse_shared(self.sinks)
        self._stack = contextlib.ExitStack()
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self.broken = threading.Event()  # an input failed: inputs not started yet are skipped

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

    def enter(self, context: contextlib.AbstractContextManager[T]) -> T:
        """Close ``context`` (a source, a server) when the run ends, after the sinks."""
        return self._stack.enter_context(context)

    def pipeline(self, model: Model, *, controller: Controller | None = None,
                 status: list[str] | None = None, overlay: bool | None = None) -> Pipeline:
        """A pipeline drawing what these sinks show, stopped by this run's flag, whose idle
        stats (a camera reconnecting) reach the sinks."""
        return Pipeline(model, stop=self.stop, controller=controller,
                        overlay=self.overlay if overlay is None else overlay,
                        keep_raw=self.keep_raw, status=status, on_idle=self.idle)

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

    def stream(self, source: Source, pipeline: Pipeline, *, index: int | None = None,
               max_frames: int | None = None, prefetch: int = 3, batch: int = 1,
               workers: int = 1) -> int:
        """Run ``source`` through ``pipeline`` to the sinks (for files: ``batch`` frames per
        inference, ``workers`` inferences at once); sinks hear of its start and end. ``index``
        is its place among the inputs (default: the order ``stream`` is called in)."""
        if index is None:
            with self._lock:
                index = next(self._numbers)
        done = 0
        with self.streaming(Stream.of(source, index)) as stream:
            for result in pipeline.results(source, max_frames, prefetch=prefetch, stream=stream,
                                           batch=batch, workers=workers):
                self.write(result)
                done += 1
        return done

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

    def __enter__(self) -> Outputs:
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
