"""Sinks that publish: ``http://HOST:PORT`` (the browser preview) and
``mqtt://HOST[:PORT]/PREFIX``. Addresses are checked when the sink is built; both start when
the first source opens (a port in use is one line before the first frame), and neither ever
waits on the network in ``write``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from edgecam.sinks.base import Sink

if TYPE_CHECKING:
    import numpy as np

    from edgecam.pipeline.loop import Result, Stats
    from edgecam.sinks.homeassistant import CameraEntities
    from edgecam.sinks.mqtt import MqttPublisher
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
    """Each camera on its own connection and topics, ``PREFIX/<camera>/...``: prediction
    events when the answer changes (the top-1, or to and from "unknown"), region state
    changes, each region's state, a rate-limited stats heartbeat, and with ``ha_prefix``
    Home Assistant's discovery (``edgecam.sinks.homeassistant``). A camera is named by
    ``names`` (in the order of the sources) or after its source."""

    def __init__(self, uri: str, names: Sequence[str] = (),
                 ha_prefix: str | None = None) -> None:
        from edgecam.sinks.mqtt import paho, parse_mqtt_url

        super().__init__()
        parse_mqtt_url(uri)
        paho()  # a missing extra is one line before the run, not when the camera opens
        self.uri = uri
        self.names = list(names)
        self.ha_prefix = ha_prefix
        self.needs_raw = ha_prefix is not None  # snapshots show the frame as the camera gave it
        self.cameras: dict[int, CameraEntities] = {}
        self.publishers: list[MqttPublisher] = []  # every camera's, closed or not
        self._lock = threading.Lock()

    def open(self, stream: Stream) -> None:
        from edgecam.sinks.homeassistant import CameraEntities
        from edgecam.sinks.mqtt import MqttPublisher, camera_name, slug

        index = camera_of(stream)
        with self._lock:  # classify --jobs opens several files at once
            if index in self.cameras:
                return
            name = (self.names[index] if index < len(self.names) else camera_name(stream.uri))
            taken = {slug(p.camera) for p in self.publishers}
            unique, n = name, 1
            while slug(unique) in taken:  # two sources with one name: the second is NAME_2
                n += 1
                unique = f"{name}_{n}"
            publisher = MqttPublisher(self.uri, unique).start()
            self.publishers.append(publisher)
            self.cameras[index] = CameraEntities(publisher, self.ha_prefix)

    @property
    def publisher(self) -> MqttPublisher:
        """The first camera's connection (a run of one camera has only this one)."""
        return self.publishers[0]

    def write(self, result: Result) -> None:
        from edgecam.sinks.events import event_record

        camera = self.cameras[camera_of(result.stream)]
        publisher = camera.publisher
        publisher.prediction([p.to_dict() for p in result.top], result.frame.index,
                             label=result.label, model=result.stats.model)
        for region in result.changes:  # the same events as an events folder's lines
            publisher.event(event_record(result, region))
        camera.update(result)
        publisher.stats(stats_of(result.stats, result.top, result.stream, result.label,
                                 regions_of(result)))

    def idle(self, stats: Stats, stream: Stream | None = None) -> None:
        camera = self.cameras.get(camera_of(stream))
        if camera is not None:
            camera.publisher.stats(stats_of(stats, (), stream))

    def end(self, stream: Stream, ok: bool) -> None:
        """The camera's source is done: it says offline (a run of many files does not keep
        a connection per file open)."""
        with self._lock:
            camera = self.cameras.pop(camera_of(stream), None)
        if camera is not None:
            camera.publisher.close()

    def close(self, ok: bool) -> None:
        from edgecam.sinks.mqtt import report

        for camera in self.cameras.values():
            camera.publisher.close()
        self.cameras.clear()
        if any(p.events for p in self.publishers):  # a run never ends silent on a loss
            lost = any(p.lost for p in self.publishers)
            (log.warning if lost else log.info)("%s", report(self.publishers))


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
