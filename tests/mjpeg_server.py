"""A small MJPEG-over-HTTP camera for tests: ``python mjpeg_server.py PORT [FPS [VIDEO]]``
(a numbered test card, or the frames of VIDEO over and over).

It runs as its own process so a test can kill it (the network camera drops) and start it again
on the same port (the camera comes back), or send it SIGUSR1 to make it hang: every stream stops
mid-way with its connection left open, and new connections get no answer (a camera whose
firmware froze)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

BOUNDARY = "edgecamframe"
HUNG = threading.Event()


def frame_jpeg(i: int) -> bytes:
    image = np.full((240, 320, 3), (40, 90, 160), np.uint8)
    cv2.putText(image, f"{i}", (20, 150), cv2.FONT_HERSHEY_SIMPLEX, 3, (255, 255, 255), 6)
    return cv2.imencode(".jpg", image)[1].tobytes()


def video_jpegs(path: str) -> list[bytes]:
    cap = cv2.VideoCapture(path)
    frames = []
    ok, image = cap.read()
    while ok:
        frames.append(cv2.imencode(".jpg", image)[1].tobytes())
        ok, image = cap.read()
    cap.release()
    return frames


class Handler(BaseHTTPRequestHandler):
    fps = 30.0
    video: list[bytes] = []

    def log_message(self, *args: object) -> None:
        """Quiet."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.hang()
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.end_headers()
        i = 0
        try:
            while True:
                jpg = self.video[i % len(self.video)] if self.video else frame_jpeg(i)
                self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                 f"Content-Length: {len(jpg)}\r\n\r\n".encode() + jpg + b"\r\n")
                i += 1
                time.sleep(1.0 / self.fps)
                self.hang()
        except (BrokenPipeError, ConnectionResetError):
            return

    @staticmethod
    def hang() -> None:
        """Once hung, forever: the connection stays open and nothing more is sent."""
        while HUNG.is_set():
            time.sleep(1.0)


def start_camera(port: int, fps: float = 30.0, video: str | None = None) -> subprocess.Popen:
    """Run this camera in its own process on 127.0.0.1:port; returns once it listens."""
    proc = subprocess.Popen([sys.executable, __file__, str(port), str(fps), *filter(None, [video])],
                            stdout=subprocess.PIPE, text=True)
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise RuntimeError(f"the MJPEG test camera did not start on port {port}")
    return proc


if __name__ == "__main__":
    Handler.fps = float(sys.argv[2]) if len(sys.argv) > 2 else 30.0
    Handler.video = video_jpegs(sys.argv[3]) if len(sys.argv) > 3 else []
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGUSR1, lambda *_: HUNG.set())
    print("ready", flush=True)
    server.serve_forever()
