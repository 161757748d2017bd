"""An unattended run through the real ``edgecam live`` process: a network camera that is killed
and restarted, watched through the browser preview's stats and an MQTT broker, then stopped
with SIGTERM."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from edgecam.sinks.mqtt import camera_name

from conftest import Subscriber, free_port, needs_broker, wait_for
from mjpeg_server import start_camera


class StderrReader:
    """Collect a child's stderr lines in a thread so the test can wait for one."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self.thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def find(self, needle: str) -> str | None:
        return next((line for line in self.lines if needle in line), None)


def stats(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url.split("?")[0].rstrip("/") + "/stats.json",
                                    timeout=2) as resp:
            return json.loads(resp.read())
    except OSError:
        return None


def head_is_get_without_body(url: str, path: str) -> None:
    """HEAD answers with GET's status and headers and sends no body (read off the raw
    socket: http.client would ignore a body after HEAD)."""
    port = urlsplit(url).port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"HEAD {path} HTTP/1.0\r\n\r\n".encode())
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    head_type = next(line.split(b":", 1)[1].strip().decode() for line in head.split(b"\r\n")
                     if line.lower().startswith(b"content-type:"))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    resp = conn.getresponse()
    got = (resp.status, resp.getheader("Content-Type"), resp.read(1))
    conn.close()
    assert (status, head_type) == got[:2], (path, head, got)
    assert body == b"" and got[2] != b"", (path, body[:40])


@needs_broker
def test_live_survives_a_camera_outage(lite0_onnx, tmp_path, broker):
    cam_port = free_port()
    camera = start_camera(cam_port)
    topics = f"edgecam/{camera_name(f'http://127.0.0.1:{cam_port}/')}"  # the camera's
    sub = Subscriber(broker.port, f"{topics}/#")
    jl = tmp_path / "live.jsonl"
    out = tmp_path / "live.mp4"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgecam", "live", "--source", f"http://127.0.0.1:{cam_port}/",
         "--model", str(lite0_onnx), "--headless", "--serve", "127.0.0.1:0",
         "--json-out", str(jl), "--output", str(out), "--mqtt",
         f"mqtt://127.0.0.1:{broker.port}/edgecam", "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err = StderrReader(proc)
    try:
        line = wait_for(lambda: err.find("preview at "), 60)
        assert line, err.lines
        url = line.split("preview at ", 1)[1].strip()
        first = wait_for(lambda: (s := stats(url)) and s["frames"] > 5 and s, 60)
        assert first and first["state"] == "running", first
        assert first["model"] == "efficientnet_lite0-1.0-224" and first["fps"] > 0
        for path in ("/", "/stats.json", "/frame.jpg", "/stream.mjpg", "/nothing"):
            head_is_get_without_body(url, path)

        camera.kill()
        camera.wait()
        down = wait_for(lambda: (s := stats(url)) and s["state"] == "reconnecting" and s, 20)
        assert down, "the preview never said reconnecting"
        assert down["fps"] == 0  # no frame rate from before the outage
        assert proc.poll() is None  # the run goes on
        frames_down = down["frames"]

        camera = start_camera(cam_port)
        back = wait_for(lambda: (s := stats(url)) and s["frames"] > frames_down + 5 and s, 20)
        assert back and back["state"] == "running"
        prediction = sub.get(f"{topics}/prediction", timeout=10)
        assert sub.get(f"{topics}/stats", timeout=15)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        camera.kill()
        camera.wait()
        sub.close()
    assert proc.returncode == 143, err.lines
    assert not any("Traceback" in line for line in err.lines)
    text = jl.read_text()
    assert text.endswith("\n") and all(json.loads(x)["top"] for x in text.splitlines())
    import cv2

    cap = cv2.VideoCapture(str(out))
    assert cap.read()[0]
    cap.release()
    assert {"label", "index", "score", "frame", "time"} <= set(prediction)


def test_preview_warns_beyond_loopback(lite0_onnx, tmp_path):
    video = tmp_path / "v.mp4"
    from test_sources import write_video

    write_video(video, 10)
    proc = subprocess.run(
        [sys.executable, "-m", "edgecam", "live", "--source", str(video), "--model",
         str(lite0_onnx), "--headless", "--serve", "0.0.0.0:0", "--max-frames", "5"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "without --serve-token" in proc.stderr
    assert Path(video).exists()
