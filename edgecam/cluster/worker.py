"""What runs on a Dask worker: one task through the same pipeline as a local run, with the
model loaded once per worker process however many tasks it runs."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from edgecam.cluster.tasks import Task
from edgecam.io.files import FileListSource, VideoFileSource
from edgecam.pipeline import Model, Pipeline
from edgecam.runtime.engine import Engine, default_threads


@dataclass(frozen=True)
class TaskSettings:
    top_k: int = 5
    threshold: float = 0.0
    batch: int = 8
    threads: int | None = None  # onnxruntime threads per task (None: cores / worker threads)


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


def run_task(model: bytes, task: Task, settings: TaskSettings) -> list[dict]:
    """The JSON records of the task's frames, in order."""
    threads = settings.threads or max(1, default_threads() // worker_threads())
    engine = engine_for(model, threads)
    records: list[dict] = []
    pipeline = Pipeline(Model(engine, settings.top_k, settings.threshold),
                        [lambda r: records.append(r.record())])
    if task.images:
        source = FileListSource(list(task.paths), "images", first_index=task.start)
    else:
        source = VideoFileSource(task.paths[0], task.start, task.stop)
    with source:
        pipeline.run_file(source, batch=settings.batch)
    return records
