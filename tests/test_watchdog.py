"""The service manager's notifications (sd_notify) read from a real datagram socket: the
protocol itself, the sink's keep-alive rules, and a real `edgecam live` that says READY=1,
WATCHDOG=1 and STOPPING=1, and whose keep-alives stop while its camera hangs."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgecam.pipeline.result import Result, Stats
from edgecam.sinks.factory import service_sinks
from edgecam.sinks.notify import NotifySink, shown
from edgecam.sources.frames import Frame, Stream
from edgecam.util.sdnotify import Notifier, watchdog_seconds

from conftest import finish, free_port, wait_for
from mjpeg_server import start_camera
from tiny_models import tiny_classifier


class Listener:
    """A notification socket as systemd opens it (a path or an abstract name), read here."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)

    def next(self, timeout: float) -> dict[str, str] | None:
        """The next datagram as its fields, None when none comes within ``timeout``."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return None
        return dict(line.split("=", 1) for line in data.decode().splitlines())

    def drain(self) -> list[dict[str, str]]:
        """Every datagram already waiting."""
        out = []
        while (fields := self.next(0.001)) is not None:
            out.append(fields)
        return out

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener(tmp_path: Path):
    box = Listener(str(tmp_path / "notify.sock"))
    yield box
    box.close()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def result(index: int = 0, frames: int = 1, attempts: int = 0, uri: str = "cam0") -> Result:
    frame = Frame(np.zeros((2, 2, 3), np.uint8), frames, uri, 0.0)
    return Result(frame, [], stats=Stats(fps=12.5, frames=frames, model="m", state="running",
                                         attempts=attempts), stream=Stream(uri, index, "live"))


# --- the protocol --------------------------------------------------------------------------------


def test_notifier_sends_to_a_path_and_to_an_abstract_socket(tmp_path):
    for address in (str(tmp_path / "n.sock"), f"@edgecam-test-{os.getpid()}"):
        box = Listener(address)
        try:
            notifier = Notifier.from_env({"NOTIFY_SOCKET": address})
            assert notifier is not None
            assert notifier.send("READY=1", "STATUS=hello world")
            assert box.next(5) == {"READY": "1", "STATUS": "hello world"}
            notifier.close()
        finally:
            box.close()
    for environ in ({}, {"NOTIFY_SOCKET": ""}, {"NOTIFY_SOCKET": "vsock:2:1234"},
                    {"NOTIFY_SOCKET": "@"}):
        assert Notifier.from_env(environ) is None
    assert service_sinks({}) == []


def test_a_vanished_manager_is_logged_once_and_the_run_goes_on(tmp_path, caplog):
    notifier = Notifier(str(tmp_path / "nobody-listens.sock"))
    assert not notifier.send("WATCHDOG=1")
    assert not notifier.send("WATCHDOG=1")
    assert len([r for r in caplog.records if "cannot notify" in r.message]) == 1


def test_watchdog_timeout_is_read_as_sd_watchdog_enabled_does():
    assert watchdog_seconds({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog_seconds({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}) == 2
    assert watchdog_seconds({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}, pid=7) is None
    for usec in ("", "0", "-5", "abc"):
        assert watchdog_seconds({"WATCHDOG_USEC": usec}) is None
    assert watchdog_seconds({}) is None


# --- the sink's rules (a real socket, a clock the test moves) ------------------------------------


def sink_for(listener: Listener, watchdog_s: float | None = 10.0) -> tuple[NotifySink, Clock]:
    clock = Clock()
    return NotifySink(Notifier(listener.address), watchdog_s, clock=clock), clock


def test_ready_after_the_first_result_then_keepalives_every_half_timeout(listener):
    sink, clock = sink_for(listener)
    sink.open(Stream("cam0", 0, "live"))
    assert listener.drain() == []  # nothing is ready before a result
    sink.write(result(frames=1))
    first = listener.drain()
    assert [set(f) for f in first] == [{"READY", "WATCHDOG", "STATUS"}]
    assert first[0]["STATUS"] == "cam0: 12.5 FPS, 1 frames, m"
    clock.now += 4.9
    sink.write(result(frames=2))
    assert listener.drain() == []  # the next keep-alive is due after half the timeout
    clock.now += 0.1
    sink.write(result(frames=3))
    assert listener.drain() == [{"WATCHDOG": "1", "STATUS": "cam0: 12.5 FPS, 3 frames, m"}]
    sink.close(True)
    assert listener.drain() == [{"STOPPING": "1", "STATUS": "stopping"}]


def test_no_keepalive_while_a_running_camera_sends_nothing(listener):
    sink, clock = sink_for(listener)
    sink.open(Stream("cam0", 0, "live"))
    sink.write(result())
    listener.drain()
    for _ in range(4):  # the loop polls the silent camera: idle, state still "running"
        clock.now += 5
        sink.idle(Stats(state="running"), Stream("cam0", 0, "live"))
    said = listener.drain()
    assert said and all("WATCHDOG" not in f for f in said)
    assert said[-1]["STATUS"] == "cam0: no frame for 20 s"
    sink.write(result(frames=2))  # frames again: keep-alives again
    assert listener.drain() == [{"WATCHDOG": "1", "STATUS": "cam0: 12.5 FPS, 2 frames, m"}]


def test_a_reconnecting_camera_keeps_it_alive_only_while_its_attempts_end(listener):
    sink, clock = sink_for(listener)
    stream = Stream("rtsp://user:secret@cam/live", 0, "live")
    sink.open(stream)
    sink.write(result(attempts=0, uri=stream.uri))
    listener.drain()
    clock.now += 6
    sink.idle(Stats(state="reconnecting", attempts=0), stream)  # no attempt ended yet
    clock.now += 6
    sink.idle(Stats(state="reconnecting", attempts=0), stream)
    assert all("WATCHDOG" not in f for f in listener.drain())
    sink.idle(Stats(state="reconnecting", attempts=1), stream)  # one failed: it is retrying
    assert listener.drain() == [{"WATCHDOG": "1", "STATUS": "rtsp://cam/live: reconnecting"}]
    clock.now += 6
    sink.idle(Stats(state="reconnecting", attempts=1), stream)  # an open that hangs
    said = listener.drain()
    assert said == [{"STATUS": "rtsp://cam/live: reconnecting, no answer for 6 s"}]
    assert "secret" not in str(said) and shown("http://a:b@h:1/x") == "http://h:1/x"


def test_every_camera_must_move_before_a_keepalive(listener):
    sink, clock = sink_for(listener)
    sink.open(Stream("cam0", 0, "live"))
    sink.open(Stream("cam1", 1, "live"))
    sink.write(result(0, uri="cam0"))
    assert [set(f) for f in listener.drain()] == [{"READY", "STATUS"}]  # cam1 has not moved
    for _ in range(3):
        clock.now += 5
        sink.write(result(0, uri="cam0"))
    assert all("WATCHDOG" not in f for f in listener.drain())
    sink.write(result(1, uri="cam1"))
    said = listener.drain()
    assert said[0]["WATCHDOG"] == "1"
    assert said[0]["STATUS"] == "cam0: 12.5 FPS, 1 frames, m; cam1: 12.5 FPS, 1 frames, m"
    sink.end(Stream("cam1", 1, "live"), True)  # a camera that ended is waited for no more
    clock.now += 5
    sink.write(result(0, uri="cam0"))
    assert listener.drain()[0]["WATCHDOG"] == "1"


def test_without_a_watchdog_only_ready_and_status(listener):
    sink, clock = sink_for(listener, watchdog_s=None)
    sink.open(Stream("cam0", 0, "live"))
    for _ in range(4):
        sink.write(result())
        clock.now += 5
    said = listener.drain()
    assert said[0]["READY"] == "1" and len(said) == 4
    assert all("WATCHDOG" not in f for f in said)


# --- a real `edgecam live` under a notification socket -------------------------------------------


def live(model: Path, source: str, listener_address: str, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "NOTIFY_SOCKET": listener_address, "WATCHDOG_USEC": "400000"}
    return subprocess.Popen(
        [sys.executable, "-m", "edgecam", "live", "--source", source, "--model", str(model),
         "--headless", "--threads", "1", *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_live_says_ready_keeps_alive_and_stopping(tmp_path):
    model = tiny_classifier(tmp_path / "tiny.onnx", resolution=32)
    box = Listener(f"@edgecam-test-live-{os.getpid()}")
    proc = live(model, "synthetic://160x120?fps=30", box.address, "--max-frames", "40")
    try:
        said = []
        while (fields := box.next(60)) is not None:
            said.append(fields)
            if "STOPPING" in fields:
                break
        _, err = finish(proc, 60, "live did not end after --max-frames")
    finally:
        box.close()
    assert proc.returncode == 0, err
    assert said[0].get("READY") == "1", said
    assert sum("WATCHDOG" in f for f in said) >= 2, said
    assert any(re.search(r": \d+\.\d FPS, \d+ frames, ", f.get("STATUS", "")) for f in said)
    assert said[-1] == {"STOPPING": "1", "STATUS": "stopping"}


def test_keepalives_stop_while_the_camera_hangs(tmp_path, listener):
    model = tiny_classifier(tmp_path / "tiny.onnx", resolution=32)
    port = free_port()
    camera = start_camera(port)
    proc = live(model, f"http://127.0.0.1:{port}/", listener.address)
    try:
        pings = 0
        while pings < 3:
            fields = listener.next(60)
            assert fields is not None, "no keep-alive from a camera that sends frames"
            pings += "WATCHDOG" in fields
        camera.send_signal(signal.SIGUSR1)  # it stops mid-stream, the connection left open

        def silent() -> dict | None:  # frames still on the way may arrive first
            fields = listener.next(1)
            status = (fields or {}).get("STATUS", "")
            return fields if re.search(r"no frame for [1-9]\d* s", status) else None

        assert wait_for(silent, 30), "the status never said the camera had gone silent"
        quiet_until = time.monotonic() + 2.0  # ten keep-alive periods of 0.2 s
        while (left := quiet_until - time.monotonic()) > 0:
            fields = listener.next(left)
            assert fields is None or "WATCHDOG" not in fields, fields
        assert proc.poll() is None  # the process is alive: only the keep-alives stopped
        proc.send_signal(signal.SIGABRT)  # what systemd sends when WatchdogSec passes
        _, err = finish(proc, 30, "live did not end on SIGABRT")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        camera.kill()
        camera.wait()
    assert proc.returncode == -signal.SIGABRT
    # faulthandler's stacks, as the journal would keep them: the capture thread in its read
    # (or, past FFmpeg's read timeout, in its attempt to reopen)
    assert "Fatal Python error: Aborted" in err
    capture = r'camera\.py", line \d+ in (read|open)\n.*camera\.py", line \d+ in _run'
    assert re.search(capture, err), err
