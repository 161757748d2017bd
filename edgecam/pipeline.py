"""The loop every command shares: source -> preprocess -> engine -> postprocess -> sinks.

A frame travels one way: each result carries a snapshot of the run's stats, so sinks never
ask the pipeline anything, and switching models at run time goes through the controller hook
(called between frames with the newest stats), not through a sink.

For files every frame is processed in order: decoding and preprocessing of the next frames
run in a thread of their own, and ``workers`` batches are inferred at once, each on one
onnxruntime thread (a session runs concurrent calls in parallel, on the callers' threads), while
the caller hands the results to the sinks in order. On small CPUs that beats splitting each
convolution over the cores (benchmarks/classify_vs_bare.py). Live sources hand over only their
newest frame and are processed in the caller's thread, so what is shown is never more than
about one frame old.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from edgecam.errors import EdgecamError
from edgecam.io.frames import Frame, Source, Stream
from edgecam.io.overlay import draw_overlay
from edgecam.metrics import RateMeter, StageTimes, rss_mb
from edgecam.runtime.engine import Engine
from edgecam.runtime.postprocess import Postprocessor, Prediction
from edgecam.runtime.preprocess import Preprocessor
from edgecam.signals import EndOfRun, StopFlag

if TYPE_CHECKING:
    from edgecam.sinks.base import Sink


class Model:
    """An engine with its pre- and postprocessing: what the loop needs to turn a frame into
    predictions (swapped as a whole when the run adapts to a slower device)."""

    def __init__(self, engine: Engine, top_k: int = 5, threshold: float = 0.0,
                 smoothing: float = 0.0) -> None:
        self.engine = engine
        self.meta = engine.meta
        self.pre = Preprocessor(engine.meta)
        self.post = Postprocessor(engine.meta.labels, top_k, threshold, smoothing)

    @property
    def name(self) -> str:
        return self.meta.name


STATS_WINDOW = 30  # frames the stage-time means cover


@dataclass(frozen=True)
class Stats:
    """The run as of one result: what the overlay, the preview, MQTT and a controller read.

    ``stages_ms`` are means over the current model's last ``STATS_WINDOW`` frames only (never
    a model swapped out), ``model_frames`` counts that model's frames since it started.
    """

    fps: float = 0.0
    frames: int = 0
    model: str = ""
    model_frames: int = 0
    state: str = "starting"
    dropped: int = 0
    latency_ms: float = 0.0
    stages_ms: dict[str, float] = field(default_factory=dict)
    rss_mb: float = 0.0
    status: tuple[str, ...] = ()  # overlay lines: reconnecting, the running config...

    def to_dict(self, top: Sequence[Prediction] = ()) -> dict:
        """The JSON the preview's /stats.json and the MQTT heartbeat publish."""
        return {"fps": self.fps, "top": [p.to_dict() for p in top], "model": self.model,
                "frames": self.frames, "dropped": self.dropped, "state": self.state,
                "latency_ms": self.latency_ms, "stages_ms": self.stages_ms,
                "rss_mb": self.rss_mb}


@dataclass
class Result:
    frame: Frame
    top: list[Prediction]
    ms: dict[str, float] = field(default_factory=dict)  # this frame's stage times
    stats: Stats = field(default_factory=Stats)
    stream: Stream | None = None
    raw: np.ndarray | None = None  # the frame before the overlay, when a sink needs_raw

    def record(self) -> dict:
        """The JSON line every command writes: frame, source, its time in a video file
        (``time_ms``, kept as the file has it, so a variable frame rate survives), the model
        that made it (a run may switch models), top-k."""
        record: dict = {"frame": self.frame.index, "source": self.frame.source}
        if self.frame.time_ms is not None:
            record["time_ms"] = self.frame.time_ms
        record["model"] = self.stats.model
        record["top"] = [p.to_dict() for p in self.top]
        return record


class Controller(Protocol):
    """The pipeline's hook for changing models at run time (``live --profile``).

    Called in the pipeline's thread after each result has gone to the sinks and before the
    next frame is prepared, with that result's stats and the model running now. Return a new
    ``Model`` to run from the next frame on (frames already prepared at another resolution
    are prepared again), or None to keep the current one; raise ``EndOfRun`` to end the run.
    It must be quick: it runs once per frame.
    """

    def __call__(self, stats: Stats, model: Model) -> Model | None: ...


@dataclass
class _Batch:
    """Frames preprocessed into the first rows of one input tensor, to run in one call."""

    frames: list[Frame]
    tensor: np.ndarray  # [capacity, 3, R, R]; rows beyond len(frames) are unused
    decode_ms: float  # the whole batch's
    preprocess_ms: float

    @property
    def inputs(self) -> np.ndarray:
        return self.tensor[:len(self.frames)]


_END = object()
STATS_REFRESH_S = 0.5


class Pipeline:
    """Runs frames of a source through a model and hands each result to the sinks, in order.

    With ``overlay`` the frame is annotated (top-k, FPS, status lines) before any sink sees
    it. ``status`` is a list the owner may change while running (the adapter rewrites its
    line); ``controller`` may swap the model between frames.
    """

    def __init__(self, model: Model, sinks: Sequence[Sink] = (), *, stop: StopFlag | None = None,
                 controller: Controller | None = None, overlay: bool = False,
                 status: list[str] | None = None) -> None:
        self.model = model
        self.sinks = list(sinks)
        self.stop = stop or StopFlag()
        self.controller = controller
        self.overlay = overlay
        self.status = status if status is not None else []
        self.times = StageTimes()
        self.latency = StageTimes()
        self.rate = RateMeter()
        self.frames = 0
        self.model_frames = 0  # frames of the current model
        self.switches: list[str] = []  # models the controller switched to, in order
        self.started = time.monotonic()
        self.first_result_s: float | None = None
        self._source: Source | None = None
        self._stream: Stream | None = None
        self._slow: dict | None = None
        self._slow_at = 0.0

    # -- per batch (a live frame is a batch of one) -------------------------------------------

    def infer(self, batch: _Batch) -> tuple[list[Frame], np.ndarray, dict[str, float]]:
        """(frames, logits, the batch's stage times) of a prepared batch."""
        model = self.model
        if batch.tensor.shape[-1] != model.pre.resolution:
            # prepared ahead for a model swapped out since; the decode thread may be using
            # model.pre (and its scratch buffers) right now, so this thread uses its own
            batch = self.prepare(batch.frames, batch.decode_ms, Preprocessor(model.meta))
        t0 = time.perf_counter()
        logits = model.engine.run(batch.inputs)
        return batch.frames, logits, {"decode": batch.decode_ms,
                                      "preprocess": batch.preprocess_ms,
                                      "infer": (time.perf_counter() - t0) * 1e3}

    def _finish(self, batch: _Batch) -> None:
        self.deliver(*self.infer(batch))

    def finish_frame(self, frame: Frame, read_ms: float) -> None:
        """One frame from preprocessing to the sinks."""
        self._finish(self.prepare([frame], read_ms))

    def attach(self, stream: Stream, source: Source | None = None) -> Pipeline:
        """The stream results name and the source whose state and drops the stats report
        (``run`` attaches its own; results ``deliver``-ed from elsewhere need this)."""
        self._stream, self._source = stream, source
        return self

    def deliver(self, frames: list[Frame], logits: np.ndarray, ms: dict[str, float]) -> None:
        """Postprocess the logits of ``frames`` (inferred here, with other cameras' frames or
        on a cluster) and hand each result to the sinks, in order. ``ms`` are the batch's
        stage times, shared out per frame."""
        model = self.model
        t1 = time.perf_counter()
        tops = model.post.batch(logits)
        n = len(frames)
        per_frame = {stage: value / n for stage, value in ms.items()}
        per_frame["postprocess"] = (time.perf_counter() - t1) * 1e3 / n
        for i, (frame, top) in enumerate(zip(frames, tops)):
            if self._finish_one(frame, top, dict(per_frame), model) and i + 1 < n:
                # the controller swapped the model: the rest of the batch runs on the new one
                rest = frames[i + 1:]
                self._finish(self.prepare(rest, 0.0, Preprocessor(self.model.meta)))
                return

    def _finish_one(self, frame: Frame, top: list[Prediction], ms: dict[str, float],
                    model: Model) -> bool:
        """One result to the sinks; True when the controller swapped the model."""
        self.frames += 1
        self.model_frames += 1
        self.rate.tick()
        result = Result(frame, top, ms, self.snapshot(), self._stream)
        if any(getattr(sink, "needs_raw", False) for sink in self.sinks):
            # copied only when the overlay will draw on the frame and a sink asked for it
            result.raw = frame.image.copy() if self.overlay else frame.image
        if self.overlay:
            t0 = time.perf_counter()
            draw_overlay(frame.image, top, fps=result.stats.fps or None,
                         infer_ms=ms["infer"], status=result.stats.status)
            ms["overlay"] = (time.perf_counter() - t0) * 1e3
        for sink in self.sinks:
            try:
                sink.write(result)
            except EndOfRun:
                self.stop.set()
        done = time.monotonic()
        for stage, value in ms.items():
            self.times.add(stage, value)
        self.latency.add("frame", (done - frame.timestamp) * 1e3)
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

    def prepare(self, frames: list[Frame], decode_ms: float, pre: Preprocessor | None = None,
                 out: np.ndarray | None = None) -> _Batch:
        """Preprocess frames into the rows of ``out`` (a new tensor if it does not fit)."""
        t0 = time.perf_counter()
        pre = pre or self.model.pre
        if out is None or out.shape[-1] != pre.resolution or out.shape[0] < len(frames):
            out = pre.new_buffer(len(frames))
        for i, frame in enumerate(frames):
            pre(frame.image, out[i:i + 1])
        return _Batch(frames, out, decode_ms, (time.perf_counter() - t0) * 1e3)

    def run(self, source: Source, max_frames: int | None = None, prefetch: int = 3,
            stream: Stream | None = None, batch: int = 1, workers: int = 1) -> int:
        """Newest frames of a live source, every frame of anything else; frames processed.
        ``stream`` is what the results tell sinks about the source (by default: itself)."""
        if source.live:
            return self.run_live(source, max_frames, stream=stream)
        return self.run_file(source, max_frames, prefetch=prefetch, stream=stream, batch=batch,
                             workers=workers)

    def _bind(self, source: Source, stream: Stream | None) -> None:
        self.attach(stream or Stream.of(source), source)

    # -- files: every frame, decode ahead in a thread, ``batch`` frames per inference ---------

    def _prefetch(self, source: Source, depth: int, size: int, limit: int | None,
                  hold: int = 0) -> Iterator[_Batch]:
        """Batches prepared ``depth`` ahead in a thread. A batch's tensor is reused once the
        consumer has asked for ``hold`` + 1 more batches (``hold``: how many it may still be
        inferring when it asks for the next one)."""
        ready: queue.Queue = queue.Queue(maxsize=depth)
        free: queue.Queue = queue.Queue()
        held: deque[np.ndarray] = deque()
        for _ in range(depth + hold + 2):
            free.put(self.model.pre.new_buffer(size))
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
                held.append(item.tensor)
                if len(held) > hold:
                    free.put(held.popleft())
        finally:
            quit_.set()
            thread.join(timeout=5)
        if error:
            raise error[0]

    def batches(self, source: Source, size: int = 1, limit: int | None = None,
                prefetch: int = 3, hold: int = 0) -> Iterator[_Batch]:
        """The source's frames, decoded and preprocessed ``size`` at a time (in a thread
        ``prefetch`` batches ahead, or here with 0); close it when stopping early. ``hold``
        batches stay untouched after the consumer asks for the next (still being inferred)."""
        if size < 1:
            raise EdgecamError(f"--batch must be >= 1, got {size}")
        if prefetch > 0:
            return self._prefetch(source, prefetch, size, limit, hold)
        return self._sequential(source, size, limit)

    def run_file(self, source: Source, max_frames: int | None = None,
                 prefetch: int = 3, stream: Stream | None = None, batch: int = 1,
                 workers: int = 1) -> int:
        """Process every frame of a file-like source in order, ``batch`` frames per session
        call and ``workers`` calls at once; returns frames processed. A run with a controller
        infers one batch at a time, so a swapped model applies from the next frame on."""
        if workers < 1:
            raise EdgecamError(f"--workers must be >= 1, got {workers}")
        self._bind(source, stream)
        if workers > 1 and self.controller is None:
            queued = 2 * workers  # a worker that finishes finds its next batch waiting
            with contextlib.closing(self.batches(source, batch, max_frames,
                                                 max(prefetch, workers), hold=queued)) as items:
                return self._run_parallel(items, workers, queued)
        done = 0
        with contextlib.closing(self.batches(source, batch, max_frames, prefetch)) as items:
            for item in items:
                self._finish(item)
                done += len(item.frames)
                if self.stop.is_set():
                    break
        return done

    def _run_parallel(self, items: Iterable[_Batch], workers: int, queued: int) -> int:
        """``workers`` batches in onnxruntime at once and up to ``queued`` handed to them;
        results delivered here, in order."""
        done = 0
        pending: deque[Future] = deque()

        def deliver_oldest() -> None:
            nonlocal done
            frames, logits, ms = pending.popleft().result()
            self.deliver(frames, logits, ms)
            done += len(frames)

        with ThreadPoolExecutor(workers, thread_name_prefix="edgecam-infer") as pool:
            try:
                for item in items:
                    pending.append(pool.submit(self.infer, item))
                    while (pending and not self.stop.is_set()
                           and (len(pending) >= queued or pending[0].done())):
                        deliver_oldest()
                    if self.stop.is_set():
                        break
                while pending and not self.stop.is_set():
                    deliver_oldest()
            finally:
                for future in pending:
                    future.cancel()
        return done

    def _sequential(self, source: Source, size: int, limit: int | None) -> Iterator[_Batch]:
        buf = self.model.pre.new_buffer(size)
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

    def run_live(self, source: Source, max_frames: int | None = None,
                 poll_s: float = 0.25, stream: Stream | None = None) -> int:
        """Process the newest frame whenever one arrives; while the source has nothing
        (reconnecting) the sinks get the stats alone, so a preview keeps saying so."""
        self._bind(source, stream)
        done = 0
        buf = self.model.pre.new_buffer()
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
            buf = batch.tensor  # a new one when the model was swapped
            self._finish(batch)
            done += 1
            if max_frames is not None and done >= max_frames:
                break
        return done

    def idle(self) -> None:
        """The source has no frame (reconnecting): sinks get the stats alone, so a preview
        keeps saying so."""
        stats = self.snapshot()
        for sink in self.sinks:
            sink.idle(stats, self._stream)

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
                     status=status, **self._slow)
