"""Issue 22, ``classify --cluster`` used carelessly: a port that is not Dask, a closed pipe,
workers that see other files (or none) at the client's paths, the last worker dying. A real
scheduler and real workers on 127.0.0.1; a worker in a mount namespace of its own sees other
files at the same paths, as a machine with another disk would."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import assert_one_line_error, finish, run_cli, wait_for
from dask_cluster import WORKER, Cluster
from test_cluster import lines_of, write_video
from tiny_models import tiny_classifier

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.slow


@pytest.fixture
def tiny(tmp_path: Path) -> str:
    return str(tiny_classifier(tmp_path / "tiny.onnx", resolution=32))


def cli(*args: str, cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "edgecam", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cwd)


class MuteServer:
    """Accepts connections and never says a word (a port that is not Dask's)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                self.accepted.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def test_a_port_that_does_not_speak_dask_is_one_line_and_ctrl_c_ends_it(tiny, tmp_path):
    """Case 11: one line within the connect timeout; Ctrl-C while waiting ends the run at once
    (exit 130, no traceback)."""
    video = write_video(tmp_path / "v.mp4", 5)
    mute = MuteServer()
    try:
        address = f"tcp://127.0.0.1:{mute.port}"
        line = assert_one_line_error(run_cli("classify", str(video), "--model", tiny,
                                             "--cluster", address, timeout=120))
        assert address in line and "did not answer as a Dask scheduler" in line
        seen = len(mute.accepted)
        proc = cli("classify", str(video), "--model", tiny, "--cluster", address)
        assert wait_for(lambda: len(mute.accepted) > seen, 60), "the run never connected"
        proc.send_signal(signal.SIGINT)
        _, err = finish(proc, 60, "Ctrl-C did not end the run")
        assert proc.returncode == 130, err
        assert "Traceback" not in err and "interrupted" in err
    finally:
        mute.close()


def test_json_lines_into_a_closed_pipe_end_without_a_traceback(cluster, tiny, tmp_path):
    """Case 18: ``--json-out - | head -1``: the broken-pipe line and nothing after it."""
    video = write_video(tmp_path / "v.mp4", 200)
    cluster.worker()
    cluster.wait_workers(1)
    proc = cli("classify", str(video), "--model", tiny, "--cluster", cluster.address,
               "--json-out", "-", "--chunk", "20")
    assert proc.stdout is not None and proc.stderr is not None
    assert json.loads(proc.stdout.readline())["frame"] == 0
    proc.stdout.close()  # what head -1 does after its line
    err = proc.stderr.read()
    assert proc.wait(timeout=120) != 0
    assert "broken pipe" in err
    assert "Traceback" not in err and "IOLoop" not in err, err
    assert len([line for line in err.splitlines() if line.strip()]) == 1, err


def namespaced_worker(cluster: Cluster, mounts: list[list[str]]) -> subprocess.Popen:
    """A worker in a mount namespace of its own, where ``mounts`` (mount arguments) make it
    see other files than the client at the same paths."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    prefix = ["unshare", "-m"] if probe.returncode == 0 else ["unshare", "-rm"]
    if subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        pytest.skip("no mount namespaces here (unshare -m refused)")
    setup = " && ".join("mount " + " ".join(f"'{a}'" for a in m) for m in mounts)
    worker = " ".join(f"'{a}'" for a in WORKER + [
        cluster.address, "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1",
        "--no-dashboard"])
    return cluster._start([*prefix, "sh", "-c", f"{setup} && exec {worker}"], "worker")


def test_relative_paths_reach_the_workers_as_the_clients_files(cluster, tiny, tmp_path):
    """Case 19: the worker's folder holds another clip.mp4; the client's relative name must
    still mean the client's file (the JSON lines equal a local run's)."""
    client_dir = tmp_path / "client"
    client_dir.mkdir()
    write_video(client_dir / "clip.mp4", 40)
    write_video(tmp_path / "clip.mp4", 40, size=(64, 48))  # the worker's cwd: another file
    (tmp_path / "clip.mp4").write_bytes((tmp_path / "clip.mp4").read_bytes())
    cluster.worker()
    cluster.wait_workers(1)
    local = run_cli("classify", "clip.mp4", "--model", tiny, "--json-out", "local.jsonl",
                    cwd=client_dir)
    assert local.returncode == 0, local.stderr
    remote = run_cli("classify", "clip.mp4", "--model", tiny, "--json-out", "remote.jsonl",
                     "--cluster", cluster.address, cwd=client_dir)
    assert remote.returncode == 0, remote.stderr
    got, want = lines_of(client_dir / "remote.jsonl"), lines_of(client_dir / "local.jsonl")
    assert [line["source"] for line in got] == ["clip.mp4"] * 40
    assert [line["top"] for line in got] == [line["top"] for line in want]


def test_a_worker_that_sees_another_file_or_none_says_so(cluster, tiny, tmp_path):
    """Cases 19 and 20: at the client's absolute path one worker has a different file (same
    name, other bytes), another has none: each is one line naming the file and the worker,
    never results under the client's name."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    clip = write_video(inputs / "clip.mp4", 30)
    other = write_video(tmp_path / "other.mp4", 30, size=(64, 48))
    empty = tmp_path / "empty"
    empty.mkdir()

    mismatch = namespaced_worker(cluster, [["--bind", str(other), str(clip)]])
    cluster.wait_workers(1)
    jl = tmp_path / "o.jsonl"
    proc = run_cli("classify", str(clip), "--model", tiny, "--cluster", cluster.address,
                   "--json-out", str(jl))
    line = assert_one_line_error(proc)
    assert str(clip) in line and "is not the client's file" in line
    assert "Dask worker tcp://127.0.0.1:" in line and not jl.exists()
    mismatch.terminate()
    mismatch.wait(timeout=30)

    namespaced_worker(cluster, [["--bind", str(empty), str(inputs)]])
    cluster.wait_workers(1)

    def workers() -> int:
        with distributed.Client(cluster.address, timeout=30) as watcher:
            return len(watcher.nthreads())

    assert wait_for(lambda: workers() == 1, 60)  # the first one has left
    proc = run_cli("classify", str(clip), "--model", tiny, "--cluster", cluster.address)
    line = assert_one_line_error(proc)
    assert f"{clip} is missing on the Dask worker tcp://127.0.0.1:" in line
    assert "not a readable video" not in line


def test_the_last_worker_dying_says_no_workers_are_left_and_what_was_written(
        cluster, tiny, tmp_path):
    """Case 24: the only worker is SIGKILLed mid-run: one line saying no workers are left,
    how many frames were classified and what was written (those lines, whole)."""
    video = write_video(tmp_path / "long.mp4", 2000, size=(640, 480))  # seconds of decoding
    worker = cluster.worker()
    cluster.wait_workers(1)
    jl = tmp_path / "o.jsonl"

    def tasks_done() -> int:
        """Results the worker holds (the client keeps them until the run ends)."""
        with distributed.Client(cluster.address, timeout=30) as watcher:
            return sum(str(key).startswith("edgecam-")
                       for keys in watcher.has_what().values() for key in keys)

    proc = cli("classify", str(video), "--model", tiny, "--cluster", cluster.address,
               "--json-out", str(jl), "--chunk", "10")
    assert wait_for(lambda: tasks_done() >= 60, 120, every=0.01), "the run ended first"
    worker.send_signal(signal.SIGKILL)
    _, err = finish(proc, 180, "the run did not end after its last worker died")
    lines = [line for line in err.splitlines() if line.strip()]
    assert proc.returncode == 1 and len(lines) == 1, err
    assert "no Dask workers are left" in lines[0] and "FutureCancelledError" not in err
    classified = int(lines[0].split(" of 2000 frames were classified")[0].split()[-1])
    assert classified < 2000
    if classified:  # what was written is named, and holds exactly those frames, whole
        assert lines[0].endswith(f"wrote {jl}") and len(lines_of(jl)) == classified
    else:
        assert lines[0].endswith("nothing was written") and not jl.exists()
