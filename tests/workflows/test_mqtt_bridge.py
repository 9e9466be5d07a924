"""The MQTT bridge on real Mosquitto: readings recorded, anomalies freeze + alert, bad messages dropped."""

from __future__ import annotations

import json
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import select

import workflows.handlers  # noqa: F401  (register relay handlers)
from models.devices import DeviceReading
from models.event_log import Notification
from models.infra import OutboxEvent
from models.operations.devices import RegisterDevice, register_device
from models.org import Org
from models.stock import Freeze
from models.uow import run
from mqtt_bridge.bridge import Bridge
from tests.conftest import service_unavailable
from workflows.relay import relay_pending

HOST, PORT = "127.0.0.1", 1883


def _wait(predicate, what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def mqtt_publisher():
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    try:
        client.connect(HOST, PORT, keepalive=10)
    except OSError as exc:
        service_unavailable("Mosquitto", exc)
    client.loop_start()
    yield client
    client.loop_stop()
    client.disconnect()


def test_sensor_anomaly_freezes_and_alerts_and_bad_payloads_are_dropped(session_factory, demo, actors,
                                                                         mqtt_publisher):
    device, secret = run(session_factory, register_device, actors["钱总监"], RegisterDevice(
        code="COLD-1", kind="sensor", site_id=demo.sites["ZC"], item_id=demo.items["茶青"],
        config={"temperature": {"min": 0, "max": 8}, "seconds": 3, "readings": 3}))
    with session_factory() as session:
        org_code = session.get_one(Org, demo.org_id).code
    prefix = f"lz-test-{uuid.uuid4().hex[:8]}"
    bridge = Bridge(session_factory, host=HOST, port=PORT, prefix=prefix).start()
    try:
        assert bridge.connected.wait(10)
        topic = f"{prefix}/{org_code}/sensor/COLD-1"
        t0 = time.time()
        for bad in (b"\xff\xfe not json", b"[1, 2]", json.dumps({"token": "wrong", "metric": "temperature",
                                                                  "value": 12}).encode(),
                    json.dumps({"token": secret, "metric": "temperature", "value": "hot"}).encode()):
            mqtt_publisher.publish(topic, bad, qos=1).wait_for_publish(5)
        mqtt_publisher.publish(f"{prefix}/{org_code}/sensor/NO-SUCH", json.dumps(
            {"token": secret, "metric": "temperature", "value": 3}), qos=1).wait_for_publish(5)
        for n, value in enumerate((4.5, 9.1, 9.4, 9.8, 10.2)):
            mqtt_publisher.publish(topic, json.dumps({"token": secret, "metric": "temperature", "value": value,
                                                      "ts": t0 + n}), qos=1).wait_for_publish(5)
        _wait(lambda: bridge.stats["ok"] == 5, "the valid readings")
        assert bridge.stats["dropped"] == 5 and bridge.client.is_connected()
    finally:
        bridge.stop()
    with session_factory() as session:
        readings = list(session.scalars(select(DeviceReading).where(DeviceReading.device_id == device.id)
                                        .order_by(DeviceReading.measured_at)))
        assert [r.out_of_range for r in readings] == [False, True, True, True, True]
        alerts = list(session.scalars(select(OutboxEvent).where(OutboxEvent.org_id == demo.org_id,
                                                                OutboxEvent.kind == "sensor.out_of_range")))
        assert len(alerts) == 1 and alerts[0].payload["readings"] == 3  # one alert per episode
    while relay_pending(session_factory, limit=10_000):
        pass
    with session_factory() as session:
        [freeze] = session.scalars(select(Freeze).where(Freeze.org_id == demo.org_id, Freeze.active.is_(True)))
        assert (freeze.item_id, freeze.site_id) == (demo.items["茶青"], demo.sites["ZC"])
        assert freeze.reason.startswith("温湿度异常：COLD-1 temperature")
        notes = list(session.scalars(select(Notification).where(Notification.org_id == demo.org_id,
                                                                Notification.title == "冷库温湿度异常")))
        assert [n.member_id for n in notes] == [demo.members["老孙"]]


def test_handle_rejects_what_it_cannot_trust(session_factory):
    from mqtt_bridge.bridge import Dropped

    bridge = Bridge(session_factory, prefix="lz")
    for topic, payload in (("lz/x", b"{}"), ("other/o/sensor/d", b"{}"), ("lz/o/sensor/d", b"x" * 20000),
                           ("lz/o/sensor/d", json.dumps({"token": "t", "readings": []}).encode()),
                           ("lz/o/sensor/d", json.dumps({"token": "t", "metric": "t", "value": "NaN"}).encode())):
        with pytest.raises(Dropped):
            bridge.handle(topic, payload)


def test_a_configured_scale_posts_a_receipt_once_per_reading(session_factory, demo, actors):
    from datetime import UTC, datetime
    from decimal import Decimal

    from models.documents import Document
    from models.operations.devices import record_reading

    device, secret = run(session_factory, register_device, actors["钱总监"], RegisterDevice(
        code="SCALE-1", kind="scale", site_id=demo.sites["SX"], config={"unit": "公斤", "auto_receive": {
            "item_id": demo.items["茶青"], "party_id": demo.parties["陈小芳"], "grade_id": demo.grades["一级"]}}))
    with session_factory() as session:
        org_code = session.get_one(Org, demo.org_id).code
    bridge = Bridge(session_factory, prefix="lz")
    ts = int(time.time()) - 60  # a reading must lie within the org's business-time window
    payload = json.dumps({"token": secret, "weight": 11.75, "ts": ts}).encode()
    assert bridge.handle(f"lz/{org_code}/scale/SCALE-1", payload) == 1
    with session_factory() as session:
        [event] = session.scalars(select(OutboxEvent).where(OutboxEvent.org_id == demo.org_id,
                                                            OutboxEvent.kind == "scale.reading"))
        doc = session.scalar(select(Document).where(Document.org_id == demo.org_id,
                                                Document.number == event.payload["receipt_number"]))
        assert doc is not None and doc.total_amount == Decimal("940.00")
        dev = session.get_one(type(device), device.id)
        # The device resends the same reading: it is recognised and makes no second receipt.
        record_reading(session, dev, "weight", Decimal("11.75"), datetime.fromtimestamp(ts, UTC))
        session.commit()
        assert session.scalar(select(Document.id).where(Document.org_id == demo.org_id,
                                                   Document.number == event.payload["receipt_number"]))
        events = list(session.scalars(select(OutboxEvent).where(OutboxEvent.org_id == demo.org_id,
                                                                OutboxEvent.kind == "receipt.posted")))
        assert len(events) == 1
