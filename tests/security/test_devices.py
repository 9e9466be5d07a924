"""Issue 10, findings 9 and 10 and the device parts of 6 and 16: a device cannot replay, inflate or
backdate a reading, nor be pointed at another organisation's ids. Uses the real Mosquitto broker."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import func, select

from models.demo import seed_demo
from models.devices import DeviceReading
from models.documents import DocKind, Document
from models.errors import BusinessTimeOutOfWindow, NotFound, ReadingImplausible, ValidationError
from models.infra import OutboxEvent
from models.operations.devices import RegisterDevice, reading_key, record_reading, register_device
from models.org import Org
from models.uow import run
from mqtt_bridge.bridge import Bridge, Dropped
from tests.security.conftest import assert_refused, rows

HOST, PORT = "127.0.0.1", 1883


def _scale(session_factory, demo, actors, code="SCALE-1", **config):
    return run(session_factory, register_device, actors["钱总监"], RegisterDevice(
        code=code, kind="scale", site_id=demo.sites["SX"], config={"unit": "公斤", "auto_receive": {
            "item_id": demo.items["茶青"], "party_id": demo.parties["陈小芳"], "grade_id": demo.grades["一级"]},
            **config}))


def _org_code(session_factory, demo):
    with session_factory() as s:
        return s.get_one(Org, demo.org_id).code


def _count(session_factory, model, *where):
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def _receipts(session_factory, demo):
    return _count(session_factory, Document, Document.org_id == demo.org_id, Document.kind == DocKind.RECEIPT)


def _wait(predicate, what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def test_a_reading_published_twice_makes_one_receipt(session_factory, demo, actors):
    device, secret = _scale(session_factory, demo, actors)
    prefix = f"lz-sec-{uuid.uuid4().hex[:8]}"
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    publisher.connect(HOST, PORT, keepalive=10)  # no broker is a failure here, not a skip
    publisher.loop_start()
    bridge = Bridge(session_factory, host=HOST, port=PORT, prefix=prefix).start()
    try:
        assert bridge.connected.wait(10)
        topic = f"{prefix}/{_org_code(session_factory, demo)}/scale/SCALE-1"
        payload = json.dumps({"token": secret, "weight": 12.5, "ts": time.time() - 5, "id": "r-0001"})
        for _ in range(2):  # the replay: byte for byte the same message
            publisher.publish(topic, payload, qos=1).wait_for_publish(5)
        # Without an id, the (metric, ts, value) hash recognises the replay.
        no_id = json.dumps({"token": secret, "weight": 13, "ts": time.time() - 4})
        for _ in range(2):
            publisher.publish(topic, no_id, qos=1).wait_for_publish(5)
        # Neither ts nor id: a replay could not be told apart, so an auto-receiving scale's message is dropped.
        publisher.publish(topic, json.dumps({"token": secret, "weight": 14}), qos=1).wait_for_publish(5)
        _wait(lambda: bridge.stats["ok"] + bridge.stats["dropped"] == 5, "the five messages")
        assert bridge.stats == {"ok": 4, "dropped": 1}
    finally:
        bridge.stop()
        publisher.loop_stop()
        publisher.disconnect()
    assert _count(session_factory, DeviceReading, DeviceReading.device_id == device.id) == 2
    assert _receipts(session_factory, demo) == 2
    with session_factory() as s:
        posted = list(s.scalars(select(OutboxEvent).where(OutboxEvent.org_id == demo.org_id,
                                                          OutboxEvent.kind == "receipt.posted")))
        assert sorted(D(e.payload["quantity"]) for e in posted) == [D("12.5"), D(13)]


def test_record_reading_twice_in_the_model_is_one_reading(session_factory, demo, actors):
    device, _secret = _scale(session_factory, demo, actors)
    when = datetime.now(UTC) - timedelta(minutes=1)
    with session_factory() as s:
        dev = s.get_one(type(device), device.id)
        first = record_reading(s, dev, "weight", D("11.75"), when)
        again = record_reading(s, dev, "weight", D("11.750"), when)
        s.commit()
        assert first.id == again.id
    assert _receipts(session_factory, demo) == 1


def test_an_implausible_weight_is_refused_and_not_stored(session_factory, demo, actors, engine):
    _device, secret = _scale(session_factory, demo, actors)
    bridge = Bridge(session_factory, prefix="lz")
    topic = f"lz/{_org_code(session_factory, demo)}/scale/SCALE-1"
    before = rows(engine)
    with pytest.raises(Dropped) as exc:  # 4,999 kg of tea leaves on one platform scale: 399,920 元
        bridge.handle(topic, json.dumps({"token": secret, "weight": 4999, "ts": time.time()}).encode())
    assert "READING_IMPLAUSIBLE" in str(exc.value) and "超过单次收货上限" in str(exc.value)
    with pytest.raises(Dropped, match="READING_IMPLAUSIBLE"):
        bridge.handle(topic, json.dumps({"token": secret, "weight": -3, "ts": time.time()}).encode())
    assert rows(engine) == before
    # The operation itself refuses it (any caller, not only the bridge), with the scale's own capacity too.
    capped, _ = _scale(session_factory, demo, actors, code="SCALE-2", max_weight=100)
    with session_factory() as s, pytest.raises(ReadingImplausible) as err:
        record_reading(s, s.get_one(type(capped), capped.id), "weight", D(150), datetime.now(UTC))
    assert err.value.code == "READING_IMPLAUSIBLE" and "量程" in err.value.message


def test_old_or_absurd_timestamps_are_refused_and_not_stored(session_factory, demo, actors, engine):
    _device, secret = _scale(session_factory, demo, actors)
    sensor, sensor_secret = run(session_factory, register_device, actors["钱总监"], RegisterDevice(
        code="COLD-1", kind="sensor", site_id=demo.sites["ZC"], item_id=demo.items["茶青"],
        config={"temperature": {"min": 0, "max": 8}}))
    org = _org_code(session_factory, demo)
    bridge = Bridge(session_factory, prefix="lz")
    before = rows(engine)
    thirty_days = time.time() - 30 * 86400
    with pytest.raises(Dropped, match="BUSINESS_TIME_OUT_OF_WINDOW"):  # it posted a receipt once
        bridge.handle(f"lz/{org}/scale/SCALE-1",
                      json.dumps({"token": secret, "weight": 10, "ts": thirty_days}).encode())
    year_1653 = datetime(1653, 6, 1, tzinfo=UTC).timestamp()
    with pytest.raises(Dropped, match="BUSINESS_TIME_OUT_OF_WINDOW"):
        bridge.handle(f"lz/{org}/sensor/COLD-1", json.dumps(
            {"token": sensor_secret, "metric": "temperature", "value": 4, "ts": year_1653}).encode())
    with pytest.raises(Dropped, match="BUSINESS_TIME_OUT_OF_WINDOW"):  # nor a day in the future
        bridge.handle(f"lz/{org}/sensor/COLD-1", json.dumps(
            {"token": sensor_secret, "metric": "temperature", "value": 4, "ts": time.time() + 86400}).encode())
    assert rows(engine) == before
    with session_factory() as s, pytest.raises(BusinessTimeOutOfWindow) as err:
        record_reading(s, s.get_one(type(sensor), sensor.id), "temperature", D(4),
                       datetime.now(UTC) - timedelta(days=30))
    assert err.value.code == "BUSINESS_TIME_OUT_OF_WINDOW" and "业务时间早于" in err.value.message
    assert err.value.details["field"] == "ts"


def test_a_device_cannot_name_another_orgs_ids_or_carry_a_deep_config(session_factory, demo, actors, engine):
    other = run(session_factory, seed_demo, f"t-{uuid.uuid4().hex[:12]}", "另一个合作社")
    before = rows(engine)
    with pytest.raises(NotFound) as exc:
        run(session_factory, register_device, actors["钱总监"], RegisterDevice(
            code="COLD-X", kind="sensor", site_id=demo.sites["ZC"], item_id=other.items["茶青"]))
    assert exc.value.code == "NOT_FOUND" and "找不到" in exc.value.message
    for auto in ({"item_id": other.items["茶青"]},
                 {"item_id": demo.items["茶青"], "party_id": other.parties["王阿姨"]},
                 {"item_id": demo.items["茶青"], "grade_id": other.grades["一级"]}):
        with pytest.raises(NotFound):
            run(session_factory, register_device, actors["钱总监"], RegisterDevice(
                code="SCALE-X", kind="scale", site_id=demo.sites["SX"], config={"auto_receive": auto}))
    deep: dict = {}
    node = deep
    for _ in range(900):
        node["x"] = {}
        node = node["x"]
    for config in ({"deep": deep}, {"blob": "x" * 5000}):
        with pytest.raises(ValidationError) as err:
            run(session_factory, register_device, actors["钱总监"], RegisterDevice(
                code="COLD-Y", kind="sensor", site_id=demo.sites["ZC"], config=config))
        assert err.value.code == "VALIDATION_ERROR" and "设备配置" in err.value.message
    assert rows(engine) == before


def test_the_device_api_refuses_another_orgs_item(client, as_, demo, engine, session_factory):
    other = run(session_factory, seed_demo, f"t-{uuid.uuid4().hex[:12]}", "另一个合作社")
    before = rows(engine)
    r = client.post("/api/v1/workflows/devices", headers=as_("钱总监"), json={
        "code": "COLD-X", "kind": "sensor", "site_id": demo.sites["ZC"], "item_id": other.items["茶青"]})
    assert_refused(r, 404, "NOT_FOUND", "找不到")
    r = client.post("/api/v1/workflows/devices", headers=as_("钱总监"), json={
        "code": "SCALE-X", "kind": "scale", "site_id": demo.sites["SX"],
        "config": {"auto_receive": {"item_id": other.items["茶青"]}}})
    assert_refused(r, 404, "NOT_FOUND", "找不到")
    r = client.post("/api/v1/workflows/devices", headers=as_("钱总监"), json={
        "code": "COLD-Y", "kind": "sensor", "site_id": demo.sites["ZC"], "config": {"blob": "x" * 5000}})
    assert_refused(r, 422, "VALIDATION_ERROR", "设备配置")
    assert rows(engine) == before


def test_a_retry_of_a_stored_reading_gets_its_answer_after_the_window_moved_on(session_factory, demo, actors):
    """The window is 7 days: a scale retrying an 8-day-old reading it already sent gets the stored one, no error."""
    device, _secret = _scale(session_factory, demo, actors)
    when = datetime.now(UTC) - timedelta(days=8)
    with session_factory() as s:
        dev = s.get_one(type(device), device.id)
        old = DeviceReading(org_id=demo.org_id, device_id=dev.id, metric="weight", value=D("11.75"),
                            measured_at=when, out_of_range=False,
                            dedupe_key=reading_key("weight", D("11.75"), when, None))
        s.add(old)
        s.commit()
        assert record_reading(s, dev, "weight", D("11.75"), when).id == old.id
        with pytest.raises(BusinessTimeOutOfWindow):  # a new reading that old is still refused
            record_reading(s, dev, "weight", D("12"), when)


def test_no_reading_older_than_its_replay_memory_is_accepted_whatever_the_orgs_window(session_factory, demo, actors):
    from models.operations.devices import MAX_READING_AGE_DAYS
    from models.operations.retention import RetentionPolicy

    with session_factory.begin() as s:
        org = s.get_one(Org, demo.org_id)
        org.settings = {**(org.settings or {}), "business_time_back_days": 365}
    device, _secret = _scale(session_factory, demo, actors)
    with session_factory() as s, pytest.raises(BusinessTimeOutOfWindow) as err:
        record_reading(s, s.get_one(type(device), device.id), "weight", D("11.75"),
                       datetime.now(UTC) - timedelta(days=MAX_READING_AGE_DAYS + 1))
    assert "补传" in err.value.message
    with pytest.raises(ValidationError):  # readings must outlive the oldest one a device may send
        RetentionPolicy(device_readings_days=MAX_READING_AGE_DAYS)
