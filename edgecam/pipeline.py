"""The loop every command shares: source -> preprocess -> engine -> postprocess -> handlers.

A frame travels one way. For files every frame is processed in order; decoding and
preprocessing of the next frames run in a second thread while onnxruntime works on the current
one (both release the GIL), so the pipeline keeps up with a bare sequential loop and overtakes
it. Live sources hand over only their newest frame and are processed in the caller's thread,
so what is shown is never more than about one frame old.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from edgecam.errors import EdgecamError
from edgecam.io.sources import Frame, Source
from edgecam.metrics import RateMeter, StageTimes, rss_mb
from edgecam.runtime.engine import Engine
from edgecam.runtime.postprocess import Postprocessor, Prediction
from edgecam.runtime.preprocess import Preprocessor
from edgecam.signals import StopFlag


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


@dataclass
class Result:
    frame: Frame
    top: list[Prediction]
    ms: dict[str, float] = field(default_factory=dict)  # this frame's stage times

    def record(self) -> dict:
        """The JSON line every command writes: frame, source, top-k."""
        return {"frame": self.frame.index, "source": self.frame.source,
                "top": [p.to_dict() for p in self.top]}


Handler = Callable[[Result], None]


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
    """Runs frames of a source through a model and hands each result to the handlers.

    ``stats`` and ``rate`` are live: the overlay, the preview server and ``bench`` read them.
    """

    def __init__(self, model: Model, handlers: list[Handler] | None = None,
                 stop: StopFlag | None = None) -> None:
        self.model = model
        self.handlers = list(handlers or [])
        self.stop = stop or StopFlag()
        self.times = StageTimes()
        self.latency = StageTimes()
        self.rate = RateMeter()
        self.frames = 0
        self.state = "starting"
        self.status: list[str] = []  # extra overlay lines (reconnecting, running config...)
        self.started = time.monotonic()
        self.first_result_s: float | None = None
        self._slow_stats: dict | None = None
        self._slow_stats_at = 0.0

    # -- per batch (a live frame is a batch of one) -------------------------------------------

    def _finish(self, batch: _Batch) -> None:
        model = self.model
        if batch.tensor.shape[-1] != model.pre.resolution:
            # prepared ahead for a model swapped out since; the decode thread may be using
            # model.pre (and its scratch buffers) right now, so this thread uses its own
            batch = self._prepare(batch.frames, batch.decode_ms, Preprocessor(model.meta))
        t0 = time.perf_counter()
        logits = model.engine.run(batch.inputs)
        t1 = time.perf_counter()
        tops = model.post.batch(logits)
        t2 = time.perf_counter()
        n = len(batch.frames)
        per_frame = {"decode": batch.decode_ms / n, "preprocess": batch.preprocess_ms / n,
                     "infer": (t1 - t0) * 1e3 / n, "postprocess": (t2 - t1) * 1e3 / n}
        add_time, add_latency, tick = self.times.add, self.latency.add, self.rate.tick
        for frame, top in zip(batch.frames, tops):
            result = Result(frame, top, dict(per_frame))
            for handler in self.handlers:
                handler(result)
            done = time.monotonic()
            for stage, value in result.ms.items():
                add_time(stage, value)
            add_latency("frame", (done - frame.timestamp) * 1e3)
            tick(done)
        self.frames += n
        if self.first_result_s is None:
            self.first_result_s = time.monotonic() - self.started

    def _prepare(self, frames: list[Frame], decode_ms: float, pre: Preprocessor | None = None,
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
            on_idle: Callable[[], None] | None = None, batch: int = 1) -> int:
        """Newest frames of a live source, every frame of anything else; frames processed."""
        if source.live:
            return self.run_live(source, max_frames, on_idle=on_idle)
        return self.run_file(source, max_frames, prefetch=prefetch, batch=batch)

    # -- files: every frame, decode ahead in a thread, ``batch`` frames per inference ---------

    def _prefetch(self, source: Source, depth: int, size: int, limit: int | None
                  ) -> Iterator[_Batch]:
        ready: queue.Queue = queue.Queue(maxsize=depth)
        free: queue.Queue = queue.Queue()
        for _ in range(depth + 2):
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
                    hand_over(self._prepare(frames, decode_ms, out=free.get()))
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
                free.put(item.tensor)
        finally:
            quit_.set()
            thread.join(timeout=5)
        if error:
            raise error[0]

    def run_file(self, source: Source, max_frames: int | None = None,
                 prefetch: int = 3, batch: int = 1) -> int:
        """Process every frame of a file-like source in order, ``batch`` frames per session
        call (fewer calls, better use of the cores on batched convolutions); returns frames
        processed."""
        if batch < 1:
            raise EdgecamError(f"--batch must be >= 1, got {batch}")
        self.state = "running"
        done = 0
        items = (self._prefetch(source, prefetch, batch, max_frames) if prefetch > 0
                 else self._sequential(source, batch, max_frames))
        try:
            for item in items:
                self._finish(item)
                done += len(item.frames)
                if self.stop.is_set():
                    break
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        return done

    def _sequential(self, source: Source, size: int, limit: int | None) -> Iterator[_Batch]:
        buf = self.model.pre.new_buffer(size)
        for frames, decode_ms in self._decoded(source, size, limit):
            yield self._prepare(frames, decode_ms, out=buf)

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
                 on_idle: Callable[[], None] | None = None, poll_s: float = 0.25) -> int:
        """Process the newest frame whenever one arrives; ``on_idle`` runs while the source has
        nothing (reconnecting), so the caller can keep its window and stats alive."""
        done = 0
        buf = self.model.pre.new_buffer()
        while not self.stop.is_set():
            t0 = time.perf_counter()
            frame = source.read(poll_s)
            decode_ms = (time.perf_counter() - t0) * 1e3
            self.state = source.state
            if frame is None:
                if source.state == "ended":
                    break
                if on_idle is not None:
                    on_idle()
                continue
            batch = self._prepare([frame], decode_ms, out=buf)
            buf = batch.tensor  # a new one when the model was swapped
            self._finish(batch)
            done += 1
            if max_frames is not None and done >= max_frames:
                break
        return done

    # -- what the overlay, the preview and bench read ----------------------------------------

    def stats(self, top: list[Prediction] | None = None, dropped: int = 0) -> dict:
        """What the preview and MQTT show. The preview and MQTT handlers ask on every frame;
        the averages and the memory figure move slowly, so they are recomputed at most every
        ``STATS_REFRESH_S`` instead of on the hot path."""
        now = time.monotonic()
        if self._slow_stats is None or now - self._slow_stats_at >= STATS_REFRESH_S:
            self._slow_stats = {
                "latency_ms": round(self.latency.mean("frame", 30), 2),
                "stages_ms": self.times.means(last=30),
                "rss_mb": round(rss_mb(), 1),
            }
            self._slow_stats_at = now
        return {
            "fps": round(self.rate.fps, 2),
            "top": [p.to_dict() for p in (top or [])],
            "model": self.model.name,
            "frames": self.frames,
            "dropped": dropped,
            "state": self.state,
            **self._slow_stats,
        }
