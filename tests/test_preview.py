"""The browser preview against real HTTP clients and a real headless Chromium."""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecam.sinks.preview import PreviewServer, is_loopback, parse_serve
from edgecam.sources.files import SyntheticSource
from edgecam.util.errors import EdgecamError

from conftest import assert_one_line_error, free_port, run_cli, wait_for
from tiny_models import tiny_classifier

H, W = 120, 160
MAGENTA = (255, 0, 255)  # BGR; distinctive in a screenshot of a dark page


def make_frame(i: int) -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    img[:] = MAGENTA
    cv2.rectangle(img, (10, 10), (60, 60), (0, 255, 0), -1)
    cv2.putText(img, str(i), (70, 90), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
    return img


def make_stats(i: int) -> dict:
    return {"fps": 12.5, "latency_ms": 8.25, "model": "tiny-net", "frames": i, "dropped": 1,
            "state": "running", "top": [{"label": "tabby cat", "index": 281, "score": 0.9}],
            "stages_ms": {"infer": 5.0, "overlay": 0.4}}


class Feeder:
    """Publishes frames from another thread, like the pipeline does, until stopped."""

    def __init__(self, server: PreviewServer) -> None:
        self.server = server
        self.count = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(0.01):
            self.server.publish(make_frame(self.count), make_stats(self.count))
            self.count += 1

    def __enter__(self) -> Feeder:
        self.server.publish(make_frame(0), make_stats(0))  # something to show from the start
        self.count = 1
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


@pytest.fixture
def server() -> Iterator[PreviewServer]:
    with PreviewServer("127.0.0.1", 0, max_clients=2) as srv:
        yield srv


def get(url: str, timeout: float = 10) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers.get("Content-Type", "")


def base(srv: PreviewServer) -> str:
    return f"http://127.0.0.1:{srv.port}"


def read_mjpeg_parts(srv: PreviewServer, n: int, path: str = "/stream.mjpg") -> list[bytes]:
    """Open the stream and return the first ``n`` JPEG parts (parsed from the multipart body)."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    conn.request("GET", path)
    resp = conn.getresponse()
    assert resp.status == 200
    ctype = resp.getheader("Content-Type")
    assert ctype.startswith("multipart/x-mixed-replace")
    boundary = ctype.split("boundary=")[1]
    parts = []
    while len(parts) < n:
        line = resp.fp.readline()
        if not line.strip():
            continue
        assert line.strip() == f"--{boundary}".encode()
        headers = {}
        while (line := resp.fp.readline().strip()):
            key, value = line.decode().split(":", 1)
            headers[key.lower()] = value.strip()
        assert headers["content-type"] == "image/jpeg"
        parts.append(resp.fp.read(int(headers["content-length"])))
    conn.close()
    return parts


def test_parse_serve() -> None:
    assert parse_serve("8080") == ("127.0.0.1", 8080)
    assert parse_serve(":8080") == ("127.0.0.1", 8080)
    assert parse_serve("0.0.0.0:80") == ("0.0.0.0", 80)
    assert parse_serve("localhost:0") == ("localhost", 0)
    assert parse_serve("[::1]:9000") == ("::1", 9000)
    for bad in ("", "abc", "host:", "host:port", "1.2.3.4:70000", "a:b:c"):
        with pytest.raises(EdgecamError, match="--serve"):
            parse_serve(bad)


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.1.2.3") and is_loopback("::1")
    assert is_loopback("localhost") and is_loopback("[::1]")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert not is_loopback("camera.local")


def test_bind_failure_is_a_user_error(server: PreviewServer) -> None:
    with pytest.raises(EdgecamError, match=f"cannot serve on 127.0.0.1:{server.port}"):
        PreviewServer("127.0.0.1", server.port).start()


def test_page_stats_and_404(server: PreviewServer) -> None:
    assert server.url == f"http://127.0.0.1:{server.port}/"
    with Feeder(server):
        status, body, ctype = get(base(server) + "/")
        assert status == 200 and ctype.startswith("text/html")
        page = body.decode()
        assert "stream.mjpg" in page and "stats.json" in page and "<img" in page
        status, body, ctype = get(base(server) + "/stats.json")
        assert status == 200 and ctype == "application/json"
        stats = json.loads(body)
        for key in ("fps", "latency_ms", "top", "model", "frames", "dropped", "state"):
            assert key in stats
        assert stats["model"] == "tiny-net" and stats["top"][0]["label"] == "tabby cat"
        assert stats["stages_ms"]["infer"] == 5.0
        status, body, _ = get(base(server) + "/frame.jpg")
        assert status == 200
        assert cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR).shape == (H, W, 3)
    assert get(base(server) + "/nope")[0] == 404
    assert get(base(server) + "/stream.mjpg/x")[0] == 404


def test_stats_before_any_frame(server: PreviewServer) -> None:
    stats = json.loads(get(base(server) + "/stats.json")[1])
    assert stats["frames"] == 0 and stats["top"] == [] and stats["state"] == "starting"
    assert get(base(server) + "/frame.jpg")[0] == 503


def test_no_encoding_without_viewers(server: PreviewServer) -> None:
    for i in range(50):
        server.publish(make_frame(i), make_stats(i))
    assert server.frames_published == 50
    assert server.frames_encoded == 0


def test_stream_yields_decodable_jpegs(server: PreviewServer) -> None:
    with Feeder(server) as feeder:
        parts = read_mjpeg_parts(server, 3)
    images = [cv2.imdecode(np.frombuffer(p, np.uint8), cv2.IMREAD_COLOR) for p in parts]
    for img in images:
        assert img is not None and img.shape == (H, W, 3)
        assert np.abs(img[100, 150].astype(int) - MAGENTA).max() < 40
        assert np.abs(img[30, 30].astype(int) - (0, 255, 0)).max() < 40
    assert len({p for p in parts}) == 3  # each part is a newer frame
    # encoded at most once per published frame, however many were sent
    assert server.frames_encoded <= feeder.count


def test_token(server: PreviewServer) -> None:
    with PreviewServer("127.0.0.1", 0, token="s3cr et") as srv, Feeder(srv):
        assert srv.url == f"http://127.0.0.1:{srv.port}/?token=s3cr%20et"
        for path in ("/", "/stats.json", "/stream.mjpg", "/frame.jpg", "/?token=wrong"):
            assert get(base(srv) + path)[0] == 401, path
        assert get(srv.url)[0] == 200
        assert get(base(srv) + "/stats.json?token=s3cr%20et")[0] == 200
        req = urllib.request.Request(base(srv) + "/stats.json",
                                     headers={"Authorization": "Bearer s3cr et"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200
        assert len(read_mjpeg_parts(srv, 2, "/stream.mjpg?token=s3cr%20et")) == 2


def open_stalled_stream(port: int) -> socket.socket:
    """A viewer that requests the stream and then never reads a byte."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect, so it sticks
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    sock.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    return sock


def wait_for_viewers(srv: PreviewServer, n: int, limit: float = 30.0) -> None:
    """Wait (a generous bound, not a speed check) until ``n`` stream viewers are connected."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if srv.stats()["viewers"] == n:
            return
        time.sleep(0.01)
    raise AssertionError(f"expected {n} viewers, have {srv.stats()['viewers']}")


def test_too_many_viewers(server: PreviewServer) -> None:
    with Feeder(server):
        held = [open_stalled_stream(server.port) for _ in range(2)]
        wait_for_viewers(server, 2)
        status, body, _ = get(base(server) + "/stream.mjpg")
        assert status == 503 and b"too many" in body
        assert get(base(server) + "/stats.json")[0] == 200  # the rest still answers
        for sock in held:
            sock.close()
        wait_for_viewers(server, 0)
        assert len(read_mjpeg_parts(server, 2)) == 2


@pytest.mark.slow
def test_stalled_viewer_never_slows_publish() -> None:
    """A viewer that never reads blocks its handler thread in send() until ``client_timeout``
    drops it. Publishing must not wait for it: every frame is handed over while that viewer
    is still connected (a publish that waited on viewers would stall until the drop), then
    the viewer is dropped and a healthy one is served."""
    with PreviewServer("127.0.0.1", 0, client_timeout=10.0) as srv:
        srv.publish(make_frame(0), make_stats(0))
        stalled = open_stalled_stream(srv.port)
        wait_for_viewers(srv, 1)
        big = np.random.default_rng(0).integers(0, 255, (480, 640, 3), np.uint8)  # ~1 MB JPEGs
        # a few JPEGs fill the socket buffers (the viewer reads nothing): from then on its
        # handler is stuck in send()
        assert wait_for(lambda: publish_numbered(srv, big) or srv.frames_encoded >= 5, 30)

        finished = threading.Event()

        def publish_all() -> None:
            for _ in range(200):
                publish_numbered(srv, big)
            finished.set()

        before = srv.frames_published
        publisher = threading.Thread(target=publish_all, daemon=True)
        publisher.start()
        publisher.join(timeout=9.0)  # a bound below client_timeout, not a speed measurement
        assert finished.is_set() and srv.frames_published == before + 200
        assert srv.stats()["viewers"] == 1  # all of it happened while the viewer stalled
        # the camera goes on; the stalled viewer's send() times out and it is dropped
        with Feeder(srv):
            wait_for_viewers(srv, 0, limit=60)
            assert len(read_mjpeg_parts(srv, 2)) == 2  # and a healthy viewer is served
        stalled.close()


def publish_numbered(srv: PreviewServer, big: np.ndarray) -> None:
    frame = big.copy()
    cv2.putText(frame, str(srv.frames_published), (10, 50), cv2.FONT_HERSHEY_SIMPLEX, 1.5,
                MAGENTA, 3)
    srv.publish(frame, make_stats(srv.frames_published))


def test_close_is_idempotent_and_frees_stalled_viewers() -> None:
    srv = PreviewServer("127.0.0.1", 0).start()
    srv.publish(make_frame(0), make_stats(0))
    stalled = open_stalled_stream(srv.port)
    wait_for_viewers(srv, 1)
    srv.close()
    srv.close()
    srv.publish(make_frame(1), make_stats(1))  # after close: ignored, no error
    stalled.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.slow
@pytest.mark.parametrize("token", [None, "tok"])
def test_headless_chromium_shows_the_picture(tmp_path: Path, token: str | None) -> None:
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium not installed (scripts/system-deps installs it)")
    shot = tmp_path / "shot.png"
    with PreviewServer("127.0.0.1", 0, token=token) as srv, Feeder(srv):
        proc = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
             "--window-size=800,600", "--virtual-time-budget=3000", srv.url],
            capture_output=True, text=True, timeout=120)
    assert shot.is_file(), proc.stderr[-2000:]
    img = cv2.imread(str(shot))
    assert img.shape[:2] == (600, 800)
    magenta = np.all(np.abs(img.astype(int) - MAGENTA) < 30, axis=2)
    # the published frame (160x120, minus its green square and digits) is on the page
    assert magenta.sum() > 0.5 * H * W, f"picture not visible ({magenta.sum()} magenta px)"


def test_each_camera_its_own_stream_stats_and_a_grid(server: PreviewServer) -> None:
    """Several cameras: /stream.mjpg, /frame.jpg and /stats.json take ?camera=N; / becomes
    the grid of every camera; a camera that does not exist is a 404."""
    blue = np.zeros((48, 64, 3), np.uint8)
    blue[:] = (255, 0, 0)
    server.publish(make_frame(0), make_stats(0))
    server.publish(blue, {**make_stats(7), "model": "cam1-model", "source": "synthetic://b"},
                   camera=1)
    stats = json.loads(get(base(server) + "/stats.json?camera=1")[1])
    assert stats["model"] == "cam1-model" and stats["camera"] == 1 and stats["cameras"] == 2
    assert json.loads(get(base(server) + "/stats.json")[1])["model"] == "tiny-net"
    part = read_mjpeg_parts(server, 1, "/stream.mjpg?camera=1")[0]
    img = cv2.imdecode(np.frombuffer(part, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (48, 64, 3) and np.abs(img[24, 32].astype(int) - (255, 0, 0)).max() < 40
    status, body, _ = get(base(server) + "/frame.jpg?camera=0")
    assert status == 200 and cv2.imdecode(np.frombuffer(body, np.uint8), 1).shape == (H, W, 3)
    for path in ("/", "/grid"):
        status, body, _ = get(base(server) + path)
        assert status == 200 and "<title>edgecam: every camera</title>" in body.decode()
    assert "every camera" not in get(base(server) + "/?camera=1")[1].decode()
    assert get(base(server) + "/stats.json?camera=2")[0] == 404


# --- the capture button: the newest raw frame saved as DIR/LABEL/*.jpg -------------------------


def post(url: str, label: str) -> tuple[int, dict]:
    """What the page's button sends: a form-encoded label."""
    data = urllib.parse.urlencode({"label": label}).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        text = e.read()
        return e.code, json.loads(text) if text.startswith(b"{") else {"error": text.decode()}


def test_capture_is_off_unless_asked_and_needs_the_token(tmp_path: Path,
                                                         server: PreviewServer) -> None:
    server.publish(make_frame(1), make_stats(1), raw=make_frame(1))
    code, body = post(f"{base(server)}/capture", "cat")
    assert code == 404 and "--capture-dir" in body["error"]
    assert "capture" not in json.loads(get(f"{base(server)}/stats.json")[1])
    with PreviewServer("127.0.0.1", 0, token="tok", capture_dir=tmp_path) as srv:
        assert post(f"{base(srv)}/capture", "cat")[1]["error"] == "token required: add " \
            "?token=... to the URL\n"
        assert post(f"{base(srv)}/capture?token=tok", "cat")[1] == {"error": "no frame yet"}
        srv.publish(make_frame(1), make_stats(1), raw=make_frame(1))
        for label in ("", "../elsewhere", "a/b", ".hidden"):
            code, body = post(f"{base(srv)}/capture?token=tok", label)
            assert code == 400 and "label" in body["error"], (label, body)
        assert post(f"{base(srv)}/capture?token=tok&camera=3", "cat")[0] == 404
        assert post(f"{base(srv)}/capture?token=tok", "cat")[0] == 200
    assert [p.parent.name for p in tmp_path.rglob("*.jpg")] == ["cat"]


def wait_running(base_url: str) -> dict | None:
    def ready() -> dict | None:
        try:
            with urllib.request.urlopen(f"{base_url}/stats.json", timeout=5) as r:
                data = json.loads(r.read())
        except OSError:
            return None
        return data if data["frames"] >= 3 else None
    return wait_for(ready, 60)


def test_live_capture_saves_the_camera_frame_without_the_overlay(tmp_path: Path) -> None:
    """The real CLI: a click's POST saves a JPEG under DIR/LABEL that is one of the synthetic
    camera's own frames, while the preview's picture carries the overlay."""
    model = tiny_classifier(tmp_path / "t.onnx", resolution=32)
    port, out = free_port(), tmp_path / "yard"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgecam", "live", "--source", "synthetic://160x120?fps=15",
         "--model", str(model), "--headless", "--serve", f"127.0.0.1:{port}",
         "--capture-dir", str(out), "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        stats = wait_running(url)
        posts = [post(f"{url}/capture?camera=0", "gate open") for _ in range(2)] if stats else []
        annotated = cv2.imdecode(np.frombuffer(get(f"{url}/frame.jpg")[1], np.uint8),
                                 cv2.IMREAD_COLOR) if stats else None
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert stats and stats["capture"] == {"dir": str(out), "saved": {}}, (stats, err)
    assert [(code, body["label"], body["count"]) for code, body in posts] == [
        (200, "gate open", 1), (200, "gate open", 2)], posts
    assert proc.returncode == 143 and "Traceback" not in err, err
    saved = sorted((out / "gate open").iterdir())
    assert len(saved) == 2 and all(p.suffix == ".jpg" for p in saved), saved
    pattern = SyntheticSource("synthetic://", (160, 120))._frames

    def closest(image: np.ndarray) -> float:
        return min(float(np.abs(image.astype(int) - f).mean()) for f in pattern)

    for path in saved:
        assert closest(cv2.imread(str(path))) < 3  # a camera frame, JPEG noise only
    assert closest(annotated) > 2 * closest(cv2.imread(str(saved[0])))  # the overlay is not


def test_capture_dir_needs_the_preview(tmp_path: Path) -> None:
    model = tiny_classifier(tmp_path / "t.onnx", resolution=32)
    proc = run_cli("live", "--source", "synthetic://64x48?fps=5", "--model", str(model),
                   "--headless", "--capture-dir", str(tmp_path / "d"), "--max-frames", "2")
    assert "give --serve" in assert_one_line_error(proc)
    assert not (tmp_path / "d").exists()


@pytest.mark.slow
def test_headless_chromium_capture_button(tmp_path: Path, monkeypatch) -> None:
    """A real browser: the form appears when capture is on, and its button saves the frame."""
    import edgecam.sinks.preview as preview

    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium not installed (scripts/system-deps installs it)")
    # the real page, plus what a user does: type a label and click once the form shows
    click = ("<script>const typing = setInterval(() => { if (!$('capture').hidden) { "
             "clearInterval(typing); $('label').value = 'cat'; $('save').click(); } }, 100);"
             "</script></body>")
    real_page = preview.page
    monkeypatch.setattr(preview, "page", lambda name: real_page(name).replace(
        b"</body>", click.encode()) if name == "preview.html" else real_page(name))
    with PreviewServer("127.0.0.1", 0, capture_dir=tmp_path / "d") as srv, Feeder(srv):
        srv.publish(make_frame(0), make_stats(0), raw=make_frame(0))
        proc = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
             "--virtual-time-budget=8000", srv.url],
            capture_output=True, text=True, timeout=120)
        # the page keeps a frame request open, so the browser may end while the POST it sent
        # is still being saved: wait for it (bounded) before the server stops
        wait_for(lambda: list((tmp_path / "d" / "cat").glob("*.jpg")), 10)
    assert '<form id="capture">' in proc.stdout, proc.stdout[-2000:]  # shown, no longer hidden
    saved = list((tmp_path / "d" / "cat").glob("*.jpg"))
    assert len(saved) == 1, proc.stdout[-2000:]
    assert "1 saved as cat" in proc.stdout
