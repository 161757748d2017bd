"""What the service manager hears from a run it started (``edgecam service install`` writes
``Type=notify`` units with ``WatchdogSec=``): ``READY=1`` after the first result, ``WATCHDOG=1``
keep-alives while every camera delivers frames or is reconnecting by itself, ``STATUS=`` lines
for ``systemctl status``, ``STOPPING=1`` when the run ends.

The keep-alive is the point. A live source reads in a thread of its own, so the loop never
blocks on a camera; this sink is where it shows that a camera has sent no frame since the last
keep-alive although it says it runs (a read hanging in a driver or in FFmpeg), that a camera
reconnecting has not finished an attempt to reopen (an open that hangs), or that nothing
reaches the sinks at all (the loop, the model or another sink stuck). The keep-alives then
stop, the manager kills the process after ``WatchdogSec`` and ``Restart=on-failure`` starts it
again. A camera whose attempts to reconnect end (failing: it is unplugged, the network is down)
still gets keep-alives: its source retries by itself, and a restart would only do the same,
slower.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from edgecam.sinks.base import Sink
from edgecam.util.sdnotify import Notifier

if TYPE_CHECKING:
    from edgecam.pipeline.result import Result, Stats
    from edgecam.sources.frames import Stream

STATUS_EVERY_S = 5.0  # without a watchdog: how often the STATUS= line is refreshed


class NotifySink(Sink):
    """Keep-alives every half ``watchdog_s`` (as sd_watchdog_enabled(3) advises) while every
    open stream made progress since the previous one; the status line at the same pace."""

    uri = "systemd://notify"

    def __init__(self, notifier: Notifier, watchdog_s: float | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.notifier = notifier
        self.watchdog = watchdog_s is not None
        self.every = watchdog_s / 2 if watchdog_s is not None else STATUS_EVERY_S
        self.clock = clock
        self.ready = False
        self.pinged_at = self.said_at = float("-inf")
        self.uris: dict[int, str] = {}  # the open streams
        self.moved: dict[int, float] = {}  # when each last delivered a frame or reconnected
        self.doing: dict[int, str] = {}  # what each is doing, for the status line
        self.attempts: dict[int, int] = {}  # each one's ended attempts to reopen, last seen
        self.quiet: set[int] = set()  # streams with no progress since the last keep-alive

    def open(self, stream: Stream) -> None:
        self.uris[stream.index] = shown(stream.uri)
        self.moved[stream.index] = self.clock()
        self.doing[stream.index] = "waiting for the first frame"
        self.quiet.add(stream.index)

    def write(self, result: Result) -> None:
        stats = result.stats
        index = result.stream.index if result.stream is not None else 0
        self.attempts[index] = stats.attempts
        self._moved(index, f"{stats.fps:.1f} FPS, {stats.frames} frames, {stats.model}")

    def idle(self, stats: Stats, stream: Stream | None = None) -> None:
        index = stream.index if stream is not None else 0
        if stats.state == "reconnecting" and stats.attempts != self.attempts.get(index):
            self.attempts[index] = stats.attempts
            self._moved(index, "reconnecting")
        else:
            self._send()  # no frame, no attempt ended: the status says so, no keep-alive

    def end(self, stream: Stream, ok: bool) -> None:
        for table in (self.uris, self.moved, self.doing, self.attempts):
            table.pop(stream.index, None)
        self.quiet.discard(stream.index)

    def close(self, ok: bool) -> None:
        self.notifier.send("STOPPING=1", "STATUS=stopping")
        self.notifier.close()

    def _moved(self, index: int, doing: str) -> None:
        self.moved[index] = self.clock()
        self.doing[index] = doing
        self.quiet.discard(index)
        self._send(progressed=True)

    def _send(self, progressed: bool = False) -> None:
        now = self.clock()
        fields = []
        if progressed and not self.ready:
            fields.append("READY=1")
            self.ready = True
        if (self.watchdog and self.ready and not self.quiet
                and now - self.pinged_at >= self.every):
            fields.append("WATCHDOG=1")
            self.pinged_at = now
            self.quiet = set(self.uris)
        if fields or now - self.said_at >= self.every:
            fields.append(f"STATUS={self._status(now)}")
            self.said_at = now
            self.notifier.send(*fields)

    def _status(self, now: float) -> str:
        """One line for ``systemctl status``: each camera's rate, or what it waits for."""
        parts = []
        for index in sorted(self.uris):
            still = now - self.moved[index]
            doing = self.doing[index]
            if self.ready and still >= self.every:
                doing = (f"{'reconnecting, no answer' if doing == 'reconnecting' else 'no frame'}"
                         f" for {still:.0f} s")
            parts.append(f"{self.uris[index]}: {doing}")
        return "; ".join(parts) or "running"


def shown(uri: str) -> str:
    """``uri`` without a user name and password (``rtsp://user:pass@cam/``): every local user
    can read a service's status line."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
