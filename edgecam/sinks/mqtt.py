"""MQTT for home automation, one connection per camera: a message when the answer changes
(the top-1 label, or to and from "unknown"), a heartbeat, and retained messages that stand for
the camera's current state (``keep``), all under ``PREFIX/<camera>/``.

Topics are named for the camera, never for the model: a new model or a re-tune keeps every
topic a user (or Home Assistant) subscribed to. Each camera's connection has its own last
will, so a process that dies marks its cameras ``offline``.

paho-mqtt runs its own network thread (connect_async + loop_start), so a slow or absent
broker never stalls the camera: publishing only appends to paho's bounded queue, and paho
reconnects on its own when the broker comes back. Works with paho-mqtt 1.6+ and 2.x.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import PurePath
from typing import Any
from urllib.parse import urlsplit

from edgecam.util.errors import EdgecamError, MissingExtraError
from edgecam.util.paths import install_hint

log = logging.getLogger(__name__)

DEFAULT_PORT = 1883
DEFAULT_PREFIX = "edgecam"
READ_RETAINED_S = 5.0  # how long a read of the broker's retained messages may take
_UNSAFE = re.compile(r"[^A-Za-z0-9-]+")  # runs of anything else (_ too) become one _


def paho() -> Any:
    """Import paho lazily: MQTT is an optional extra; its absence names the command that
    installs it."""
    try:
        import paho.mqtt.client as mqtt
    except ImportError:
        raise MissingExtraError("MQTT needs paho-mqtt (the mqtt extra): "
                                + install_hint("mqtt", "paho-mqtt")) from None
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


def check_topic_prefix(prefix: str, flag: str) -> str:
    """A topic prefix a user gave: levels without wildcards, none empty."""
    text = prefix.strip().strip("/")
    if not text or any(c in text for c in "+#\x00") or "//" in text:
        raise EdgecamError(f"{flag} takes a topic prefix (no + or #, no empty levels), "
                           f"got {prefix!r}")
    return text


def slug(name: str) -> str:
    """One topic level (and a Home Assistant id) from a name: letters, digits, _ and -."""
    return _UNSAFE.sub("_", name).strip("_") or "camera"


def camera_name(uri: str) -> str:
    """A stable name for a camera the run does not name (``--camera-name``), from its
    source: a network stream's host, port and path (never its credentials or query), or
    this machine's name and the local device, file or pattern (two Pis' camera 0 are two
    cameras)."""
    parts = urlsplit(uri) if "://" in uri else None
    from edgecam.sources.factory import STREAM_SCHEMES  # here: options.py imports this module

    if parts is not None and parts.scheme.lower() in STREAM_SCHEMES and parts.hostname:
        try:
            port = f"_{parts.port}" if parts.port else ""
        except ValueError:
            port = ""
        return slug(f"{parts.hostname}{port}_{parts.path}")
    if parts is not None:
        local = f"{parts.scheme}{parts.netloc}"
    elif uri.isdigit():
        local = f"camera{uri}"
    else:
        local = PurePath(uri).stem if PurePath(uri).suffix else PurePath(uri).name
    return slug(f"{socket.gethostname().split('.')[0]}_{local}")


class MqttPublisher:
    """One camera's connection: ``PREFIX/<camera>/prediction`` (on change), ``/stats``
    (heartbeat), ``/event`` (a region's state change), ``/status`` (``online``, or
    ``offline`` by a clean stop or the last will), and the retained messages it ``keep``s."""

    def __init__(self, url: str, camera: str, heartbeat_s: float = 5.0, retain: bool = True,
                 max_queued: int = 100, keepalive: int = 30) -> None:
        self.host, self.port, self.prefix = parse_mqtt_url(url)
        self.camera = camera
        self.base = f"{self.prefix}/{slug(camera)}"
        self.status_topic = f"{self.base}/status"
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
        self._last_label: str | None = None
        self._last_seen: str | None = None  # newest top-1, sent or not
        self._last_stats = float("-inf")
        self._pending: list[Any] = []
        # retained messages standing for the current state, sent again after a reconnect
        self._kept: dict[str, bytes] = {}
        self._sent_on: dict[str, int] = {}  # topic -> the connection it was last sent on
        self._connects = 0  # connections made so far (paho's thread counts them)
        self._refreshed = 0  # ... of which the kept messages were sent on
        self._reading: tuple[str, ...] = ()  # the filters of a read of retained messages
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
        mqtt = paho()
        client_id = f"edgecam-{uuid.uuid4().hex[:12]}"
        if hasattr(mqtt, "CallbackAPIVersion"):  # paho-mqtt >= 2
            self._v2 = True
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        else:
            client = mqtt.Client(client_id=client_id)
        client.max_queued_messages_set(self.max_queued)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        # set before connecting: the broker says offline for us when the process dies
        client.will_set(self.status_topic, "offline", qos=1, retain=True)
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
        self._ever_connected = True
        self._warned = False
        log.info("MQTT connected to %s:%d", self.host, self.port)
        # every (re)connection says online again: the last will said offline if one was lost
        self._sent(client.publish(self.status_topic, "online", qos=1, retain=True).mid, False)
        self._connects += 1
        self._connected.set()

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

    def prediction(self, top: list[dict], frame: int, label: str | None = None,
                   model: str | None = None) -> bool:
        """Publish when the answer (``label``, by default the top-1's) differs from the last
        one sent; True if it did. ``index`` and ``score`` are the top-1's; when the answer is
        not the top-1 ("unknown") the top-1's label goes along as ``best``; ``model`` names
        the model that answered (in the message, never in the topic)."""
        if not top or self._client is None or self._closed:
            return False
        best = top[0]
        label = str(best.get("label")) if label is None else label
        if label != self._last_seen:
            self._last_seen = label
            self.events += 1
        if label == self._last_label:
            return False
        payload: dict[str, Any] = {"label": label}
        if label != best.get("label"):
            payload["best"] = best.get("label")
        payload.update(index=best.get("index"), score=best.get("score"), frame=frame,
                       time=round(time.time(), 3))
        if model:
            payload["model"] = model
        if self._publish("prediction", payload, qos=1, prediction=True) is not None:
            self._last_label = label
            return True
        return False

    def event(self, event: dict) -> bool:
        """Publish a region's state change (``.../event``, the line an events folder gets);
        True if it was taken."""
        if self._client is None or self._closed:
            return False
        self.events += 1
        return self._publish("event", event, qos=1, prediction=True) is not None

    def stats(self, stats: dict) -> bool:
        """Publish a heartbeat at most once per ``heartbeat_s``; True if it did."""
        if self._client is None or self._closed or not self.connected:
            return False  # a heartbeat from the past is worthless: do not queue it
        now = time.monotonic()
        if now - self._last_stats < self.heartbeat_s:
            return False
        self._last_stats = now
        return self._publish("stats", stats, qos=0) is not None

    def keep(self, topic: str, payload: bytes | str | dict) -> None:
        """A retained message that stands for the current state (a discovery config, a
        region's state, its latest snapshot): sent now when connected, and again after every
        reconnection (``refresh``), since a broker restarted without persistence forgot it.
        An empty payload removes the retained message (and is not kept)."""
        body = _body(payload)
        if body:
            self._kept[topic] = body
        else:
            self._kept.pop(topic, None)
        if self.connected:
            self._sent_on[topic] = self._connects
            self._send(topic, body)

    def refresh(self) -> bool:
        """Send the kept messages again if a connection was made since the last call; True
        when it did (the caller's cue to do what a new connection needs). Called from the
        pipeline's thread only, like ``keep``, so the two never interleave."""
        connects = self._connects
        if connects == self._refreshed or not self.connected or self._closed:
            return False
        self._refreshed = connects
        for topic, body in list(self._kept.items()):
            if self._sent_on.get(topic) != connects:  # not already sent on this connection
                self._sent_on[topic] = connects
                self._send(topic, body)
        return True

    def read_retained(self, topic_filter: str, done: Callable[[dict[str, bytes]], None],
                      timeout: float = READ_RETAINED_S) -> None:
        """What the broker holds retained under ``topic_filter``, handed to ``done`` (in
        paho's thread) once all of it arrived: subscribe, then publish a marker to ourselves;
        the broker handles one client's packets in order, so the retained messages come
        before the marker. Nothing is handed over when the marker does not come in
        ``timeout`` (a lost connection: the next ``refresh`` is the cue to read again)."""
        client = self._client
        if client is None or self._closed or not self.connected:
            return
        for earlier in self._reading:  # a read cut short by a lost connection
            client.message_callback_remove(earlier)
        marker = f"{self.base}/_sync/{uuid.uuid4().hex[:12]}"
        self._reading = (topic_filter, marker)
        found: dict[str, bytes] = {}
        deadline = time.monotonic() + timeout

        def on_retained(_client: Any, _userdata: Any, message: Any) -> None:
            if message.retain and message.payload:
                found[message.topic] = bytes(message.payload)

        def on_marker(_client: Any, _userdata: Any, _message: Any) -> None:
            client.message_callback_remove(topic_filter)
            client.message_callback_remove(marker)
            client.unsubscribe([topic_filter, marker])
            self._reading = ()
            if time.monotonic() <= deadline:
                done(found)

        client.message_callback_add(topic_filter, on_retained)
        client.message_callback_add(marker, on_marker)
        client.subscribe([(topic_filter, 1), (marker, 1)])
        self._sent(client.publish(marker, b"sync", qos=1, retain=False).mid, False)

    def clear(self, topics: Iterable[str]) -> None:
        """Remove retained messages (an empty retained message each); from any thread."""
        client = self._client
        if client is None or self._closed:
            return
        for topic in topics:
            self._sent(client.publish(topic, b"", qos=1, retain=True).mid, False)

    def _send(self, topic: str, body: bytes) -> None:
        self._put(topic, body, qos=1, retain=True)

    def _publish(self, leaf: str, payload: dict, qos: int, prediction: bool = False) -> Any:
        """paho's message info, or None when the message was not taken."""
        return self._put(f"{self.base}/{leaf}", json.dumps(payload, default=_jsonable).encode(),
                         qos=qos, retain=self.retain, prediction=prediction)

    def _put(self, topic: str, body: bytes, qos: int, retain: bool,
             prediction: bool = False) -> Any:
        """Publish from the pipeline's thread: paho's message info (its id filed, so the
        broker's acknowledgement is matched to it; kept pending at qos 1), or None when the
        message was not taken."""
        try:
            info = self._client.publish(topic, body, qos=qos, retain=retain)
        except (OSError, ValueError, RuntimeError) as e:
            log.debug("MQTT publish to %s failed: %s", topic, e)
            self.skipped += 1
            return None
        if info.rc not in (0, _no_conn()):  # queue full: the broker has been away for a while
            self.skipped += 1
            log.debug("MQTT publish to %s dropped: rc=%s", topic, info.rc)
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

    def why_lost(self) -> str:
        """Why events were lost: the broker was away, or never reached (and how not)."""
        if self._ever_connected:
            return "the broker was away"
        return self._not_mqtt or (
            f"{self.host}:{self.port} is not an MQTT broker (it accepted the connection "
            "but never answered the MQTT handshake)" if self._socket_opened else
            f"no MQTT broker could be reached at {self.host}:{self.port}")

    def close(self, flush_s: float = 2.0) -> None:
        """Send what stands if the connection came after it, deliver what is pending
        (briefly, if connected), say offline, and stop; idempotent."""
        if self._closed:
            return
        self.refresh()
        self._closed = True
        client = self._client
        if client is None:
            return
        deadline = time.monotonic() + flush_s
        if self.connected:
            self._pending.append(client.publish(self.status_topic, "offline", qos=1,
                                                retain=True))
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


def report(publishers: Iterable[MqttPublisher]) -> str:
    """One line for a run's connections (one per camera): prediction events delivered of
    those produced, those lost, and why."""
    publishers = list(publishers)
    first = publishers[0]
    events = sum(p.events for p in publishers)
    delivered = sum(p.delivered for p in publishers)
    text = (f"MQTT {first.host}:{first.port}: {delivered} of {events} prediction event(s) "
            f"delivered, {events - delivered} lost")
    losers = [p for p in publishers if p.lost]
    return text + (f" ({losers[0].why_lost()})" if losers else "")


def _done(info: Any) -> bool:
    """Delivered, or never going to be (paho raises for refused messages)."""
    try:
        return bool(info.is_published())
    except (ValueError, RuntimeError):
        return True


def _no_conn() -> int:
    return int(paho().MQTT_ERR_NO_CONN)


def _body(payload: bytes | str | dict) -> bytes:
    if isinstance(payload, dict):
        return json.dumps(payload, default=_jsonable).encode()
    return payload.encode() if isinstance(payload, str) else bytes(payload)


def _jsonable(value: Any) -> Any:
    """numpy scalars in stats become plain numbers."""
    item = getattr(value, "item", None)
    return item() if callable(item) else str(value)
