"""Browser preview for headless devices: the annotated picture as MJPEG plus live stats.

Stdlib HTTP server on its own threads. The pipeline only hands over the newest frame
(``publish`` is a few assignments under a lock); one encoder thread turns it into a JPEG only
while someone watches, and every viewer thread sends the newest JPEG whenever its socket can
take it, so a slow or stalled browser skips frames instead of slowing the camera.

A web page the user opens elsewhere can make the browser talk to this server, so requests are
checked before anything else: the ``Host`` must be one the server answers to (an address, a
loopback name, this machine's name or one named with ``names``; a DNS-rebinding page sends
its own name), a POST must not come from another origin (``Origin``, ``Sec-Fetch-Site``), the
token is checked before a body is read, and captures are bounded (a rate, and free space).
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import json
import logging
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import cv2
import numpy as np

from edgecam.sinks import preview_api
from edgecam.sinks.captures import region_crop
from edgecam.sinks.labelled import LabelFolder, check_label
from edgecam.util.errors import EdgecamError

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
BOUNDARY = "edgecamframe"
FRAME_WAIT_S = 2.0  # a page's frame request waits this long for a new frame
LINGER_S = 1.5  # after the run, a page that is watching gets this long to see it ended

STATS_DEFAULTS: dict[str, Any] = {
    "fps": 0.0, "latency_ms": 0.0, "label": None, "top": [], "model": "", "frames": 0,
    "dropped": 0,
    "state": "starting",
}

MAX_BODY = 4096  # a capture form is a label: anything longer is refused unread
CAPTURE_BURST = 10  # captures at once, then CAPTURE_RATE per second
CAPTURE_RATE = 2.0
RESERVE_SHARE, RESERVE_MIN = 0.05, 1 << 20  # free space captures never use: 5%, at least 1 MB
_CAMERA_RE = re.compile(r"[0-9]{1,4}")  # ASCII digits only: int() also takes "²" and "١"

_SERVE_RE = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.%\w]+)\]|(?P<host>[^:\[\]]*))?:?(?P<port>\d+)$")


def parse_serve(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT``, ``PORT`` or ``[IPv6]:PORT`` -> (host, port); loopback by default
    so a preview is private unless the user names an address."""
    raw = (text or "").strip()
    if raw.isdigit():
        host, port_text = DEFAULT_HOST, raw
    else:
        m = _SERVE_RE.match(raw)
        if not m or (":" not in raw):
            raise EdgecamError(f"--serve expects HOST:PORT, :PORT or PORT, got {text!r}")
        host = m.group("v6") or m.group("host") or DEFAULT_HOST
        port_text = m.group("port")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise EdgecamError(f"--serve port must be 0-65535, got {port}")
    return host, port


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.x, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(name.split("%")[0]).is_loopback
    except ValueError:
        return False


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        return False
    return True


def host_name(header: str) -> str | None:
    """The name in a ``Host`` header, lower case, without port, brackets or a final dot
    (None: not a host at all)."""
    text = header.strip().lower()
    m = re.fullmatch(r"\[([0-9a-f:.%\w]+)\](?::[0-9]{1,5})?|([^:\[\]/@\s]+)(?::[0-9]{1,5})?",
                     text)
    if not m:
        return None
    return (m.group(1) or m.group(2) or "").rstrip(".") or None


class _Bucket:
    """Token bucket: ``burst`` at once, then ``rate`` per second (None: no bound)."""

    def __init__(self, rate: float | None, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._tokens = float(burst)
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0 when one was taken, else the seconds until the next one."""
        if self.rate is None:
            return 0.0
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self.rate


class Refused(EdgecamError):
    """A request the server answers with ``status`` (and ``headers``) instead of serving."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None
                 ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # viewer threads must never keep the process alive
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A request that broke its handler: logged for debugging, never a traceback on the
        live process's stderr."""
        log.debug("preview: request from %s failed", client_address[0], exc_info=True)

    def __init__(self, address: tuple[str, int], handler: type, preview: PreviewServer) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.preview = preview
        super().__init__(address, handler)


class _Channel:
    """One camera's newest picture, its JPEG and its stats. An encoder thread turns a new
    picture into a JPEG only while someone watches this camera."""

    def __init__(self, quality: int, max_clients: int) -> None:
        self.quality = quality
        self.max_clients = max_clients
        self.frames_published = 0  # publish() calls
        self.frames_encoded = 0  # JPEG encodings (only while someone watches)
        self._lock = threading.Lock()
        self._new_frame = threading.Condition(self._lock)  # wakes the encoder
        self._new_jpeg = threading.Condition(self._lock)  # wakes the viewers
        self._encode_lock = threading.Lock()  # one encoding at a time, shared by all viewers
        self._image: np.ndarray | None = None
        self.raw: np.ndarray | None = None  # the newest frame before the overlay (capture)
        self.raw_regions: dict | None = None  # the regions' boxes published with ``raw``
        self._seq = 0
        self._stats: dict[str, Any] = dict(STATS_DEFAULTS)
        self._jpeg: bytes | None = None
        self._jpeg_seq = 0
        self._jpeg_stats: dict[str, Any] = dict(STATS_DEFAULTS)  # published with that frame
        self._published = threading.Condition(self._lock)  # wakes the page's frame requests
        self._streamers = 0
        self._closed = False
        self.thread = threading.Thread(target=self._encoder, name="edgecam-preview-jpeg",
                                       daemon=True)

    def publish(self, image_bgr: np.ndarray, stats: dict | None,
                raw: np.ndarray | None = None) -> None:
        with self._lock:
            self.frames_published += 1
            if self._closed:
                return
            if raw is not None:
                self.raw = raw
                self.raw_regions = (stats or {}).get("regions")
            # a viewer's encoder reads the frame later: copy so in-place drawing on the next
            # frame cannot tear it (cheap next to the JPEG that follows anyway)
            self._image = image_bgr.copy() if self._streamers else image_bgr
            self._seq += 1
            if stats is not None:
                self._stats = stats
            if self._streamers:
                self._new_frame.notify()
            self._published.notify_all()

    def newest(self) -> tuple[tuple[int, int] | None, dict | None]:
        """(width, height) of the newest frame and the regions published with it (with the
        raw frame when one is kept: stats without a frame, reconnecting, name none)."""
        with self._lock:
            image, stats, raw, regions = self._image, self._stats, self.raw, self.raw_regions
        if image is None:
            return None, None
        return (image.shape[1], image.shape[0]), regions if raw is not None else stats.get(
            "regions")

    def raw_frame(self) -> tuple[np.ndarray | None, dict | None]:
        """The newest frame before the overlay and the regions' boxes published with it."""
        with self._lock:
            return self.raw, self.raw_regions

    def update_stats(self, stats: dict) -> None:
        """New stats with no new frame (a camera reconnecting, the source ended)."""
        with self._lock:
            self._stats = stats
            self._published.notify_all()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            merged = {**STATS_DEFAULTS, **self._stats}
            merged["viewers"] = self._streamers
        return merged

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._new_frame.notify_all()
            self._new_jpeg.notify_all()
            self._published.notify_all()

    def _encoder(self) -> None:
        """Encode each new frame once, only while at least one stream viewer is connected."""
        while True:
            with self._lock:
                self._new_frame.wait_for(
                    lambda: self._closed
                    or (self._streamers > 0 and self._image is not None
                        and self._seq != self._jpeg_seq))
                if self._closed:
                    return
            try:
                self.latest_jpeg()
            except Exception:  # never let one bad frame kill the preview
                log.exception("preview: JPEG encoding failed")
                with self._lock:
                    self._jpeg_seq = self._seq

    def latest_jpeg(self) -> tuple[int, bytes | None]:
        """(sequence, JPEG) of the newest frame, encoding it if that has not happened yet."""
        seq, jpeg, _ = self.latest()
        return seq, jpeg

    def latest(self) -> tuple[int, bytes | None, dict[str, Any]]:
        """(sequence, JPEG, the stats published with that frame) of the newest frame."""
        with self._encode_lock:
            with self._lock:
                seq, image, jseq, jpeg = self._seq, self._image, self._jpeg_seq, self._jpeg
                stats, jstats = self._stats, self._jpeg_stats
            if image is None or seq == jseq:
                return jseq, jpeg, jstats
            ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
            if not ok:
                raise RuntimeError("cv2.imencode failed")
            jpeg = buf.tobytes()
            with self._lock:
                self.frames_encoded += 1
                self._jpeg, self._jpeg_seq, self._jpeg_stats = jpeg, seq, stats
                self._new_jpeg.notify_all()
            return seq, jpeg, stats

    def shown(self, after: int, timeout: float) -> tuple[int, bytes | None, dict[str, Any]]:
        """The page's one source of truth: (sequence, JPEG, the stats published with that very
        frame), waiting (bounded) for a frame newer than ``after``; (after, None, the current
        stats) when none came, so a page still learns that the source reconnects or ended."""
        with self._lock:
            self._published.wait_for(lambda: self._closed or self._seq != after
                                     or self._stats.get("state") == "ended", timeout=timeout)
            fresh = self._seq != after and self._image is not None and not self._closed
            current = {**STATS_DEFAULTS, **self._stats}
        if not fresh:
            return after, None, current
        seq, jpeg, stats = self.latest()
        return seq, jpeg, {**STATS_DEFAULTS, **stats}

    def join(self) -> bool:
        with self._lock:
            if self._closed or self._streamers >= self.max_clients:
                return False
            self._streamers += 1
            if self._image is not None and self._seq != self._jpeg_seq:
                self._new_frame.notify()
            return True

    def leave(self) -> None:
        with self._lock:
            self._streamers -= 1

    def next_jpeg(self, after: int, timeout: float = 1.0) -> tuple[int, bytes | None]:
        """Wait (bounded) for a JPEG newer than ``after``; (after, None) on timeout/close."""
        with self._lock:
            self._new_jpeg.wait_for(
                lambda: self._closed or (self._jpeg is not None and self._jpeg_seq != after),
                timeout=timeout)
            if self._closed or self._jpeg is None or self._jpeg_seq == after:
                return after, None
            return self._jpeg_seq, self._jpeg


class PreviewServer:
    """Serve ``/`` (page), ``/stream.mjpg``, ``/frame.jpg`` and ``/stats.json`` for each
    camera (``?camera=N``, default 0), and ``/grid`` with every camera on one page. With
    ``capture_dir`` also ``POST /capture?label=NAME&camera=N``: the camera's newest frame as it
    came (without the overlay) saved to ``capture_dir/NAME/`` like ``edgecam capture`` does,
    so a data set can be collected from a laptop's browser. ``studio`` (the region editor and
    the train button, ``edgecam.studio``) adds the JSON API of ``edgecam.sinks.preview_api``
    under ``/api/``."""

    def __init__(self, host: str = DEFAULT_HOST, port: int = 0, token: str | None = None,
                 max_clients: int = 4, quality: int = 80, client_timeout: float = 10.0,
                 capture_dir: str | Path | None = None, names: Iterable[str] = (),
                 capture_rate: float | None = CAPTURE_RATE, capture_burst: int = CAPTURE_BURST,
                 studio: preview_api.Studio | None = None) -> None:
        self.host = host
        # Host names answered besides addresses and loopback names: the bound name, this
        # machine's (and its mDNS .local), and the user's (--serve-name)
        own = socket.gethostname().lower()
        self.names = {n.strip().lower().rstrip(".") for n in (*names, host, own, f"{own}.local")
                      if n.strip()}
        self._captures = _Bucket(capture_rate, capture_burst)
        self._disk_low = False
        self.port = port
        self.token = token or None
        self.max_clients = max_clients  # stream viewers per camera
        self.quality = quality
        self.client_timeout = client_timeout
        self._lock = threading.Lock()
        self._channels: list[_Channel] = []
        self._last_poll = -1e9  # when a page last asked for a frame
        self._sockets: set[socket.socket] = set()
        self._closed = False
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self.capture_dir = Path(capture_dir) if capture_dir is not None else None
        self._folders: dict[str, LabelFolder] = {}
        self.studio = studio
        self.channel(0)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> PreviewServer:
        """Bind (port 0 picks a free port) and serve in background threads."""
        if self._server is not None:
            return self
        try:
            self._server = _Server((self.host, self.port), _Handler, self)
        except OSError as e:
            reason = e.strerror or str(e)
            raise EdgecamError(f"cannot serve on {self.host}:{self.port}: {reason}") from None
        self.port = self._server.server_address[1]
        self._threads = [threading.Thread(target=self._server.serve_forever,
                                          kwargs={"poll_interval": 0.2},
                                          name="edgecam-preview", daemon=True)]
        self._threads[0].start()
        with self._lock:
            for channel in self._channels:
                channel.thread.start()
        log.debug("preview serving on %s", self.url)
        return self

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if host in ("", "0.0.0.0", "[::]"):
            host = socket.gethostname()
        query = f"?token={quote(self.token, safe='')}" if self.token else ""
        return f"http://{host}:{self.port}/{query}"

    def polled(self) -> None:
        """A page asked for a frame (it is watching)."""
        self._last_poll = time.monotonic()

    def linger(self, seconds: float = LINGER_S) -> None:
        """When a page watched in the last seconds, give it time to fetch the final stats
        (``ended``) before the server goes, so it says the source ended instead of going
        blank; returns at once when nobody watches."""
        if time.monotonic() - self._last_poll > FRAME_WAIT_S + 1.0:
            return
        asked = self._last_poll
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self._last_poll == asked:
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop serving and drop viewers; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            channels, sockets = list(self._channels), list(self._sockets)
        for channel in channels:
            channel.close()
        for sock in sockets:  # unblock viewers stuck in send()
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads + [c.thread for c in channels if c.thread.is_alive()]:
            thread.join(timeout=2.0)

    close = stop

    def __enter__(self) -> PreviewServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- pipeline side ---------------------------------------------------------------------

    def channel(self, camera: int) -> _Channel:
        """Camera ``camera``'s channel, made on first use (with the ones before it)."""
        with self._lock:
            while len(self._channels) <= camera:
                channel = _Channel(self.quality, self.max_clients)
                self._channels.append(channel)
                if self._server is not None:
                    channel.thread.start()
            return self._channels[camera]

    @property
    def cameras(self) -> int:
        return len(self._channels)

    def publish(self, image_bgr: np.ndarray, stats: dict | None = None, camera: int = 0,
                raw: np.ndarray | None = None) -> None:
        """Hand over the newest frame and stats; O(1) when nobody watches, never waits on I/O.
        ``raw`` is the same frame without the overlay (what the capture button saves)."""
        self.channel(camera).publish(image_bgr, stats, raw)

    def update_stats(self, stats: dict, camera: int = 0) -> None:
        """New stats for ``camera`` without a new frame (reconnecting, ended)."""
        self.channel(camera).update_stats(stats)

    def stats(self, camera: int = 0) -> dict[str, Any]:
        """The latest published stats with the fields the page relies on always present."""
        stats = self.channel(camera).stats()
        if self.capture_dir is not None:
            with self._lock:
                saved = {label: f.saved for label, f in self._folders.items()}
            stats["capture"] = {"dir": str(self.capture_dir), "saved": saved}
        return stats

    def capture(self, label: str, camera: int = 0, region: str | None = None) -> Path:
        """Save camera ``camera``'s newest raw frame (or ``region``'s crop of it) as a picture
        of ``label``, through the ``LabelFolder`` of ``edgecam capture`` (EdgecamError: capture
        off, a label that is not a folder name, no frame yet, an unknown region; Refused: too
        many at once, the disk nearly full)."""
        if self.capture_dir is None:
            raise EdgecamError("capture is off (start live with --capture-dir DIR)")
        image, regions = self.channel(camera).raw_frame()
        if image is None:
            raise EdgecamError("no frame yet")
        if region is not None:
            image = region_crop(image, regions, region)
        wait = self._captures.take()
        if wait:
            raise Refused(429, "too many captures at once; try again in a moment",
                          {"Retry-After": str(max(1, round(wait + 0.5)))})
        self._check_space()
        with self._lock:
            folder = self._folders.get(check_label(label))
        if folder is None:
            folder = LabelFolder(self.capture_dir, label)
            with self._lock:
                folder = self._folders.setdefault(folder.label, folder)
        return folder.save(image)

    def newest(self, camera: int) -> tuple[tuple[int, int] | None, dict | None]:
        """The size (width, height) of camera ``camera``'s newest frame and the regions
        published with it (None, None before its first frame)."""
        return self.channel(camera).newest()

    def _check_space(self) -> None:
        """Captures stop while the capture folder's disk has less than 5% (at least 1 MB)
        free, said once in the log; they go on when space is freed."""
        assert self.capture_dir is not None
        where = self.capture_dir
        while not where.exists() and where != where.parent:
            where = where.parent
        try:
            usage = shutil.disk_usage(where)
        except OSError:
            return
        reserve = max(RESERVE_MIN, RESERVE_SHARE * usage.total)
        low = usage.free < reserve
        if low and not self._disk_low:
            log.warning("capture stopped: the disk of %s is nearly full (%.1f MB free, %.0f MB "
                        "kept free); free some space to capture again", self.capture_dir,
                        usage.free / 1e6, reserve / 1e6)
        self._disk_low = low
        if low:
            raise Refused(507, f"not saved: the disk is nearly full ({usage.free / 1e6:.1f} MB "
                               "free)")

    def host_allowed(self, header: str | None) -> bool:
        """Whether a request naming ``header`` as its Host is for this server: any address
        (a DNS-rebinding page can only send a name), loopback names, and the names in
        ``names``. No Host at all is no browser (HTTP/1.0 tools)."""
        if header is None:
            return True
        name = host_name(header)
        if name is None:
            return False
        return _is_ip(name) or is_loopback(name) or name in self.names

    @property
    def frames_published(self) -> int:
        return sum(c.frames_published for c in self._channels)

    @property
    def frames_encoded(self) -> int:
        return sum(c.frames_encoded for c in self._channels)

    def latest_jpeg(self, camera: int = 0) -> tuple[int, bytes | None]:
        return self.channel(camera).latest_jpeg()

    # -- viewer side (called from handler threads) ------------------------------------------

    def _join(self, sock: socket.socket, camera: int = 0) -> bool:
        if self._closed or not self.channel(camera).join():
            return False
        with self._lock:
            self._sockets.add(sock)
        return True

    def _leave(self, sock: socket.socket, camera: int = 0) -> None:
        self.channel(camera).leave()
        with self._lock:
            self._sockets.discard(sock)

    @property
    def closed(self) -> bool:
        return self._closed

    def authorized(self, query_token: str | None, header_token: str | None) -> bool:
        if not self.token:
            return True
        given = query_token or header_token or ""
        return hmac.compare_digest(given.encode(), self.token.encode())


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "edgecam"
    sys_version = ""

    def setup(self) -> None:
        # dead viewers time out of send() (a ClassVar in the stubs; setup() reads the instance's)
        self.timeout = self.server.preview.client_timeout  # type: ignore[misc]
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("preview %s: " + format, self.client_address[0], *args)

    head_only = False  # a HEAD request: the same status and headers as GET, no body

    def do_HEAD(self) -> None:  # noqa: N802 - stdlib name
        self.head_only = True
        self.do_GET()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None
                   ) -> None:
        """Methods other than GET, HEAD, POST, PUT and DELETE (OPTIONS: no page of another
        site is ever let in) are 404 like any path the server does not have (the stdlib would
        say 501)."""
        if code == HTTPStatus.NOT_IMPLEMENTED:
            self.close_connection = True
            self._send(404, b"not found\n", "text/plain")
            return
        super().send_error(code, message, explain)

    def _checked(self, post: bool) -> tuple[PreviewServer, Any, dict[str, list[str]], int]:
        """(preview, url, query, camera) of a request that passed the checks every request
        goes through, in order: the Host, the origin of a POST, the token (from the URL or a
        header, never a body), the camera number. Refused otherwise."""
        preview = self.server.preview
        if not preview.host_allowed(self.headers.get("Host")):
            raise Refused(403, "this server does not answer to that Host name (start live "
                               "with --serve-name NAME to add one)")
        if post and _cross_site(self.headers):
            raise Refused(403, "cross-site request refused")
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        header = self.headers.get("X-Edgecam-Token") or _bearer(self.headers.get("Authorization"))
        if not preview.authorized((query.get("token") or (None,))[0], header):
            raise Refused(401, "token required: add ?token=... to the URL\n")
        camera_arg = (query.get("camera") or (None,))[0]
        if camera_arg is not None and not _CAMERA_RE.fullmatch(camera_arg):
            raise Refused(400, "camera must be a camera number (0, 1, ...)")
        return preview, url, query, int(camera_arg or 0)

    def _refuse(self, refused: Refused, ctype: str = "text/plain") -> None:
        """Answer at once; the connection closes (a body it did not read is not a request)."""
        self.close_connection = True
        text = str(refused)
        body = (json.dumps({"error": text.strip()}) if ctype == "application/json"
                else text if text.endswith("\n") else text + "\n").encode()
        self._send(refused.status, body, ctype, {"Connection": "close", **refused.headers})

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        try:
            preview, url, query, camera = self._checked(post=False)
        except Refused as refused:
            self._refuse(refused)
            return
        if url.path.startswith("/api/"):
            self._api("GET", preview, url.path, query, camera)
            return
        route = {"/": self._page, "/index.html": self._page, "/grid": self._grid,
                 "/stats.json": self._stats, "/stream.mjpg": self._stream,
                 "/frame.jpg": self._frame, "/studio.js": self._script,
                 "/studio.css": self._script}.get(url.path)
        if route is None or camera >= preview.cameras:
            self._send(404, b"not found\n", "text/plain")
            return
        if route == self._page and "camera" not in query and preview.cameras > 1:
            route = self._grid  # several cameras: all of them first
        try:
            route(preview, camera)
        except (ConnectionError, TimeoutError, OSError) as e:
            log.debug("preview client %s went away: %s", self.client_address[0], e)

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        """``/capture?label=NAME&camera=N`` (or label in a form body): save the newest frame.
        Everything is checked before the body is read, and a length that is not a small
        number is answered at once."""
        try:
            preview, url, query, camera = self._checked(post=True)
            if url.path.startswith("/api/"):
                self._api("POST", preview, url.path, query, camera)
                return
            form = parse_qs(self._body().decode("utf-8", "replace"))
        except Refused as refused:
            self._refuse(refused, "application/json" if refused.status != 401 else "text/plain")
            return
        query = {**form, **query}
        if url.path != "/capture" or not 0 <= camera < preview.cameras:
            self._send(404, b"not found\n", "text/plain")
            return
        try:
            path = preview.capture((query.get("label") or [""])[0], camera)
        except Refused as refused:
            self._refuse(refused, "application/json")
            return
        except EdgecamError as exc:
            code = 404 if preview.capture_dir is None else 400
            self._send(code, json.dumps({"error": str(exc)}).encode(), "application/json")
            return
        count = preview.stats(camera)["capture"]["saved"].get(path.parent.name, 0)
        body = {"saved": str(path), "label": path.parent.name, "count": count}
        self._send(200, json.dumps(body).encode(), "application/json")

    def do_PUT(self) -> None:  # noqa: N802 - stdlib name
        self._changing("PUT")

    def do_DELETE(self) -> None:  # noqa: N802 - stdlib name
        self._changing("DELETE")

    def _changing(self, method: str) -> None:
        """A PUT or DELETE: the API's only, checked like a POST."""
        try:
            preview, url, query, camera = self._checked(post=True)
        except Refused as refused:
            self._refuse(refused, "application/json" if refused.status != 401 else "text/plain")
            return
        if not url.path.startswith("/api/"):
            self.close_connection = True
            self._send(404, b"not found\n", "text/plain")
            return
        self._api(method, preview, url.path, query, camera)

    def _api(self, method: str, preview: PreviewServer, path: str,
             query: dict[str, list[str]], camera: int) -> None:
        """An ``/api/`` request, answered by ``edgecam.sinks.preview_api``."""
        if camera >= preview.cameras:
            reply = preview_api.refusal(preview_api.ApiError(f"no camera {camera}", 404),
                                        close=method in ("POST", "PUT"))
        else:
            reply = preview_api.handle(preview, method, path, query, camera, self.headers,
                                       self.rfile)
        if reply.close:
            self.close_connection = True
            reply.headers["Connection"] = "close"
        self._send(reply.status, reply.body, reply.ctype, reply.headers)

    def _body(self) -> bytes:
        """The form body, at most MAX_BODY bytes, only with a plain Content-Length."""
        try:
            length = preview_api.body_length(self.headers, MAX_BODY)
        except preview_api.ApiError as exc:
            raise Refused(exc.status, str(exc)) from None
        return self.rfile.read(length) if length else b""

    def _send(self, code: int, body: bytes, ctype: str, extra: dict | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not self.head_only:
            self.wfile.write(body)

    def _page(self, preview: PreviewServer, camera: int) -> None:
        self._send(200, page("preview.html"), "text/html; charset=utf-8")

    def _grid(self, preview: PreviewServer, camera: int) -> None:
        self._send(200, page("grid.html"), "text/html; charset=utf-8")

    def _script(self, preview: PreviewServer, camera: int) -> None:
        """The page's studio (region editor, captures, the train button): plain files."""
        name = urlsplit(self.path).path.lstrip("/")
        ctype = "text/css" if name.endswith(".css") else "text/javascript"
        self._send(200, page(name), f"{ctype}; charset=utf-8")

    def _stats(self, preview: PreviewServer, camera: int) -> None:
        stats = preview.stats(camera)
        stats["camera"], stats["cameras"] = camera, preview.cameras
        self._send(200, json.dumps(stats, default=_jsonable).encode(), "application/json")

    def _frame(self, preview: PreviewServer, camera: int) -> None:
        """The newest frame; with ``?after=SEQ`` (the page) a frame newer than SEQ, waited for
        up to 2 s, with the stats published with it in ``X-Edgecam-Stats`` and its number in
        ``X-Edgecam-Seq`` (204 and the current stats when none came)."""
        after = (parse_qs(urlsplit(self.path).query).get("after") or (None,))[0]
        if after is None or not (after.isascii() and after.isdigit()) or len(after) > 18:
            _, jpeg = preview.latest_jpeg(camera)
            if jpeg is None:
                self._send(503, b"no frame yet\n", "text/plain", {"Retry-After": "1"})
            else:
                self._send(200, jpeg, "image/jpeg")
            return
        seq, jpeg, stats = preview.channel(camera).shown(int(after), FRAME_WAIT_S)
        stats["camera"], stats["cameras"] = camera, preview.cameras
        if preview.capture_dir is not None:
            stats["capture"] = preview.stats(camera)["capture"]
        headers = {"X-Edgecam-Seq": str(seq),
                   "X-Edgecam-Stats": json.dumps(stats, default=_jsonable, ensure_ascii=True)}
        preview.polled()
        if jpeg is None:
            self._send(204, b"", "image/jpeg", headers)
        else:
            self._send(200, jpeg, "image/jpeg", headers)

    def _stream_headers(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()

    def _stream(self, preview: PreviewServer, camera: int) -> None:
        if self.head_only:  # what GET would start with, without taking a viewer's place
            self._stream_headers()
            return
        channel = preview.channel(camera)
        if not preview._join(self.connection, camera):
            self._send(503, b"too many viewers\n", "text/plain", {"Retry-After": "5"})
            return
        try:
            self._stream_headers()
            seq = 0
            while not preview.closed:
                seq, jpeg = channel.next_jpeg(seq)
                if jpeg is None:
                    continue
                self.wfile.write(
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n")
        finally:
            preview._leave(self.connection, camera)


def _cross_site(headers: Any) -> bool:
    """Whether a browser sent this request for a page of another origin: its Origin is not
    this server as the request names it (the Host), or Sec-Fetch-Site says so. Tools that
    send neither (curl, scripts) are not browsers a page can drive."""
    site = (headers.get("Sec-Fetch-Site") or "").strip().lower()
    if site and site not in ("same-origin", "none"):
        return True
    origin = headers.get("Origin")
    if origin is None:
        return False
    netloc = urlsplit(origin.strip()).netloc.lower()
    return not netloc or netloc != (headers.get("Host") or "").strip().lower()


def _bearer(value: str | None) -> str | None:
    if value and value.lower().startswith("bearer "):
        return value[7:].strip()
    return None


def _jsonable(value: Any) -> Any:
    """numpy scalars and the like in stats become plain JSON."""
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


@functools.cache
def page(name: str) -> bytes:
    """A page of the preview (``edgecam/sinks/static/``), read once from the package."""
    return resources.files("edgecam.sinks").joinpath("static").joinpath(name).read_bytes()
