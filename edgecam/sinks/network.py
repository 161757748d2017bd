"""Sinks that publish: ``http://HOST:PORT`` (the browser preview) and
``mqtt://HOST[:PORT]/PREFIX``. Addresses are checked when the sink is built; both start when
the first source opens (a port in use is one line before the first frame), and neither ever
waits on the network in ``write``."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from edgecam.sinks.base import Sink

if TYPE_CHECKING:
    import numpy as np

    from edgecam.pipeline.loop import Result, Stats
    from edgecam.sinks.preview_api import Studio
    from edgecam.sources.frames import Stream

log = logging.getLogger(__name__)


class PreviewSink(Sink):
    """The annotated picture as MJPEG and the stats as JSON (see ``edgecam.sinks.preview``),
    each camera of the run on its own channel (``?camera=N``); with ``capture_dir`` a
    capture button saves the camera's frame (without the overlay) to ``capture_dir/LABEL/``,
    and with ``studio`` the page edits the regions and trains (``/api/``)."""

    needs_image = True

    def __init__(self, uri: str, token: str | None = None,
                 capture_dir: str | None = None, names: Iterable[str] = (),
                 studio: Studio | None = None) -> None:
        from edgecam.sinks.preview import PreviewServer, is_loopback, parse_serve
        from edgecam.util.safewrite import check_writable

        super().__init__()
        self.uri = uri
        host, port = parse_serve(uri.removeprefix("http://").rstrip("/"))
        if capture_dir is not None:  # a file or a folder that takes no file: now, not at a click
            check_writable(capture_dir, directory=True)
        if not is_loopback(host) and not token:
            log.warning("warning: serving on %s without --serve-token: anyone on the network "
                        "can watch%s", host, f" and save pictures to {capture_dir}"
                        if capture_dir is not None else "")
        self.server = PreviewServer(host, port, token=token, capture_dir=capture_dir,
                                    names=names, studio=studio)
        self.needs_raw = capture_dir is not None  # the capture button saves the raw frame
        self._images: dict[int, np.ndarray] = {}

    def open(self, stream: Stream) -> None:
        self.server.channel(stream.index)
        if not self.written:
            self.server.start()
            self.written.append(self.server.url)
            log.info("preview at %s", self.server.url)

    def write(self, result: Result) -> None:
        camera = camera_of(result.stream)
        self._images[camera] = result.frame.image
        self.server.publish(result.frame.image, stats_of(result.stats, result.top,
                                                         result.stream, result.label,
                                                         regions_of(result)),
                            camera, raw=result.raw)

    def idle(self, stats: Stats, stream: Stream | None = None) -> None:
        camera = camera_of(stream)
        if camera in self._images:
            self.server.publish(self._images[camera], stats_of(stats, (), stream), camera)

    def end(self, stream: Stream, ok: bool) -> None:
        """The page says the source ended (or failed) instead of going blank."""
        camera = camera_of(stream)
        stats = self.server.stats(camera)
        stats.update(state="ended" if ok else "failed", fps=0.0)
        self.server.update_stats(stats, camera)

    def close(self, ok: bool) -> None:
        self.server.linger()
        self.server.stop()


class MqttSink(Sink):
    """Prediction events when the answer changes (the top-1, or to and from "unknown"), plus
    a rate-limited stats heartbeat; with several cameras each has its own topics
    (``PREFIX/<model>/camera<N>/...``)."""

    def __init__(self, uri: str, model: str) -> None:
        from edgecam.sinks.mqtt import MqttPublisher

        super().__init__()
        self.uri = uri
        self.publisher = MqttPublisher(uri, model)
        self.cameras = 0

    def open(self, stream: Stream) -> None:
        self.cameras += 1
        self.publisher.start()  # once; later calls return at once

    def _camera(self, stream: Stream | None) -> str | None:
        return f"camera{camera_of(stream)}" if self.cameras > 1 else None

    def write(self, result: Result) -> None:
        from edgecam.sinks.events import event_record

        camera = self._camera(result.stream)
        self.publisher.prediction([p.to_dict() for p in result.top], result.frame.index,
                                  camera, label=result.label)
        if not result.whole:  # the same events as an events folder's lines
            for region in result.changes:
                self.publisher.event(event_record(result, region), camera)
        self.publisher.stats(stats_of(result.stats, result.top, result.stream, result.label,
                                      regions_of(result)), camera)

    def idle(self, stats: Stats, stream: Stream | None = None) -> None:
        self.publisher.stats(stats_of(stats, (), stream), self._camera(stream))

    def close(self, ok: bool) -> None:
        self.publisher.close()
        if self.publisher.events:  # how the events fared: a run never ends silent on a loss
            (log.warning if self.publisher.lost else log.info)("%s", self.publisher.report())


def camera_of(stream: Stream | None) -> int:
    return stream.index if stream is not None else 0


def regions_of(result: Result) -> dict | None:
    """Each region's answer, state and box, for /stats.json and the heartbeat (None: the run
    watches the whole frame)."""
    if result.whole:
        return None
    return {r.name: {**r.record(), "box": list(r.box) if r.box else None}
            for r in result.regions}


def stats_of(stats: Stats, top, stream: Stream | None, label: str | None = None,
             regions: dict | None = None) -> dict:
    """What /stats.json and the heartbeat say: the run's stats with the frame's answer
    (``label``) and top-k, or each region's, which source they are and the model's name for
    people."""
    from edgecam.models.catalog import model_title

    data = stats.to_dict(top, label)
    data["title"] = model_title(stats.model)
    if stream is not None:
        data["source"] = stream.uri
    if regions is not None:
        data["regions"] = regions
    return data
