"""The loop every run shares: source -> preprocess -> engine -> postprocess -> results.

``Pipeline.results(source)`` yields one ``Result`` per frame, in order; whoever iterates
(``edgecam.predict``, a command writing to its sinks) takes each one before the next frame
is finished. A frame travels one way: each result carries a snapshot of the run's stats, and
switching models at run time goes through the controller hook (called between frames with
the newest stats), never through a consumer.

For files every frame is processed in order: decoding and preprocessing of the next frames
run in a thread of their own, and ``workers`` batches are inferred at once, each on one
onnxruntime thread (a session runs concurrent calls in parallel, on the callers' threads),
while the results are yielded in order. On small CPUs that beats splitting each convolution
over the cores (benchmarks/classify_vs_bare.py). Live sources hand over only their newest
frame and are processed in the caller's thread, so what is shown is never more than about
one frame old.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from edgecam.pipeline.metrics import RateMeter, StageTimes, rss_mb
from edgecam.pipeline.model import Answer, Controller, Model
from edgecam.pipeline.overlay import draw_overlay
from edgecam.pipeline.result import STATS_WINDOW, Result, Stats
from edgecam.pipeline.states import RegionStates
from edgecam.sources.frames import Frame, Source, Stream
from edgecam.util.signals import EndOfRun, StopFlag

Idle = Callable[[Stats, "Stream | None"], None]


@dataclass
class _Batch:
    """Frames preprocessed into the first rows of the model's input tensors (one per engine,
    a row per region per frame), to run in one call per engine."""

    frames: list[Frame]
    tensors: list[np.ndarray]  # [capacity x views, 3, R, R]; rows beyond the frames' unused
    decode_ms: float  # the whole batch's
    preprocess_ms: float


_END = object()
STATS_REFRESH_S = 0.5


class Pipeline:
    """Runs the frames of a source through a model and yields each result, in order.

    With ``overlay`` the frame is annotated (top-k, FPS, status lines) before it is yielded;
    ``keep_raw`` keeps a copy of the frame as the source gave it (``result.raw``). ``status``
    is a list the owner may change while running (the adapter rewrites its line);
    ``controller`` may swap the model between frames; ``on_idle`` hears the stats while a live
    source has no frame (reconnecting), so a preview keeps saying so.
    """

    def __init__(self, model: Model, *, stop: StopFlag | None = None,
                 controller: Controller | None = None, overlay: bool = False,
                 keep_raw: bool = False, status: list[str] | None = None,
                 on_idle: Idle | None = None) -> None:
        self.model = model
        self.stop = stop or StopFlag()
        self.controller = controller
        self.overlay = overlay
        self.keep_raw = keep_raw
        self.status = status if status is not None else []
        self.on_idle = on_idle
        self.times = StageTimes()
        self.latency = StageTimes()
        self.rate = RateMeter()
        self.frames = 0
        self.model_frames = 0  # frames of the current model
        self.states = RegionStates()  # each region's state, kept across model swaps
        self.switches: list[str] = []  # models the controller switched to, in order
        self.started = time.monotonic()
        self.first_result_s: float | None = None
        self._source: Source | None = None
        self._stream: Stream | None = None
        self._slow: dict | None = None
        self._slow_at = 0.0

    def results(self, source: Source, max_frames: int | None = None, *, prefetch: int = 3,
                stream: Stream | None = None, batch: int = 1, workers: int = 1
                ) -> Iterator[Result]:
        """Newest frames of a live source, every frame of anything else, as results.
        ``stream`` is what the results say about the source (by default: itself)."""
        self.attach(stream or Stream.of(source), source)
        if source.live:
            return self._live(source, max_frames)
        return self._file(source, max_frames, prefetch, batch, workers)

    @property
    def stream(self) -> Stream | None:
        """What the results say about their source (set by ``results`` or ``attach``)."""
        return self._stream

    def attach(self, stream: Stream, source: Source | None = None) -> Pipeline:
        """The stream results name and the source whose state and drops the stats report
        (``results`` attaches its own; results ``deliver``-ed from elsewhere need this)."""
        self._stream, self._source = stream, source
        size = source.size if source is not None else stream.size
        if size:  # a region that leaves the frame is said before the first frame
            self.model.place(size)
        return self

    # -- per batch (a live frame is a batch of one) -------------------------------------------

    def infer(self, batch: _Batch) -> tuple[list[Frame], list[np.ndarray], dict[str, float]]:
        """(frames, each engine's logits, the batch's stage times) of a prepared batch."""
        model = self.model
        if not model.fits(batch.tensors, len(batch.frames)):
            # prepared ahead for a model swapped out since; the decode thread may be using
            # the model's preprocessors (and their scratch buffers) right now, so this
            # thread uses its own
            batch = self.prepare(batch.frames, batch.decode_ms, fresh=True)
        t0 = time.perf_counter()
        logits = model.run(batch.tensors, len(batch.frames))
        return batch.frames, logits, {"decode": batch.decode_ms,
                                      "preprocess": batch.preprocess_ms,
                                      "infer": (time.perf_counter() - t0) * 1e3}

    def frame_results(self, frame: Frame, read_ms: float) -> Iterator[Result]:
        """One frame from preprocessing to its result."""
        return self.deliver(*self.infer(self.prepare([frame], read_ms)))

    def deliver(self, frames: list[Frame], logits: Sequence[np.ndarray],
                ms: dict[str, float]) -> Iterator[Result]:
        """Postprocess the logits of ``frames`` (each engine's, inferred here, with other
        cameras' frames or on a cluster) and yield each result, in order. ``ms`` are the
        batch's stage times, shared out per frame."""
        model = self.model
        t1 = time.perf_counter()
        answers = model.answers(logits, len(frames))
        n = len(frames)
        per_frame = {stage: value / n for stage, value in ms.items()}
        per_frame["postprocess"] = (time.perf_counter() - t1) * 1e3 / n
        for i, (frame, views) in enumerate(zip(frames, answers)):
            result = self._result(frame, views, dict(per_frame))
            yield result
            if self._taken(result, model) and i + 1 < n:
                # the controller swapped the model: the rest of the batch runs on the new one
                rest = self.prepare(frames[i + 1:], 0.0, fresh=True)
                yield from self.deliver(*self.infer(rest))
                return

    def _result(self, frame: Frame, answers: dict[str, Answer], ms: dict[str, float]
                ) -> Result:
        self.frames += 1
        self.model_frames += 1
        self.rate.tick()
        regions = self.states.update(self.model.views, answers, frame, self._stream)
        first = regions[0]
        result = Result(frame, first.top, ms, self.snapshot(), self._stream,
                        unknown=first.unknown, regions=regions,
                        whole=not self.model.regions)
        if self.keep_raw:
            # copied only when the overlay will draw on the frame
            result.raw = frame.image.copy() if self.overlay else frame.image
        if self.overlay:
            t0 = time.perf_counter()
            draw_overlay(frame.image, first.top, fps=result.stats.fps or None,
                         infer_ms=ms["infer"], status=result.stats.status,
                         unknown=first.unknown,
                         regions=() if result.whole else result.regions)
            ms["overlay"] = (time.perf_counter() - t0) * 1e3
        return result

    def _taken(self, result: Result, model: Model) -> bool:
        """The consumer has taken ``result``: account for it and ask the controller; True when
        it swapped the model."""
        done = time.monotonic()
        for stage, value in result.ms.items():
            self.times.add(stage, value)
        self.latency.add("frame", (done - result.frame.timestamp) * 1e3)
        if self.first_result_s is None:
            self.first_result_s = done - self.started
        if self.controller is None:
            return False
        try:
            swapped = self.controller(result.stats, model)
        except EndOfRun:
            self.stop.set()
            swapped = None
        if swapped is None or swapped is model:
            return False
        self.model = swapped
        self.switches.append(swapped.name)
        self.model_frames = 0
        self._slow = None  # stage means of the old model must not reach the new one
        return True

    def prepare(self, frames: list[Frame], decode_ms: float,
                out: list[np.ndarray] | None = None, fresh: bool = False) -> _Batch:
        """Preprocess frames into the rows of ``out`` (new tensors if they do not fit);
        ``fresh``: with preprocessors of this call's own (another thread may be using the
        model's)."""
        t0 = time.perf_counter()
        model = self.model
        if out is None or not model.fits(out, len(frames)):
            out = model.new_buffers(len(frames))
        for i, frame in enumerate(frames):
            model.fill(frame.image, i, out, fresh=fresh)
        return _Batch(frames, out, decode_ms, (time.perf_counter() - t0) * 1e3)

    # -- files: every frame, decode ahead in a thread, ``batch`` frames per inference ---------

    def _prefetch(self, source: Source, depth: int, size: int, limit: int | None,
                  hold: int = 0) -> Generator[_Batch, None, None]:
        """Batches prepared ``depth`` ahead in a thread. A batch's tensor is reused once the
        consumer has asked for ``hold`` + 1 more batches (``hold``: how many it may still be
        inferring when it asks for the next one)."""
        ready: queue.Queue = queue.Queue(maxsize=depth)
        free: queue.Queue = queue.Queue()
        held: deque[list[np.ndarray]] = deque()
        for _ in range(depth + hold + 2):
            free.put(self.model.new_buffers(size))
        error: list[BaseException] = []
        quit_ = threading.Event()

        def hand_over(item: object) -> None:
            """Queue an item for the consumer unless it has stopped taking them."""
            while not quit_.is_set():
                try:
                    ready.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue

        def produce() -> None:
            try:
                for frames, decode_ms in self._decoded(source, size, limit):
                    if quit_.is_set():
                        break
                    hand_over(self.prepare(frames, decode_ms, out=free.get()))
            except BaseException as exc:  # handed to the consumer, raised there
                error.append(exc)
            finally:
                hand_over(_END)

        thread = threading.Thread(target=produce, name="edgecam-decode", daemon=True)
        thread.start()
        try:
            while True:
                item = ready.get()
                if item is _END:
                    break
                yield item
                held.append(item.tensors)
                if len(held) > hold:
                    free.put(held.popleft())
        finally:
            quit_.set()
            thread.join(timeout=5)
        if error:
            raise error[0]

    def batches(self, source: Source, size: int = 1, limit: int | None = None,
                prefetch: int = 3, hold: int = 0) -> Generator[_Batch, None, None]:
        """The source's frames, decoded and preprocessed ``size`` at a time (in a thread
        ``prefetch`` batches ahead, or here with 0); close it when stopping early. ``hold``
        batches stay untouched after the consumer asks for the next (still being inferred)."""
        if size < 1:  # options are checked where the user gives them; this is a caller's bug
            raise ValueError(f"batch must be >= 1, got {size}")
        if prefetch > 0:
            return self._prefetch(source, prefetch, size, limit, hold)
        return self._sequential(source, size, limit)

    def _file(self, source: Source, max_frames: int | None, prefetch: int, batch: int,
              workers: int) -> Iterator[Result]:
        """Every frame of a file-like source in order, ``batch`` frames per session call and
        ``workers`` calls at once. A run with a controller infers one batch at a time, so a
        swapped model applies from the next frame on."""
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if workers > 1 and self.controller is None:
            queued = 2 * workers  # a worker that finishes finds its next batch waiting
            with contextlib.closing(self.batches(source, batch, max_frames,
                                                 max(prefetch, workers), hold=queued)) as items:
                yield from self._parallel(items, workers, queued)
            return
        with contextlib.closing(self.batches(source, batch, max_frames, prefetch)) as items:
            for item in items:
                yield from self.deliver(*self.infer(item))
                if self.stop.is_set():
                    break

    def _parallel(self, items: Iterable[_Batch], workers: int, queued: int
                  ) -> Iterator[Result]:
        """``workers`` batches in onnxruntime at once and up to ``queued`` handed to them;
        results yielded here, in order."""
        pending: deque[Future] = deque()
        with ThreadPoolExecutor(workers, thread_name_prefix="edgecam-infer") as pool:
            try:
                for item in items:
                    pending.append(pool.submit(self.infer, item))
                    while (pending and not self.stop.is_set()
                           and (len(pending) >= queued or pending[0].done())):
                        yield from self.deliver(*pending.popleft().result())
                    if self.stop.is_set():
                        break
                while pending and not self.stop.is_set():
                    yield from self.deliver(*pending.popleft().result())
            finally:
                for future in pending:
                    future.cancel()

    def _sequential(self, source: Source, size: int, limit: int | None
                    ) -> Generator[_Batch, None, None]:
        buf = self.model.new_buffers(size)
        for frames, decode_ms in self._decoded(source, size, limit):
            yield self.prepare(frames, decode_ms, out=buf)

    @staticmethod
    def _decoded(source: Source, size: int, limit: int | None
                 ) -> Iterator[tuple[list[Frame], float]]:
        """The source's frames in order, ``size`` at a time (fewer at the end or at ``limit``),
        each group with the ms it took to decode."""
        frames = iter(source)
        left = limit if limit is not None else -1
        while left != 0:
            group: list[Frame] = []
            t0 = time.perf_counter()
            while len(group) < size and left != 0:
                frame = next(frames, None)
                if frame is None:
                    break
                group.append(frame)
                left -= 1
            if group:
                yield group, (time.perf_counter() - t0) * 1e3
            if len(group) < size:
                return

    # -- live: newest frame only -------------------------------------------------------------

    def _live(self, source: Source, max_frames: int | None = None, poll_s: float = 0.25
              ) -> Iterator[Result]:
        """The newest frame whenever one arrives; while the source has nothing (reconnecting)
        ``on_idle`` gets the stats alone, so a preview keeps saying so."""
        done = 0
        buf = self.model.new_buffers(1)
        while not self.stop.is_set():
            t0 = time.perf_counter()
            frame = source.read(poll_s)
            decode_ms = (time.perf_counter() - t0) * 1e3
            if frame is None:
                if source.state == "ended":
                    break
                self.idle()
                continue
            batch = self.prepare([frame], decode_ms, out=buf)
            buf = batch.tensors  # new ones when the model was swapped
            yield from self.deliver(*self.infer(batch))
            done += 1
            if max_frames is not None and done >= max_frames:
                break

    def idle(self) -> None:
        """The source has no frame (reconnecting): ``on_idle`` gets the stats alone."""
        if self.on_idle is not None:
            self.on_idle(self.snapshot(), self._stream)

    # -- what every result carries -----------------------------------------------------------

    def snapshot(self) -> Stats:
        """The stats as of now. The averages and the memory figure move slowly, so they are
        recomputed at most every ``STATS_REFRESH_S`` instead of on every frame (and at once
        after a model swap)."""
        now = time.monotonic()
        if self._slow is None or now - self._slow_at >= STATS_REFRESH_S:
            window = min(STATS_WINDOW, self.model_frames) or STATS_WINDOW
            self._slow = {
                "latency_ms": round(self.latency.mean("frame", STATS_WINDOW), 2),
                "stages_ms": self.times.means(last=window),
                "rss_mb": round(rss_mb(), 1),
            }
            self._slow_at = now
        source = self._source
        state = source.state if source is not None else "starting"
        status = tuple(self.status)
        if state == "reconnecting" and source is not None:
            status += (f"reconnecting to {source.uri}...",)
        return Stats(fps=round(self.rate.fps, 2) if state != "reconnecting" else 0.0,
                     frames=self.frames, model=self.model.name,
                     model_frames=self.model_frames, state=state,
                     dropped=source.dropped if source is not None else 0,
                     attempts=source.attempts if source is not None else 0,
                     status=status, camera=self._stream.index if self._stream else 0,
                     **self._slow)
