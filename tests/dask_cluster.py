"""A real Dask cluster on 127.0.0.1 for the tests: a ``dask scheduler`` and ``dask worker``
processes started here, as on separate machines (the ``cluster`` fixture in conftest)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import free_port

DASK = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
WORKER = [sys.executable, "-m", "distributed.cli.dask_worker"]


class Cluster:
    """A scheduler and workers as separate processes, as on real machines."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen] = []
        self.scheduler = self._start(DASK + ["--host", "127.0.0.1", "--port", str(self.port),
                                             "--no-dashboard"], "scheduler")

    def _start(self, cmd: list[str], name: str) -> subprocess.Popen:
        log = open(self.tmp / f"{name}-{len(self.procs)}.log", "w")  # noqa: SIM115
        env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                cwd=self.tmp)
        self.procs.append(proc)
        return proc

    def worker(self, cmd: list[str] | None = None) -> subprocess.Popen:
        """A worker without a nanny: killing it is a machine going away, not a restart."""
        return self._start((cmd or WORKER) + [self.address, "--nthreads", "1", "--no-nanny",
                                              "--host", "127.0.0.1", "--no-dashboard"], "worker")

    def wait_workers(self, n: int) -> None:
        import distributed

        with distributed.Client(self.address, timeout=60) as client:
            client.wait_for_workers(n, timeout=60)

    def close(self) -> None:
        """Workers killed (a worker told to stop says goodbye to a scheduler that is stopping
        too, and waited 10 s for it), then the scheduler stopped."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate() if proc is self.scheduler else proc.kill()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
