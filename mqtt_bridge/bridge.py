"""Subscribe to ``{prefix}/{org code}/{scale|sensor}/{device code}``; authenticate, record, never crash.

Payload (JSON): ``{"token": "<device secret>", "metric": "temperature", "value": 9.3, "ts": 1763870000.5}``
or ``{"token": ..., "readings": [{"metric": ..., "value": ..., "ts": ..., "id": ...}, ...]}``; scales send
``{"token": ..., "weight": 23.5, "ts": ..., "id": "<reading id>"}``. Unknown devices, malformed payloads
and readings the model refuses (too old, implausible) are logged and dropped; a reading already
recorded (same id, or same metric, ts and value) is not recorded again. A scale that posts receipts
by itself must send ``ts`` or ``id``, so that a replayed message is recognised.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import paho.mqtt.client as mqtt
from sqlalchemy.orm import Session, sessionmaker

from models.devices import Device
from models.errors import DomainError
from models.operations.devices import authenticate_device, record_reading
from models.uow import run

log = logging.getLogger(__name__)
MAX_PAYLOAD = 16 * 1024
MAX_READINGS = 100


class Dropped(ValueError):
    """A message that is logged and dropped."""


#: One reading: metric, value, when, whether the device said when, the device's id for it.
Reading = tuple[str, Decimal, datetime, bool, str | None]


def _readings(kind: str, body: Any) -> list[Reading]:
    if not isinstance(body, dict):
        raise Dropped("payload is not a JSON object")
    items = body.get("readings")
    if items is None:
        items = [{"metric": "weight", "value": body.get("weight"), "ts": body.get("ts"), "id": body.get("id")}] \
            if kind == "scale" else [body]
    if not isinstance(items, list) or not items or len(items) > MAX_READINGS:
        raise Dropped("readings must be a non-empty list")
    out = []
    for item in items:
        try:
            metric = str(item["metric"])[:16]
            value = Decimal(str(item["value"])).quantize(Decimal("0.000001"))
            ts = item.get("ts")
            when = datetime.fromtimestamp(float(ts), UTC) if ts is not None else datetime.now(UTC)
            raw_id = item.get("id")
            reading_id = str(raw_id)[:128] if raw_id is not None else None
        except (KeyError, TypeError, ValueError, InvalidOperation, OverflowError, OSError, AttributeError) as exc:
            raise Dropped(f"bad reading: {exc}") from None
        if not value.is_finite():
            raise Dropped("value is not finite")
        out.append((metric, value, when, ts is not None, reading_id))
    return out


class Bridge:
    """One MQTT client feeding device readings into the model."""

    def __init__(self, session_factory: sessionmaker[Session], *, host: str = "127.0.0.1", port: int = 1883,
                 prefix: str = "lz", client_id: str | None = None) -> None:
        self.session_factory = session_factory
        self.host, self.port, self.prefix = host, port, prefix
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or "")
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.stats = {"ok": 0, "dropped": 0}
        #: Set once the subscription is acknowledged (messages published after it are delivered).
        self.connected = threading.Event()

    def handle(self, topic: str, payload: bytes) -> int:
        """Record the readings in one message; return how many. Raise Dropped for a bad message."""
        parts = topic.split("/")
        if len(parts) != 4 or parts[0] != self.prefix or parts[2] not in ("scale", "sensor"):
            raise Dropped(f"unexpected topic {topic!r}")
        _, org_code, kind, device_code = parts
        if len(payload) > MAX_PAYLOAD:
            raise Dropped("payload too large")
        try:
            body = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise Dropped("payload is not JSON") from None
        readings = _readings(kind, body)
        token = body.get("token") if isinstance(body, dict) else None
        def record(session: Session) -> int:
            device: Device | None = authenticate_device(session, org_code, device_code, str(token or ""))
            if device is None or device.kind != kind:
                raise Dropped(f"unknown device or bad credentials: {org_code}/{device_code}")
            auto = kind == "scale" and bool(device.config.get("auto_receive"))
            for metric, value, when, timed, reading_id in readings:
                if auto and not timed and reading_id is None:
                    raise Dropped("an auto-receiving scale must send ts or id (a replay must be recognisable)")
                record_reading(session, device, metric, value, when, reading_id=reading_id)
            return len(readings)

        # One transaction, retried like every operation (a busy SQLite file no longer drops a reading).
        try:
            return run(self.session_factory, record)
        except DomainError as exc:  # too old, implausible, …: the whole message is refused, nothing stored
            raise Dropped(f"{exc.code}: {exc.message}") from None

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: Any,
                    _properties: Any = None) -> None:
        if getattr(reason_code, "is_failure", False):
            log.error("MQTT connect failed: %s", reason_code)
            return
        client.subscribe(f"{self.prefix}/+/+/+", qos=1)

    def _on_subscribe(self, _client: mqtt.Client, _userdata: Any, _mid: int, _codes: Any,
                      _properties: Any = None) -> None:
        self.connected.set()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            self.handle(msg.topic, msg.payload)
            self.stats["ok"] += 1
        except Dropped as exc:
            self.stats["dropped"] += 1
            log.warning("dropped MQTT message on %s: %s", msg.topic, exc)
        except Exception:  # the bridge must survive anything one message does
            self.stats["dropped"] += 1
            log.exception("error handling MQTT message on %s; dropped", msg.topic)

    def start(self) -> Bridge:
        """Connect and run the network loop in a background thread."""
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        return self

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def main() -> None:  # pragma: no cover - the Procfile's `mqtt:` process
    """Run the bridge until killed (MQTT_HOST, MQTT_PORT, MQTT_TOPIC_PREFIX)."""
    from app.settings import Settings
    from models.db import make_engine, make_session_factory
    from workflows.celery_app import create_celery
    from workflows.kick import celery_kick, install_relay_kick

    logging.basicConfig(level=logging.INFO)
    settings = Settings.from_env()
    factory = make_session_factory(make_engine(settings.database_url))
    install_relay_kick(factory, celery_kick(create_celery(settings)))  # sensor alerts relay at once
    bridge = Bridge(factory, host=settings.mqtt.host, port=settings.mqtt.port, prefix=settings.mqtt.topic_prefix)
    bridge.client.connect(bridge.host, bridge.port, keepalive=30)
    bridge.client.loop_forever(retry_first_connection=True)


if __name__ == "__main__":  # pragma: no cover
    main()
