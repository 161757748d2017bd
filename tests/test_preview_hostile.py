"""The browser preview against a hostile neighbour and careless requests (issue 22, cases
7-10, 17, 30, 33): Host and Origin checks, bounded captures, the token kept out of `ps`,
authentication before any body is read, and bad requests answered 400 without a traceback.
Real HTTP over real sockets on 127.0.0.1, the real CLI in a subprocess."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecam.sinks.preview import PreviewServer

from conftest import ROOT, assert_one_line_error, free_port, run_cli, tmpfs, wait_for
from tiny_models import tiny_classifier

FRAME = np.full((120, 160, 3), (40, 120, 200), np.uint8)


def request(port: int, method: str, path: str, headers: dict[str, str] | None = None,
            body: bytes = b"", timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP/1.1 request (headers exactly as given, nothing added but Host unless
    given); the answer read until the server closes. A server that waits instead of answering
    fails the read with a timeout."""
    headers = {"Host": f"127.0.0.1:{port}", "Connection": "close", **(headers or {})}
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items() if v is not None) + "\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.encode("utf-8") + body)
        data = b""
        while b"\r\n\r\n" not in data or not _complete(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    if not data:
        return 0, {}, b""  # closed without an answer (the handler crashed)
    status_line, _, rest = data.partition(b"\r\n")
    raw_headers, _, payload = rest.partition(b"\r\n\r\n")
    parsed = dict(line.decode().split(": ", 1) for line in raw_headers.split(b"\r\n") if line)
    return int(status_line.split()[1]), {k.lower(): v for k, v in parsed.items()}, payload


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


@pytest.fixture
def capturing(tmp_path: Path) -> Iterator[PreviewServer]:
    with PreviewServer("127.0.0.1", 0, capture_dir=tmp_path / "yard",
                       client_timeout=30) as srv:
        srv.publish(FRAME, {"frames": 1}, raw=FRAME)
        yield srv


def saved(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.jpg")) if folder.exists() else []


# --- 7: Host and Origin ---------------------------------------------------------------------


def test_only_the_hosts_the_server_answers_to(capturing: PreviewServer, tmp_path: Path) -> None:
    """DNS rebinding: a page of evil.example whose name now points at 127.0.0.1 sends
    `Host: evil.example`; it is refused, loopback names and the address itself are not."""
    port = capturing.port
    assert request(port, "GET", "/stats.json", {"Host": f"evil.example:{port}"})[0] == 403
    assert request(port, "GET", "/stream.mjpg", {"Host": "evil.example"})[0] == 403
    code, _, body = request(port, "POST", "/capture?label=cat", {"Host": "evil.example"})
    assert code == 403 and saved(tmp_path) == []
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "127.0.0.1", "LOCALHOST"):
        assert request(port, "GET", "/stats.json", {"Host": host})[0] == 200, host
    with PreviewServer("127.0.0.1", 0, names=["pi.local"]) as named:
        assert request(named.port, "GET", "/", {"Host": f"pi.local:{named.port}"})[0] == 200
        assert request(named.port, "GET", "/", {"Host": "other.local"})[0] == 403
    with PreviewServer("0.0.0.0", 0) as anywhere:  # any address of this machine, by number
        for host in ("192.168.1.20:8080", "[fe80::1]:8080", "127.0.0.1"):
            assert request(anywhere.port, "GET", "/stats.json", {"Host": host})[0] == 200
        assert request(anywhere.port, "GET", "/stats.json", {"Host": "evil.example"})[0] == 403


def test_cross_site_posts_are_refused(capturing: PreviewServer, tmp_path: Path) -> None:
    """A form on another site POSTs to the loopback preview: its Origin (or the browser's
    Sec-Fetch-Site) gives it away; the page's own POST and a script's (no Origin) pass."""
    port = capturing.port
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                    {"Origin": f"http://localhost:{port + 1}"},
                    {"Sec-Fetch-Site": "cross-site"}):
        code, _, _ = request(port, "POST", "/capture?label=cat", headers)
        assert code == 403, headers
    assert saved(tmp_path) == []
    for headers in ({"Origin": f"http://127.0.0.1:{port}"}, {"Sec-Fetch-Site": "same-origin"},
                    {}):
        assert request(port, "POST", "/capture?label=cat", headers)[0] == 200, headers
    assert len(saved(tmp_path)) == 3


# --- 8: captures are bounded -------------------------------------------------------------------


def test_captures_are_rate_limited(tmp_path: Path) -> None:
    with PreviewServer("127.0.0.1", 0, capture_dir=tmp_path, capture_burst=3,
                       capture_rate=0.2) as srv:
        srv.publish(FRAME, {}, raw=FRAME)
        answers = [request(srv.port, "POST", "/capture?label=cat") for _ in range(6)]
    codes = [a[0] for a in answers]
    assert codes[:3] == [200, 200, 200] and 429 in codes[3:], codes
    assert all(int(a[1]["retry-after"]) >= 1 for a in answers if a[0] == 429)
    assert len(saved(tmp_path)) == codes.count(200)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MB tmpfs."""
    with tmpfs(tmp_path / "small", "2m") as where:
        yield where


def test_captures_stop_before_the_disk_is_full(small_disk: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    """120 clicks of an incompressible picture on a 2 MB disk: captures stop with 507 while
    room is left (one line in the log), and every picture saved is whole."""
    noise = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    caplog.set_level(logging.INFO, logger="edgecam")
    with PreviewServer("127.0.0.1", 0, capture_dir=small_disk, capture_rate=None) as srv:
        srv.publish(noise, {}, raw=noise)
        codes = [request(srv.port, "POST", "/capture?label=noise")[0] for _ in range(120)]
    first = codes.index(507)
    assert first > 0 and set(codes[:first]) == {200} and set(codes[first:]) == {507}, codes
    stat = os.statvfs(small_disk)
    assert stat.f_bavail * stat.f_frsize > 0  # never filled
    pictures = saved(small_disk)
    assert len(pictures) == first
    assert all(cv2.imread(str(p)) is not None for p in pictures)
    lines = [r.getMessage() for r in caplog.records if "nearly full" in r.getMessage()]
    assert len(lines) == 1, lines


def test_the_warning_beyond_loopback_says_anyone_can_write_pictures(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from edgecam.sinks.network import PreviewSink

    caplog.set_level(logging.INFO, logger="edgecam")
    PreviewSink(f"http://0.0.0.0:{free_port()}", capture_dir=str(tmp_path))
    warning = [r.getMessage() for r in caplog.records if "--serve-token" in r.getMessage()]
    assert len(warning) == 1 and "save pictures" in warning[0], warning


# --- 9: the token out of `ps` -----------------------------------------------------------------


def start_live(tmp_path: Path, *args: str, env: dict[str, str] | None = None
               ) -> tuple[subprocess.Popen, int]:
    model = tiny_classifier(tmp_path / "t.onnx", resolution=32)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgecam", "live", "--source", "synthetic://160x120?fps=15",
         "--model", str(model), "--headless", "--serve", f"127.0.0.1:{port}",
         "--threads", "1", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, **(env or {})})
    return proc, port


def answering(port: int, path: str = "/stats.json") -> int | None:
    try:
        return request(port, "GET", path, timeout=5)[0]
    except OSError:
        return None


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    return err


@pytest.mark.parametrize("how", ["env", "file"])
def test_the_token_from_the_environment_or_a_file(tmp_path: Path, how: str) -> None:
    secret = "s3cret-not-in-ps"
    token_file = tmp_path / "token"
    token_file.write_text(secret + "\n")
    if how == "env":
        proc, port = start_live(tmp_path, env={"EDGECAM_SERVE_TOKEN": secret})
    else:
        proc, port = start_live(tmp_path, "--serve-token-file", str(token_file))
    try:
        first = wait_for(lambda: answering(port), 60)
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        with_token = answering(port, f"/stats.json?token={secret}")
        wrong = answering(port, "/stats.json?token=guess")
    finally:
        err = stop(proc)
    assert (first, with_token, wrong) == (401, 200, 401), err
    assert secret.encode() not in cmdline
    assert "Traceback" not in err


@pytest.mark.slow
def test_a_token_file_that_is_missing_or_empty_is_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    model = tiny_classifier(tmp_path / "t.onnx", resolution=32)
    for path, text in ((tmp_path / "missing", "cannot read"), (empty, "empty")):
        proc = run_cli("live", "--source", "synthetic://64x48", "--model", str(model),
                       "--headless", "--max-frames", "2", "--serve", f"127.0.0.1:{free_port()}",
                       "--serve-token-file", str(path))
        assert text in assert_one_line_error(proc)


# --- 10: authenticate first, bad lengths at once ---------------------------------------------


def test_a_post_is_authenticated_before_its_body_is_read(tmp_path: Path) -> None:
    """With a 30 s client timeout, an answer that waited for the body would time out the
    10 s read below: every answer here comes without one."""
    with PreviewServer("127.0.0.1", 0, token="tok", capture_dir=tmp_path,
                       client_timeout=30) as srv:
        srv.publish(FRAME, {}, raw=FRAME)
        port = srv.port
        assert request(port, "POST", "/capture?label=cat", {"Content-Length": "100"})[0] == 401
        assert request(port, "POST", "/capture?label=cat", {"Content-Length": "-1"})[0] == 401
        for length, code in (("-1", 400), ("abc", 400), ("1e3", 400), ("99999999", 413)):
            answer = request(port, "POST", "/capture?label=cat&token=tok",
                             {"Content-Length": length})
            assert answer[0] == code, (length, answer)
        assert request(port, "POST", "/capture?token=tok", {"Content-Length": "9"},
                       b"label=cat")[0] == 200
    assert len(saved(tmp_path)) == 1


# --- 17, 33: bad requests to a live process --------------------------------------------------


@pytest.mark.slow
def test_bad_requests_to_a_live_preview_are_400_without_a_traceback(tmp_path: Path) -> None:
    proc, port = start_live(tmp_path, "--capture-dir", str(tmp_path / "yard"))
    digits = "9" * 5000
    try:
        ready = wait_for(lambda: answering(port) == 200 and json.loads(
            request(port, "GET", "/stats.json")[2])["frames"] > 0, 60)
        answers = {
            "content-length abc": request(port, "POST", "/capture?label=cat",
                                          {"Content-Length": "abc"})[0],
            "GET camera=²": request(port, "GET", "/?camera=%C2%B2")[0],
            "GET stats camera=²": request(port, "GET", "/stats.json?camera=²")[0],
            "GET 5000 digits": request(port, "GET", f"/stats.json?camera={digits}")[0],
            "POST camera=²": request(port, "POST", "/capture?label=cat&camera=%C2%B2")[0],
            "POST 5000 digits": request(port, "POST", f"/capture?label=cat&camera={digits}")[0],
            "GET camera=-1": request(port, "GET", "/stats.json?camera=-1")[0],
        }
        others = {m: request(port, m, "/")[0]
                  for m in ("OPTIONS", "PUT", "DELETE", "PATCH", "TRACE", "BREW")}
        still = answering(port)
    finally:
        err = stop(proc)
    assert ready, err
    assert set(answers.values()) == {400}, answers
    assert set(others.values()) == {404}, others
    assert still == 200
    assert "Traceback" not in err and "Error" not in err, err
    assert not (tmp_path / "yard").exists()  # none of them saved a picture


def test_other_methods_are_404_as_the_reference_says(capturing: PreviewServer) -> None:
    for method in ("OPTIONS", "PUT", "DELETE", "PATCH", "PROPFIND"):
        code, headers, _ = request(capturing.port, method, "/stats.json")
        assert code == 404, method
    reference = (ROOT / "docs" / "commands.md").read_text()
    assert "Any other path or method (`PUT`, `OPTIONS`, ...) is 404" in reference


# --- 30: a capture folder that is a file -------------------------------------------------------


@pytest.mark.slow
def test_a_capture_dir_that_cannot_take_pictures_is_refused_at_start(tmp_path: Path) -> None:
    model = tiny_classifier(tmp_path / "t.onnx", resolution=32)
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep\n")
    for where, text in ((a_file, "not a directory"), (Path("/proc/yard"), "/proc/yard")):
        proc = run_cli("live", "--source", "synthetic://64x48", "--model", str(model),
                       "--headless", "--max-frames", "2", "--serve", f"127.0.0.1:{free_port()}",
                       "--capture-dir", str(where))
        assert text in assert_one_line_error(proc)
    assert a_file.read_text() == "keep\n"
