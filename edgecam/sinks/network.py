"""Sinks that publish: ``http://HOST:PORT`` (the browser preview) and
``mqtt://HOST[:PORT]/PREFIX``. Addresses are checked when the sink is built; both start when
the first source opens (a port in use is one line before the first frame), and neither ever
waits on the network in ``write``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from edgecam.sinks.base import Sink

if TYPE_CHECKING:
    from edgecam.io.frames import Stream
    from edgecam.pipeline import Result, Stats

log = logging.getLogger(__name__)


class PreviewSink(Sink):
    """The annotated picture as MJPEG and the stats as JSON (see ``edgecam.io.preview``)."""

    needs_image = True

    def __init__(self, uri: str, token: str | None = None) -> None:
        from edgecam.io.preview import PreviewServer, is_loopback, parse_serve

        super().__init__()
        self.uri = uri
        host, port = parse_serve(uri.removeprefix("http://").rstrip("/"))
        if not is_loopback(host) and not token:
            log.warning("warning: serving on %s without --serve-token: anyone on the network "
                        "can watch", host)
        self.server = PreviewServer(host, port, token=token)
        self._image = None

    def open(self, stream: Stream) -> None:
        if not self.written:
            self.server.start()
            self.written.append(self.server.url)
            log.info("preview at %s", self.server.url)

    def write(self, result: Result) -> None:
        self._image = result.frame.image
        self.server.publish(result.frame.image, result.stats.to_dict(result.top))

    def idle(self, stats: Stats) -> None:
        if self._image is not None:
            self.server.publish(self._image, stats.to_dict())

    def close(self, ok: bool) -> None:
        self.server.stop()


class MqttSink(Sink):
    """Prediction events when top-1 changes, plus a rate-limited stats heartbeat."""

    def __init__(self, uri: str, model: str) -> None:
        from edgecam.io.mqtt import MqttPublisher

        super().__init__()
        self.uri = uri
        self.publisher = MqttPublisher(uri, model)

    def open(self, stream: Stream) -> None:
        self.publisher.start()  # once; later calls return at once

    def write(self, result: Result) -> None:
        self.publisher.prediction([p.to_dict() for p in result.top], result.frame.index)
        self.publisher.stats(result.stats.to_dict(result.top))

    def idle(self, stats: Stats) -> None:
        self.publisher.stats(stats.to_dict())

    def close(self, ok: bool) -> None:
        self.publisher.close()
