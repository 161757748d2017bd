"""A camera's regions as MQTT topics any client can read, and as Home Assistant entities.

Every region (the whole frame's, named "frame", when the run has none) gets retained topics
under the camera's base topic, named for the camera and the region, never for the model:

    PREFIX/<camera>/<region>/state         its state (the label that held, or "unknown")
    PREFIX/<camera>/<region>/attributes    JSON: score, top-k, since, from, frame, model
    PREFIX/<camera>/<region>/snapshot      JPEG of the latest change (with discovery on)

With discovery on (``live --mqtt``'s default; ``--no-ha`` turns it off), retained configs in
Home Assistant's documented format make the camera a device with, per region, a ``sensor``
(the state, the attributes) and an ``image`` (the snapshot), plus a ``sensor`` of the
delivered frame rate; every entity has a stable ``unique_id`` and the camera's availability
topic (``online``, ``offline`` by a clean stop or the connection's last will).

A region announced by an earlier run and absent from this one loses its entity: at each
connection the broker's retained configs of this device are read back (the broker is the
record: no local state to lose with a reinstall or to disagree with what Home Assistant
sees) and those of regions no longer watched are emptied, with their retained topics.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from edgecam.sinks.events import iso, snapshot_jpeg
from edgecam.sinks.mqtt import slug

if TYPE_CHECKING:
    from edgecam.pipeline.result import RegionResult, Result
    from edgecam.sinks.mqtt import MqttPublisher

log = logging.getLogger(__name__)

ONLINE, OFFLINE = "online", "offline"
SNAPSHOT_QUALITY = 85
DATA_KEYS = ("state_topic", "json_attributes_topic", "image_topic")  # what a config points to


def region_topics(base: str, rid: str) -> tuple[str, str, str]:
    """A region's (state, attributes, snapshot) topics under its camera's ``base``."""
    return f"{base}/{rid}/state", f"{base}/{rid}/attributes", f"{base}/{rid}/snapshot"


def region_ids(names: Sequence[str]) -> dict[str, str]:
    """Each region's id in topics and unique_ids: its name as a slug; names that share a
    slug ("gate 1", "gate_1") each get a short hash of the name, so none takes another's."""
    slugs = {name: slug(name) for name in names}
    shared = {s for s in slugs.values() if list(slugs.values()).count(s) > 1}
    return {name: (f"{s}_{hashlib.sha1(name.encode()).hexdigest()[:6]}" if s in shared else s)
            for name, s in slugs.items()}


class Discovery:
    """Home Assistant's discovery configs for one camera (``camera`` as named; ``base`` its
    topic, ``status`` its availability topic)."""

    def __init__(self, prefix: str, camera: str, base: str, status: str) -> None:
        self.prefix = prefix
        self.camera = camera
        self.base = base
        self.status = status
        self.node = f"edgecam_{slug(camera)}"

    @property
    def sweep_filter(self) -> str:
        """Every config this device may have announced, whatever the component."""
        return f"{self.prefix}/+/{self.node}/+/config"

    def configs(self, ids: dict[str, str], model: str) -> dict[str, dict]:
        """The config of each entity by its config topic: a sensor and an image per region,
        the frame rate's sensor."""
        version = _version()
        common = {
            "availability_topic": self.status, "payload_available": ONLINE,
            "payload_not_available": OFFLINE,
            "device": {"identifiers": [self.node], "name": self.camera,
                       "manufacturer": "edgecam", "model": model or "edgecam",
                       "sw_version": version},
            "origin": {"name": "edgecam", "sw_version": version},
        }
        out: dict[str, dict] = {}
        for name, rid in ids.items():
            state, attributes, snapshot = region_topics(self.base, rid)
            uid = f"{self.node}_region_{rid}"
            out[f"{self.prefix}/sensor/{self.node}/region_{rid}/config"] = {
                "name": name, "unique_id": uid, "state_topic": state,
                "json_attributes_topic": attributes, "icon": "mdi:cctv", **common}
            out[f"{self.prefix}/image/{self.node}/region_{rid}/config"] = {
                "name": f"{name} snapshot", "unique_id": f"{uid}_snapshot",
                "image_topic": snapshot, "content_type": "image/jpeg", **common}
        out[f"{self.prefix}/sensor/{self.node}/fps/config"] = {
            "name": "FPS", "unique_id": f"{self.node}_fps", "state_topic": f"{self.base}/stats",
            "value_template": "{{ value_json.fps }}", "unit_of_measurement": "fps",
            "state_class": "measurement", "entity_category": "diagnostic",
            "suggested_display_precision": 1, **common}
        return out

    @staticmethod
    def stale(retained: dict[str, bytes], current: dict[str, dict]) -> list[str]:
        """The retained topics to empty: configs announced before and not now, and the
        topics those pointed to that no current config uses."""
        used = {c[k] for c in current.values() for k in DATA_KEYS if k in c}
        out = []
        for topic, payload in sorted(retained.items()):
            if topic in current:
                continue
            out.append(topic)
            try:
                config = json.loads(payload)
            except ValueError:
                continue
            if isinstance(config, dict):
                out += [config[k] for k in DATA_KEYS
                        if isinstance(config.get(k), str) and config[k] not in used]
        return out


class CameraEntities:
    """One camera's region states on its connection (``publisher``), and their discovery
    when ``prefix`` is given (None: no Home Assistant configs, no snapshots)."""

    def __init__(self, publisher: MqttPublisher, prefix: str | None) -> None:
        self.publisher = publisher
        self.discovery = (None if prefix is None else
                          Discovery(prefix, publisher.camera, publisher.base,
                                    publisher.status_topic))
        self.base = publisher.base
        self._ids: dict[str, str] = {}
        self._configs: dict[str, dict] = {}
        self._announced: tuple | None = None
        self.removed: list[str] = []  # topics emptied as stale (paho's thread appends)

    def update(self, result: Result) -> None:
        """Announce the entities (first result, or a new model), publish each change, and
        after each new connection send what stands again and remove stale entities."""
        names = [r.name for r in result.regions]
        if self._announced != (tuple(names), result.stats.model):
            self._announced = (tuple(names), result.stats.model)
            self._ids = region_ids(names)
            if self.discovery is not None:
                self._configs = self.discovery.configs(self._ids, result.stats.model)
                for topic, config in self._configs.items():
                    self.publisher.keep(topic, config)
        for region in result.changes:
            self._change(result, region)
        if self.publisher.refresh() and self.discovery is not None:
            self.publisher.read_retained(self.discovery.sweep_filter, self._remove_stale)

    def _change(self, result: Result, region: RegionResult) -> None:
        change = region.change
        assert change is not None  # result.changes holds changes only
        state, attributes, snapshot = self._topics(region.name)
        if self.discovery is not None:
            jpeg = snapshot_jpeg(result, region, SNAPSHOT_QUALITY)
            if jpeg is not None:
                self.publisher.keep(snapshot, jpeg)
        top = region.top[0]
        self.publisher.keep(attributes, {
            "label": region.label, "score": round(top.score, 5),
            "top": [p.to_dict() for p in region.top], "since": round(change.since, 3),
            "from": change.before, "changed": iso(time.time()), "frame": result.frame.index,
            "model": result.stats.model})
        self.publisher.keep(state, change.after)

    def _topics(self, name: str) -> tuple[str, str, str]:
        return region_topics(self.base, self._ids.get(name) or slug(name))

    def _remove_stale(self, retained: dict[str, bytes]) -> None:
        """paho's thread: empty what earlier runs announced and this one does not."""
        assert self.discovery is not None
        stale = self.discovery.stale(retained, self._configs)
        self.publisher.clear(stale)
        configs = sum(t.endswith("/config") for t in stale)
        if configs:
            log.info("Home Assistant: removed %d entity(ies) of %s that this run no longer "
                     "has", configs, self.publisher.camera)
        self.removed += stale


def _version() -> str:
    """edgecam's version as installed, read from its metadata (``edgecam.__version__`` would
    close an import cycle: the package's root names the run, which builds this sink)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("edgecam")
    except PackageNotFoundError:
        return "unknown"
