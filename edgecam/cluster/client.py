"""The client side of ``classify --cluster``: connect, check the workers, submit one task per
frame range or picture group, and hand the results back in input order.

Nothing is retried here: when a worker dies, the scheduler hands its tasks to another worker
and the futures complete all the same. A task's frames arrive together, so a rerun can neither
lose nor duplicate a frame; ``check_sequence`` also checks that every video's frames come out
numbered 0, 1, 2... before anything is written.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from edgecam import __version__
from edgecam.cluster.tasks import Task
from edgecam.cluster.worker import TaskResult, TaskSettings, run_task
from edgecam.sources.files import VideoFileSource
from edgecam.sources.frames import Frame
from edgecam.sources.media import read_image
from edgecam.util.errors import EdgecamError, MissingExtraError

CONNECT_TIMEOUT_S = 10.0
WORKERS_TIMEOUT_S = 30.0
INSTALL_HINT = "pip install 'edgecam[cluster]'"


def _distributed():
    try:
        import distributed
    except ImportError:
        raise MissingExtraError(f"--cluster needs Dask distributed: {INSTALL_HINT}") from None
    return distributed


def connect(address: str, timeout: float = CONNECT_TIMEOUT_S):
    """A Dask client on ``address`` (tcp://HOST:PORT) with at least one worker that has
    edgecam; anything else is one EdgecamError line."""
    distributed = _distributed()
    if "://" not in address:
        address = f"tcp://{address}"
    try:
        client = distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EdgecamError(f"cannot reach the Dask scheduler at {address}: "
                           f"{reason[:160]}") from None
    try:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except (TimeoutError, OSError):
            raise EdgecamError(f"the Dask scheduler at {address} has no workers "
                               f"(none joined within {timeout:.0f} s)") from None
        check_workers(client)
    except BaseException:
        client.close()
        raise
    return client


def check_workers(client) -> None:
    """Every worker must import the same edgecam as the client, or its tasks would fail one
    by one with an unpickling error. The probe is a builtin, so it reaches workers that lack
    edgecam."""
    found = client.run(eval, "__import__('edgecam').__version__", on_error="return")
    missing = sorted(w for w, v in found.items() if isinstance(v, BaseException))
    if missing:
        raise EdgecamError(f"{len(missing)} Dask worker(s) cannot import edgecam "
                           f"({', '.join(missing[:3])}): {INSTALL_HINT} on every worker")
    other = sorted(f"{w} has {v}" for w, v in found.items() if v != __version__)
    if other:
        raise EdgecamError(f"Dask workers run another edgecam than this client ({__version__}): "
                           + "; ".join(other[:3]))


def worker_error(exc: BaseException) -> EdgecamError:
    """A task's failure as one line (a missing file on a worker, a module it lacks...)."""
    if isinstance(exc, EdgecamError):
        return EdgecamError(f"on a Dask worker: {exc}")
    if isinstance(exc, ModuleNotFoundError):
        return EdgecamError(f"a Dask worker cannot import {exc.name}: {INSTALL_HINT} "
                            "on every worker")
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return EdgecamError(f"a task failed on a Dask worker: {type(exc).__name__} {text[:160]}")


def results_in_order(client, model: bytes, tasks: list[Task], settings: TaskSettings,
                     stopped: Callable[[], bool]) -> Iterator[tuple[Task, TaskResult]]:
    """(task, result) in task order, as soon as each is next in line."""
    distributed = _distributed()
    run = uuid.uuid4().hex[:8]
    shared = client.scatter(model, broadcast=True, hash=False)
    futures = [client.submit(run_task, shared, task, settings, pure=False,
                             key=f"edgecam-{run}-{task.number}") for task in tasks]
    number = {future.key: i for i, future in enumerate(futures)}
    done: dict[int, TaskResult] = {}
    position = 0
    try:
        for future in distributed.as_completed(futures, loop=client.loop):
            if stopped():
                return
            try:
                done[number[future.key]] = future.result()
            except Exception as exc:  # noqa: BLE001 - any task error becomes one line
                raise worker_error(exc) from None
            while position in done:
                yield tasks[position], done.pop(position)
                position += 1
    finally:
        client.cancel(futures)


class ClientFrames:
    """The frames of the results on the client: decoded again here, in order, when a sink
    needs the picture (the cluster sends back logits, not pictures), else empty stand-ins."""

    EMPTY = np.zeros((0, 0, 3), np.uint8)

    def __init__(self, pictures_needed: bool) -> None:
        self.needed = pictures_needed
        self._path: str | None = None
        self._source: VideoFileSource | None = None
        self._frames: Iterator[Frame] | None = None

    def __call__(self, task: Task, index: int, source: str, time_ms: float | None) -> Frame:
        if not self.needed:
            return Frame(self.EMPTY, index, source, time.monotonic(), time_ms)
        if task.pictures:
            return Frame(read_image(source), index, source, time.monotonic(), time_ms)
        if self._path != source:
            self.close()
            self._path = source
            self._source = VideoFileSource(source)
            self._frames = iter(self._source)
        assert self._frames is not None  # opened with self._path
        frame = next(self._frames, None)
        if frame is None or frame.index != index:
            raise EdgecamError(f"{source}: frame {index} cannot be decoded again on the client")
        return frame

    def close(self) -> None:
        if self._source is not None:
            self._source.close()
        self._path = self._source = self._frames = None


def check_sequence(task: Task, frames: list[tuple[int, str, float | None]],
                   expected: dict[int, int]) -> None:
    """Frames of each video numbered 0, 1, 2...: a lost or duplicated frame is a bug to
    report, never something to write."""
    if task.pictures:
        return
    want = expected.get(task.unit, 0)
    got = [index for index, _, _ in frames]
    if got != list(range(want, want + len(got))) or (got and got[0] != task.start):
        raise EdgecamError(f"{task.paths[0]}: frames {got[:1]}..{got[-1:]} came back where "
                           f"frame {want} was due")
    expected[task.unit] = want + len(got)


def model_bytes(path: str | Path) -> bytes:
    return Path(path).read_bytes()
