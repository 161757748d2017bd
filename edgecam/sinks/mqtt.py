"""MQTT events for home automation: a message when the answer changes (the top-1 label, or to
and from "unknown"), plus a heartbeat.

paho-mqtt runs its own network thread (connect_async + loop_start), so a slow or absent
broker never stalls the camera: publishing only appends to paho's bounded queue, and paho
reconnects on its own when the broker comes back. Works with paho-mqtt 1.6+ and 2.x.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from edgecam.util.errors import EdgecamError

log = logging.getLogger(__name__)

DEFAULT_PORT = 1883
DEFAULT_PREFIX = "edgecam"
_UNSAFE = re.compile(r"[+#/\s\x00-\x1f]+")


def _paho() -> Any:
    """Import paho lazily: MQTT is an optional extra."""
    try:
        import paho.mqtt.client as mqtt
    except ImportError:
        raise EdgecamError("MQTT needs paho-mqtt: pip install 'edgecam[mqtt]'") from None
    return mqtt


def parse_mqtt_url(url: str) -> tuple[str, int, str]:
    """``mqtt://HOST[:PORT]/PREFIX`` -> (host, port, prefix); port 1883, prefix ``edgecam``."""
    hint = "--mqtt expects mqtt://HOST[:PORT]/PREFIX"
    if "#" in (url or "") or "?" in (url or ""):
        raise EdgecamError(f"{hint} (no ? or #), got {url!r}")
    try:
        parts = urlsplit((url or "").strip())
        port = parts.port
    except ValueError:
        raise EdgecamError(f"{hint}, got {url!r} (bad port)") from None
    if parts.scheme != "mqtt" or not parts.hostname:
        raise EdgecamError(f"{hint}, got {url!r}")
    prefix = parts.path.strip("/") or DEFAULT_PREFIX
    if "+" in prefix or "//" in prefix:
        raise EdgecamError(f"--mqtt topic prefix must not contain + or empty levels: {prefix!r}")
    return parts.hostname, port or DEFAULT_PORT, prefix


def topic_name(name: str) -> str:
    """One safe topic level from a model name (no wildcards, no level separators)."""
    return _UNSAFE.sub("_", name).strip("_") or "model"


class MqttPublisher:
    """Publish ``PREFIX/<name>/prediction`` (on change), ``/stats`` (heartbeat), ``/status``.

    With several cameras each one's events go under its own level,
    ``PREFIX/<name>/<camera>/prediction`` and ``.../<camera>/stats`` (``camera`` given)."""

    def __init__(self, url: str, name: str, heartbeat_s: float = 5.0, retain: bool = True,
                 max_queued: int = 100, keepalive: int = 30) -> None:
        self.host, self.port, self.prefix = parse_mqtt_url(url)
        self.name = name
        self.base = f"{self.prefix}/{topic_name(name)}"
        self.heartbeat_s = heartbeat_s
        self.retain = retain
        self.max_queued = max_queued
        self.keepalive = keepalive
        self.published = 0  # messages handed to paho
        self.skipped = 0  # messages paho refused (queue full while the broker is away)
        self._client: Any = None
        self._v2 = False
        self._connected = threading.Event()
        self._warned = False
        self._closed = False
        self._last_label: dict[str | None, str] = {}  # per camera
        self._last_seen: dict[str | None, str] = {}  # newest top-1, sent or not
        self._last_stats: dict[str | None, float] = {}
        self._pending: list[Any] = []
        self.events = 0  # prediction events (top-1 changes) the run produced
        self.delivered = 0  # of those, acknowledged by the broker
        # sent messages by paho's mid (True: a prediction), and acks that came first
        self._unacked: dict[int, bool] = {}
        self._acked_first: set[int] = set()
        self._acks = threading.Lock()
        self._socket_opened = False  # a TCP connection was made (something listens there)
        self._ever_connected = False  # ... and it answered as an MQTT broker
        self._not_mqtt: str | None = None

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> MqttPublisher:
        """Begin connecting in paho's thread and return at once, broker up or not."""
        if self._client is not None:
            return self
        mqtt = _paho()
        client_id = f"edgecam-{uuid.uuid4().hex[:12]}"
        if hasattr(mqtt, "CallbackAPIVersion"):  # paho-mqtt >= 2
            self._v2 = True
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        else:
            client = mqtt.Client(client_id=client_id)
        client.max_queued_messages_set(self.max_queued)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.will_set(f"{self.base}/status", "offline", qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_socket_open = self._on_socket_open
        client.on_publish = self._on_publish
        try:
            client.connect_async(self.host, self.port, keepalive=self.keepalive)
        except (OSError, ValueError) as e:
            raise EdgecamError(f"--mqtt {self.host}:{self.port}: {e}") from None
        self._client = client
        client.loop_start()
        log.info("MQTT publishing to %s:%d under %s/", self.host, self.port, self.base)
        return self

    # -- paho callbacks (paho's thread); *args covers the 1.x and 2.x signatures ---------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, *args: Any) -> None:
        failed = rc.is_failure if hasattr(rc, "is_failure") else rc != 0
        if failed:
            self._warn(f"MQTT broker {self.host}:{self.port} refused the connection: {rc}")
            return
        self._connected.set()
        self._ever_connected = True
        self._warned = False
        log.info("MQTT connected to %s:%d", self.host, self.port)
        client.publish(f"{self.base}/status", "online", qos=1, retain=True)

    def _on_socket_open(self, client: Any, userdata: Any, sock: Any) -> None:
        self._socket_opened = True

    def _on_publish(self, client: Any, userdata: Any, mid: int, *args: Any) -> None:
        """The broker acknowledged message ``mid`` (qos 1), or paho sent it (qos 0). Called
        with paho's lock held: this only takes ours, never paho's."""
        with self._acks:
            kind = self._unacked.pop(mid, None)
            if kind is None:
                self._acked_first.add(mid)
            elif kind:
                self.delivered += 1

    def _sent(self, mid: int, prediction: bool) -> None:
        with self._acks:
            if mid in self._acked_first:
                self._acked_first.discard(mid)
                self.delivered += prediction
            else:
                self._unacked[mid] = prediction

    def _on_disconnect(self, client: Any, userdata: Any, *args: Any) -> None:
        self._connected.clear()
        if self._closed:
            return
        rc = args[1] if self._v2 else args[0]
        if not self._ever_connected and self._socket_opened:
            # something listens there but broke off the MQTT handshake
            self._not_mqtt = (f"{self.host}:{self.port} is not an MQTT broker (it accepted "
                              f"the connection but did not answer the MQTT handshake: {rc})")
            self._warn(self._not_mqtt)
            return
        self._warn(f"MQTT lost {self.host}:{self.port} ({rc}); reconnecting in the background")

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        self._warn(f"cannot reach MQTT broker {self.host}:{self.port}; "
                   "retrying in the background")

    def _warn(self, message: str) -> None:
        """One warning per outage, not one per retry."""
        if not self._warned:
            self._warned = True
            log.warning(message)

    # -- pipeline side -----------------------------------------------------------------------

    def prediction(self, top: list[dict], frame: int, camera: str | None = None,
                   label: str | None = None) -> bool:
        """Publish when the answer (``label``, by default the top-1's) differs from the last
        one sent (for this camera); True if it did. ``index`` and ``score`` are the top-1's;
        when the answer is not the top-1 ("unknown") the top-1's label goes along as
        ``best``."""
        if not top or self._client is None or self._closed:
            return False
        best = top[0]
        label = str(best.get("label")) if label is None else label
        if label != self._last_seen.get(camera):
            self._last_seen[camera] = label
            self.events += 1
        if label == self._last_label.get(camera):
            return False
        payload: dict[str, Any] = {"label": label}
        if label != best.get("label"):
            payload["best"] = best.get("label")
        payload.update(index=best.get("index"), score=best.get("score"), frame=frame,
                       time=round(time.time(), 3), model=self.name)
        leaf = "prediction" if camera is None else f"{topic_name(camera)}/prediction"
        if self._publish(leaf, payload, qos=1, prediction=True) is not None:
            self._last_label[camera] = label
            return True
        return False

    def event(self, event: dict, camera: str | None = None) -> bool:
        """Publish a region's state change (``.../event``, the line an events folder gets);
        True if it was taken."""
        if self._client is None or self._closed:
            return False
        self.events += 1
        leaf = "event" if camera is None else f"{topic_name(camera)}/event"
        return self._publish(leaf, event, qos=1, prediction=True) is not None

    def stats(self, stats: dict, camera: str | None = None) -> bool:
        """Publish a heartbeat (for this camera) at most once per ``heartbeat_s``; True if it
        did."""
        if self._client is None or self._closed or not self.connected:
            return False  # a heartbeat from the past is worthless: do not queue it
        now = time.monotonic()
        if now - self._last_stats.get(camera, float("-inf")) < self.heartbeat_s:
            return False
        self._last_stats[camera] = now
        leaf = "stats" if camera is None else f"{topic_name(camera)}/stats"
        return self._publish(leaf, stats, qos=0) is not None

    def _publish(self, leaf: str, payload: dict, qos: int, prediction: bool = False) -> Any:
        """paho's message info, or None when the message was not taken."""
        body = json.dumps(payload, default=_jsonable)
        try:
            info = self._client.publish(f"{self.base}/{leaf}", body, qos=qos, retain=self.retain)
        except (OSError, ValueError, RuntimeError) as e:
            log.debug("MQTT publish failed: %s", e)
            self.skipped += 1
            return None
        if info.rc not in (0, _no_conn()):  # queue full: the broker has been away for a while
            self.skipped += 1
            log.debug("MQTT publish to %s/%s dropped: rc=%s", self.base, leaf, info.rc)
            return None
        self.published += 1
        self._sent(info.mid, prediction)
        if qos:
            self._pending = [m for m in self._pending if not _done(m)][-self.max_queued:]
            self._pending.append(info)
        return info

    def _awaiting(self) -> bool:
        """A prediction the broker has not acknowledged yet (also one queued before the
        connection, whose paho info only says "no connection")."""
        with self._acks:
            return any(self._unacked.values())

    @property
    def lost(self) -> int:
        """Prediction events that did not reach the broker (as of now)."""
        return self.events - self.delivered

    def report(self) -> str:
        """How the events fared, for the end of a run: delivered, lost, and why."""
        text = (f"MQTT {self.host}:{self.port}: {self.delivered} of {self.events} prediction "
                f"event(s) delivered, {self.lost} lost")
        if self.lost and not self._ever_connected:
            why = self._not_mqtt or (
                f"{self.host}:{self.port} is not an MQTT broker (it accepted the connection "
                "but never answered the MQTT handshake)" if self._socket_opened else
                f"no MQTT broker could be reached at {self.host}:{self.port}")
            text += f" ({why})"
        elif self.lost:
            text += " (the broker was away)"
        return text

    def close(self, flush_s: float = 2.0) -> None:
        """Deliver what is pending (briefly, if connected), say offline, and stop; idempotent."""
        if self._closed:
            return
        self._closed = True
        client = self._client
        if client is None:
            return
        deadline = time.monotonic() + flush_s
        if self.connected:
            self._pending.append(
                client.publish(f"{self.base}/status", "offline", qos=1, retain=True))
            while (self.connected and time.monotonic() < deadline
                   and (not all(_done(m) for m in self._pending) or self._awaiting())):
                time.sleep(0.02)
        client.disconnect()
        client.loop_stop()
        self._connected.clear()

    def __enter__(self) -> MqttPublisher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _done(info: Any) -> bool:
    """Delivered, or never going to be (paho raises for refused messages)."""
    try:
        return bool(info.is_published())
    except (ValueError, RuntimeError):
        return True


def _no_conn() -> int:
    return int(_paho().MQTT_ERR_NO_CONN)


def _jsonable(value: Any) -> Any:
    """numpy scalars in stats become plain numbers."""
    item = getattr(value, "item", None)
    return item() if callable(item) else str(value)
