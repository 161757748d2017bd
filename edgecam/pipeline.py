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
        """The JSON line every command writes: frame, source, its time in a video file
        (``time_ms``, kept as the file has it, so a variable frame rate survives), top-k."""
        record: dict = {"frame": self.frame.index, "source": self.frame.source}
        if self.frame.time_ms is not None:
            record["time_ms"] = self.frame.time_ms
        record["top"] = [p.to_dict() for p in self.top]
        return record


Handler = Callable[[Result], None]


@dataclass
class _Prepared:
    frame: Frame
    tensor: np.ndarray
    decode_ms: float
    preprocess_ms: float


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

    # -- per frame ---------------------------------------------------------------------------

    def _finish(self, prep: _Prepared) -> Result:
        model = self.model
        if prep.tensor.shape[-1] != model.pre.resolution:
            # prepared ahead for a model swapped out since; the decode thread may be using
            # model.pre (and its scratch buffers) right now, so this thread uses its own
            t0 = time.perf_counter()
            tensor = Preprocessor(model.meta)(prep.frame.image)
            prep = _Prepared(prep.frame, tensor, prep.decode_ms,
                             (time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        logits = model.engine.run(prep.tensor)
        t1 = time.perf_counter()
        top = model.post(logits[0])
        t2 = time.perf_counter()
        ms = {"decode": prep.decode_ms, "preprocess": prep.preprocess_ms,
              "infer": (t1 - t0) * 1e3, "postprocess": (t2 - t1) * 1e3}
        result = Result(prep.frame, top, ms)
        for handler in self.handlers:
            handler(result)
        done = time.monotonic()
        for stage, value in ms.items():
            self.times.add(stage, value)
        self.latency.add("frame", (done - prep.frame.timestamp) * 1e3)
        self.rate.tick(done)
        self.frames += 1
        if self.first_result_s is None:
            self.first_result_s = done - self.started
        return result

    def _prepare(self, frame: Frame, decode_ms: float, out: np.ndarray | None = None
                 ) -> _Prepared:
        t0 = time.perf_counter()
        pre = self.model.pre
        if out is not None and out.shape[-1] != pre.resolution:
            out = None  # a buffer of the model before a swap
        tensor = pre(frame.image, out)
        return _Prepared(frame, tensor, decode_ms, (time.perf_counter() - t0) * 1e3)

    def run(self, source: Source, max_frames: int | None = None, prefetch: int = 3,
            on_idle: Callable[[], None] | None = None) -> int:
        """Newest frames of a live source, every frame of anything else; frames processed."""
        if source.live:
            return self.run_live(source, max_frames, on_idle=on_idle)
        return self.run_file(source, max_frames, prefetch=prefetch)

    # -- files: every frame, decode ahead in a thread -----------------------------------------

    def _prefetch(self, source: Source, depth: int) -> Iterator[_Prepared]:
        ready: queue.Queue = queue.Queue(maxsize=depth)
        free: queue.Queue = queue.Queue()
        for _ in range(depth + 2):
            free.put(self.model.pre.new_buffer())
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
                for frame, decode_ms in self._decoded(source):
                    if quit_.is_set():
                        break
                    hand_over(self._prepare(frame, decode_ms, free.get()))
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
                 prefetch: int = 3) -> int:
        """Process every frame of a file-like source in order; returns frames processed."""
        self.state = "running"
        done = 0
        items = (self._prefetch(source, prefetch) if prefetch > 0
                 else self._sequential(source))
        try:
            for prep in items:
                self._finish(prep)
                done += 1
                if self.stop.is_set() or (max_frames is not None and done >= max_frames):
                    break
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        return done

    def _sequential(self, source: Source) -> Iterator[_Prepared]:
        buf = self.model.pre.new_buffer()
        for frame, decode_ms in self._decoded(source):
            yield self._prepare(frame, decode_ms, buf)

    @staticmethod
    def _decoded(source: Source) -> Iterator[tuple[Frame, float]]:
        """The source's frames in order, each with the ms it took to decode."""
        frames = iter(source)
        while True:
            t0 = time.perf_counter()
            frame = next(frames, None)
            if frame is None:
                return
            yield frame, (time.perf_counter() - t0) * 1e3

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
            if buf.shape[-1] != self.model.pre.resolution:
                buf = self.model.pre.new_buffer()  # the model was swapped
            self._finish(self._prepare(frame, decode_ms, buf))
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
            "fps": round(self.rate.fps, 2) if self.state != "reconnecting" else 0.0,
            "top": [p.to_dict() for p in (top or [])],
            "model": self.model.name,
            "frames": self.frames,
            "dropped": dropped,
            "state": self.state,
            **self._slow_stats,
        }
