"""What runs on a Dask worker: one task's frames decoded, preprocessed and inferred by the same
pipeline as a local run, with the model loaded once per worker process. Logits go back, so the
client postprocesses exactly as a local run does."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecam.cluster.tasks import FileCheck, Task, file_check
from edgecam.pipeline.loop import Model, Pipeline
from edgecam.runtime.engine import Engine
from edgecam.sources.files import FileListSource, VideoFileSource
from edgecam.sources.media import set_max_pixels
from edgecam.util.atomic import write_whole
from edgecam.util.device import default_threads
from edgecam.util.errors import EdgecamError


@dataclass(frozen=True)
class TaskSettings:
    batch: int = 1
    threads: int | None = None  # onnxruntime threads per task (None: cores / worker threads)
    max_pixels: int | None = None  # pictures above are refused (None: edgecam's default)
    skip_unreadable: bool = False  # a run over many files passes unreadable ones over


@dataclass
class TaskResult:
    frames: list[tuple[int, str, float | None]]  # (index, source, time_ms) of each, in order
    logits: np.ndarray  # [frames, classes]
    ms: dict[str, float]  # decode, preprocess, infer: the task's totals
    skipped: list[tuple[str, str]] = field(default_factory=list)  # unreadable (path, why)


_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def engine_for(model: bytes, threads: int) -> Engine:
    """This worker's session for ``model``: the ONNX bytes arrive once per worker (scattered by
    the client) and are loaded the first time a task needs them."""
    key = hashlib.sha256(model).hexdigest()[:16] + f"-{threads}"
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            folder = Path(tempfile.gettempdir()) / f"edgecam-cluster-{os.getuid()}"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{key}.onnx"
            if not path.is_file():
                write_whole(path, model)
            engine = _engines[key] = Engine(path, threads, spin=False)
    return engine


def worker_threads() -> int:
    """Tasks this worker runs at once (Dask's ``--nthreads``), 1 outside a worker."""
    try:
        from distributed import get_worker

        return max(1, get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return 1


def worker_address() -> str:
    """This worker's address, for messages about what it sees."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError, AttributeError):
        return "(not in a worker)"


_checked: dict[tuple[str, int, int], FileCheck] = {}


def check_same_file(path: str, want: FileCheck) -> None:
    """The file at ``path`` here must be the client's (size and first MB), or the results
    would belong to another file under the client's name."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise EdgecamError(f"{path} is missing on the Dask worker {worker_address()} (the "
                           "inputs must be at the same paths on every worker)") from None
    except OSError as exc:
        raise EdgecamError(f"cannot read {path} on the Dask worker {worker_address()}: "
                           f"{exc.strerror or exc}") from None
    key = (path, st.st_size, st.st_mtime_ns)
    with _lock:
        seen = _checked.get(key)
    if seen is None:
        try:
            seen = file_check(path)
        except OSError as exc:
            raise EdgecamError(f"cannot read {path} on the Dask worker {worker_address()}: "
                               f"{exc.strerror or exc}") from None
        with _lock:
            _checked[key] = seen
    if seen != want:
        how = (f"{seen[0]} bytes there, {want[0]} on the client" if seen[0] != want[0]
               else "its first MB differs from the client's")
        raise EdgecamError(f"{path} on the Dask worker {worker_address()} is not the client's "
                           f"file ({how}); the inputs must be the same files at the same paths "
                           "on every worker")


def run_task(model: bytes, task: Task, settings: TaskSettings) -> TaskResult:
    for path, want in zip(task.paths, task.checks):
        check_same_file(path, want)
    set_max_pixels(settings.max_pixels)
    threads = settings.threads or max(1, default_threads() // worker_threads())
    pipeline = Pipeline(Model(engine_for(model, threads)))
    skipped: list[tuple[str, str]] = []

    def skip(path: str, exc: EdgecamError) -> None:
        skipped.append((path, str(exc)))

    source: FileListSource | VideoFileSource
    if task.pictures:
        source = FileListSource(list(task.paths), "images", task.start,
                                on_skip=skip if settings.skip_unreadable else None)
    else:
        try:
            source = VideoFileSource(task.paths[0], task.start, task.stop)
        except EdgecamError as exc:
            if not settings.skip_unreadable:
                raise
            skip(task.paths[0], exc)
            return TaskResult([], np.zeros((0, len(pipeline.model.meta.labels)), np.float32),
                              {}, skipped)
    frames: list[tuple[int, str, float | None]] = []
    logits: list[np.ndarray] = []
    ms = {"decode": 0.0, "preprocess": 0.0, "infer": 0.0}
    with source, contextlib.closing(pipeline.batches(source, settings.batch)) as batches:
        for batch in batches:
            done, out, times = pipeline.infer(batch)
            frames += [(f.index, f.source, f.time_ms) for f in done]
            logits.append(np.array(out[0], np.float32))  # one engine: the whole frame
            for stage, value in times.items():
                ms[stage] += value
    classes = len(pipeline.model.meta.labels)
    return TaskResult(frames, np.concatenate(logits) if logits else
                      np.zeros((0, classes), np.float32), ms, skipped)
