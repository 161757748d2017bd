"""MQTT events against a real mosquitto broker, including a broker restart."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from edgecam.sinks.mqtt import MqttPublisher, parse_mqtt_url, slug
from edgecam.util.errors import EdgecamError
from edgecam.util.paths import install_hint

from conftest import ROOT, WAIT, Broker, Subscriber, free_port, needs_broker, wait_for


def top(label: str, score: float = 0.9, index: int = 1) -> list[dict]:
    return [{"label": label, "index": index, "score": score},
            {"label": "other", "index": 0, "score": 0.05}]


def wait_connected(pub: MqttPublisher) -> None:
    assert wait_for(lambda: pub.connected, WAIT), "publisher never connected"


def test_parse_mqtt_url() -> None:
    assert parse_mqtt_url("mqtt://broker") == ("broker", 1883, "edgecam")
    assert parse_mqtt_url("mqtt://10.0.0.2:1884/home/cam") == ("10.0.0.2", 1884, "home/cam")
    assert parse_mqtt_url("mqtt://localhost/") == ("localhost", 1883, "edgecam")
    for bad in ("", "broker", "http://broker/x", "mqtt://", "mqtt://h:99999", "mqtt://h:x/p",
                "mqtt://h/a/#", "mqtt://h/+/x", "mqtt://h/p?x=1"):
        with pytest.raises(EdgecamError, match="--mqtt"):
            parse_mqtt_url(bad)


def test_slug() -> None:
    """A camera's name as one topic level and a Home Assistant id."""
    assert slug("front-gate_2") == "front-gate_2"
    assert slug("a/b+c#d e") == "a_b_c_d_e"
    assert slug("Front Gate (north)") == "Front_Gate_north"
    assert slug("///") == "camera"


def test_missing_paho_is_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "paho.mqtt.client", None)
    monkeypatch.setitem(sys.modules, "paho", None)
    with pytest.raises(EdgecamError, match="MQTT needs paho-mqtt") as caught:
        MqttPublisher("mqtt://127.0.0.1:1/x", "m").start()
    # the command that installs it from the clone: its own set-up when run from its .venv
    assert install_hint("mqtt", "paho-mqtt") in str(caught.value)
    if Path(sys.prefix).resolve() == (ROOT / ".venv").resolve():
        assert f"cd {ROOT} && ./scripts/setup export,pretrained,mqtt" in str(caught.value)


@needs_broker
def test_predictions_only_on_change_and_heartbeat(broker: Broker) -> None:
    sub = Subscriber(broker.port, "test/#")
    pub = MqttPublisher(f"mqtt://127.0.0.1:{broker.port}/test", "tiny/net+1", heartbeat_s=3600)
    try:
        pub.start()
        wait_connected(pub)
        assert sub.get("test/tiny_net_1/status") == "online"
        labels = ["cat", "cat", "cat", "dog", "dog", "", "cat", "cat"]
        sent = []
        for frame, label in enumerate(labels):
            sent.append(pub.prediction(top(label) if label else [], frame))
            assert not pub.stats({"fps": 10.0, "frames": frame}) or frame == 0
        assert sent == [True, False, False, True, False, False, True, False]
        got = [sub.get("test/tiny_net_1/prediction") for _ in range(3)]
        assert [(m["label"], m["frame"]) for m in got] == [("cat", 0), ("dog", 3), ("cat", 6)]
        assert set(got[0]) >= {"label", "index", "score", "frame", "time"}
        assert got[0]["score"] == 0.9 and got[0]["index"] == 1
        stats = sub.get("test/tiny_net_1/stats")
        assert stats == {"fps": 10.0, "frames": 0}  # one heartbeat per hour: only the first
        assert sub.drain("test/tiny_net_1/prediction") == []
        assert sub.drain("test/tiny_net_1/stats") == []
    finally:
        pub.close()
        pub.close()
        sub.close()


@needs_broker
def test_heartbeat_rate(broker: Broker) -> None:
    sub = Subscriber(broker.port, "edgecam/m/stats")
    with MqttPublisher(f"mqtt://127.0.0.1:{broker.port}", "m", heartbeat_s=0.2) as pub:
        wait_connected(pub)
        sent: list[bool] = []  # offered every 10 ms, like every frame; one per 0.2 s goes out
        assert wait_for(lambda: sent.append(pub.stats({"fps": 30.0})) or sent.count(True) == 2,
                        WAIT, every=0.01)
        assert sent[0] is True and sent.count(False) > 0  # the ones in between were held back
        assert sub.get("edgecam/m/stats") == {"fps": 30.0}
        assert sub.get("edgecam/m/stats") == {"fps": 30.0}
    sub.close()


@needs_broker
def test_retained_prediction_reaches_late_subscribers(broker: Broker) -> None:
    with MqttPublisher(f"mqtt://127.0.0.1:{broker.port}/r", "m") as pub:
        wait_connected(pub)
        pub.prediction(top("zebra"), 7)
    sub = Subscriber(broker.port, "r/m/#")
    assert sub.get("r/m/prediction")["label"] == "zebra"
    assert sub.get("r/m/status") == "offline"  # said goodbye on close
    sub.close()


def test_broker_down_at_start_never_blocks(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing listens: start and every call return, paho keeps retrying in the background."""
    caplog.set_level(logging.WARNING, logger="edgecam.sinks.mqtt")
    pub = MqttPublisher(f"mqtt://127.0.0.1:{free_port()}", "m", max_queued=5)
    pub.start()
    assert wait_for(lambda: caplog.records, WAIT), "no warning about the unreachable broker"
    for i in range(200):
        pub.prediction(top(f"label{i}"), i)
        pub.stats({"fps": 1.0})
    assert not pub.connected
    assert pub.published == 5 and pub.skipped == 195  # bounded queue, not unbounded memory
    pub.close()
    pub.close()
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "cannot reach MQTT broker" in warnings[0]  # once, not per retry


@needs_broker
def test_reconnects_after_broker_restart(broker: Broker) -> None:
    pub = MqttPublisher(f"mqtt://127.0.0.1:{broker.port}/rc", "m", max_queued=10)
    try:
        pub.start()
        wait_connected(pub)
        sub = Subscriber(broker.port, "rc/m/prediction")
        pub.prediction(top("before"), 1)
        assert sub.get("rc/m/prediction")["label"] == "before"
        sub.close()

        broker.stop()
        assert wait_for(lambda: not pub.connected, WAIT), "the broker's loss went unnoticed"
        published, skipped = pub.published, pub.skipped
        for i in range(300):  # 300 label changes while the broker is down
            assert pub.stats({"fps": 1.0}) is False  # a stale heartbeat is never queued
            pub.prediction(top(f"down{i}"), 100 + i)
        kept, refused = pub.published - published, pub.skipped - skipped
        assert kept + refused == 300 and kept <= 10  # bounded by max_queued, not by memory

        broker.start()
        wait_connected(pub)
        sub = Subscriber(broker.port, "rc/m/prediction")
        pub.prediction(top("after"), 1000)
        # queued "down" messages may arrive first; "after" must arrive (get() fails when
        # nothing more comes)
        assert wait_for(lambda: sub.get("rc/m/prediction")["label"] == "after", WAIT)
        sub.close()
    finally:
        pub.close()


@needs_broker
def test_what_stands_is_sent_again_after_a_broker_restart(broker: Broker) -> None:
    """A broker restarted without persistence forgets retained messages: after the
    reconnection, ``refresh`` sends what the publisher ``keep``s (a state, a config) again, and
    the status says online again."""
    pub = MqttPublisher(f"mqtt://127.0.0.1:{broker.port}/ks", "cam")
    try:
        pub.start()
        wait_connected(pub)
        pub.refresh()
        pub.keep("ks/cam/gate/state", "open")
        pub.keep("ks/cam/gate/attributes", {"score": 0.9})
        pub.keep("ks/cam/old/state", "x")
        pub.keep("ks/cam/old/state", b"")  # removed: not kept, not retained
        sub = Subscriber(broker.port, "ks/#")
        assert sub.get("ks/cam/gate/state") == "open"
        sub.close()

        broker.stop()
        assert wait_for(lambda: not pub.connected, WAIT)
        assert pub.refresh() is False  # nothing to send to while away
        broker.start()
        wait_connected(pub)
        assert pub.refresh() is True and pub.refresh() is False  # once per connection
        sub = Subscriber(broker.port, "ks/#")
        assert sub.get("ks/cam/gate/state") == "open"
        assert sub.get("ks/cam/gate/attributes") == {"score": 0.9}
        assert sub.get("ks/cam/status") == "online"
        assert sub.drain("ks/cam/old/state") == []
        sub.close()
    finally:
        pub.close()
