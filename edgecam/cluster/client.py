"""The client side of ``classify --cluster``: connect, check the workers, submit one task per
frame range or picture group, and hand the results back in input order.

Nothing is retried here: when a worker dies, the scheduler hands its tasks to another worker
and the futures complete all the same. A task's frames arrive together, so a rerun can neither
lose nor duplicate a frame; ``check_sequence`` also checks that every video's frames come out
numbered 0, 1, 2... before anything is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import socket
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

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
    # edgecam says what went wrong in one line of its own; Dask's warnings about the same
    # event ("Couldn't gather 1 keys" when a worker dies) would only add lines of noise. Dask
    # gives some of its loggers ("distributed.client") a level of their own when it imports,
    # so the parent's level alone does not reach them.
    for name in list(logging.root.manager.loggerDict):
        if name == "distributed" or name.startswith("distributed."):
            logging.getLogger(name).setLevel(logging.ERROR)
    return distributed


class NoWorkersLeft(EdgecamError):
    """The last Dask worker left mid-run: nothing can compute the remaining tasks."""


def reachable(address: str, timeout: float) -> None:
    """A plain TCP connection first (tcp:// only): a port where nothing listens is said at once,
    where Dask would retry until its timeout."""
    host, _, port = address.split("://", 1)[1].rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise EdgecamError(f"cannot reach the Dask scheduler at {address}: "
                           f"{reason.lower()}") from None


def probe(address: str, timeout: float) -> None:
    """Ask ``address`` who it is, with a deadline: Dask's own client waits forever for the
    handshake of a port that accepts connections but says nothing, deaf to Ctrl-C. Run in an
    event loop of its own, so Ctrl-C cancels it and nothing is left to clean up."""
    distributed = _distributed()

    async def identity() -> object:
        comm = await distributed.comm.connect(address, timeout=timeout)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    try:
        info = asyncio.run(asyncio.wait_for(identity(), timeout))
    except (asyncio.TimeoutError, TimeoutError):
        raise EdgecamError(f"{address} accepted the connection but did not answer as a Dask "
                           f"scheduler within {timeout:.0f} s (is it the scheduler's port?)"
                           ) from None
    except OSError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EdgecamError(f"cannot reach the Dask scheduler at {address}: "
                           f"{reason[:160]}") from None
    except Exception as exc:  # noqa: BLE001 - whatever the other end sent, it is not Dask
        raise EdgecamError(f"{address} does not speak Dask's protocol "
                           f"({type(exc).__name__}); is it the scheduler's port?") from None
    kind = info.get("type") if isinstance(info, dict) else None
    if kind != "Scheduler":
        raise EdgecamError(f"{address} is a Dask {kind or 'endpoint'}, not a scheduler; give "
                           "the scheduler's address")


def connect(address: str, timeout: float = CONNECT_TIMEOUT_S):
    """A Dask client on ``address`` (SCHEME://HOST:PORT, checked with the options) with at
    least one worker that has edgecam; anything else is one EdgecamError line."""
    distributed = _distributed()
    if "://" not in address:
        address = f"tcp://{address}"
    if address.startswith("tcp://"):
        reachable(address, timeout)
    probe(address, timeout)
    try:
        client = distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
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
        text = str(exc)
        return EdgecamError(text if "Dask worker" in text else f"on a Dask worker: {text}")
    if isinstance(exc, ModuleNotFoundError):
        return EdgecamError(f"a Dask worker cannot import {exc.name}: {INSTALL_HINT} "
                            "on every worker")
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return EdgecamError(f"a task failed on a Dask worker: {type(exc).__name__} {text[:160]}")


def workers_left(client) -> int:
    """Workers the scheduler has now (asked, not the client's cached view)."""
    try:
        return len(client.nthreads())
    except (OSError, TimeoutError):
        return 0


def results_in_order(client, model: bytes, tasks: list[Task], settings: TaskSettings,
                     stopped: Callable[[], bool], poll_s: float = 0.25,
                     no_workers_s: float = WORKERS_TIMEOUT_S
                     ) -> Generator[tuple[Task, TaskResult], None, None]:
    """(task, result) in task order, as soon as each is next in line. The stop flag (Ctrl-C)
    is looked at every ``poll_s`` even while no task finishes; when no worker is left (the
    last one died and none joined for ``no_workers_s``, or the scheduler gave the tasks up),
    NoWorkersLeft."""
    run = uuid.uuid4().hex[:8]
    shared = client.scatter(model, broadcast=True, hash=False)
    futures = [client.submit(run_task, shared, task, settings, pure=False,
                             key=f"edgecam-{run}-{task.number}") for task in tasks]
    number = {future.key: i for i, future in enumerate(futures)}
    done: dict[int, TaskResult] = {}
    position = 0
    arrivals = _Arrivals(client, futures, no_workers_s)
    try:
        for _ in futures:
            future = arrivals.next(stopped, poll_s)
            if future is None:
                return
            try:
                done[number[future.key]] = future.result()
            except Exception as exc:  # noqa: BLE001 - any task error becomes one line
                if not workers_left(client):
                    raise NoWorkersLeft("no Dask workers are left (the last one left the "
                                        "cluster)") from None
                raise worker_error(exc) from None
            while position in done:
                yield tasks[position], done.pop(position)
                position += 1
    finally:
        with contextlib.suppress(Exception):  # a client already closed has nothing to cancel
            client.cancel(futures)


class _Arrivals:
    """The tasks' futures as they finish, fail or are cancelled, watching meanwhile that some
    worker is left to run them (the scheduler is asked every 2 s)."""

    def __init__(self, client: Any, futures: list, no_workers_s: float) -> None:
        self.client = client
        self.no_workers_s = no_workers_s
        self.queue: queue.Queue = queue.Queue()
        for future in futures:
            future.add_done_callback(self.queue.put)
        self.alone_since: float | None = None
        self.asked = time.monotonic()

    def next(self, stopped: Callable[[], bool], poll_s: float) -> Any:
        """The next future done, or None once ``stopped``; NoWorkersLeft when none is left."""
        while not stopped():
            try:
                return self.queue.get(timeout=poll_s)
            except queue.Empty:
                pass
            if time.monotonic() - self.asked < 2.0:
                continue
            self.asked = time.monotonic()
            if workers_left(self.client):
                self.alone_since = None
            elif self.alone_since is None:
                self.alone_since = self.asked
            elif self.asked - self.alone_since > self.no_workers_s:
                raise NoWorkersLeft(f"no Dask workers are left (none for "
                                    f"{self.no_workers_s:.0f} s)")
        return None


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
