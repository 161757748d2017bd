"""What runs on a Dask worker: one task's frames decoded, preprocessed and inferred by the same
pipeline as a local run, with the model loaded once per worker process. Logits go back, so the
client postprocesses exactly as a local run does."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecam.cluster.tasks import Task
from edgecam.pipeline.loop import Model, Pipeline
from edgecam.runtime.engine import Engine
from edgecam.sources.files import FileListSource, VideoFileSource
from edgecam.util.device import default_threads


@dataclass(frozen=True)
class TaskSettings:
    batch: int = 1
    threads: int | None = None  # onnxruntime threads per task (None: cores / worker threads)


@dataclass
class TaskResult:
    frames: list[tuple[int, str, float | None]]  # (index, source, time_ms) of each, in order
    logits: np.ndarray  # [frames, classes]
    ms: dict[str, float]  # decode, preprocess, infer: the task's totals


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
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_bytes(model)
                os.replace(tmp, path)
            engine = _engines[key] = Engine(path, threads, spin=False)
    return engine


def worker_threads() -> int:
    """Tasks this worker runs at once (Dask's ``--nthreads``), 1 outside a worker."""
    try:
        from distributed import get_worker

        return max(1, get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return 1


def run_task(model: bytes, task: Task, settings: TaskSettings) -> TaskResult:
    threads = settings.threads or max(1, default_threads() // worker_threads())
    pipeline = Pipeline(Model(engine_for(model, threads)))
    source: FileListSource | VideoFileSource
    if task.pictures:
        source = FileListSource(list(task.paths), "images", task.start)
    else:
        source = VideoFileSource(task.paths[0], task.start, task.stop)
    frames: list[tuple[int, str, float | None]] = []
    logits: list[np.ndarray] = []
    ms = {"decode": 0.0, "preprocess": 0.0, "infer": 0.0}
    with source, contextlib.closing(pipeline.batches(source, settings.batch)) as batches:
        for batch in batches:
            done, out, times = pipeline.infer(batch)
            frames += [(f.index, f.source, f.time_ms) for f in done]
            logits.append(np.array(out, np.float32))
            for stage, value in times.items():
                ms[stage] += value
    classes = len(pipeline.model.meta.labels)
    return TaskResult(frames, np.concatenate(logits) if logits else
                      np.zeros((0, classes), np.float32), ms)
