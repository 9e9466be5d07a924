"""Devices: register with a per-device secret, authenticate, and record readings (sensor anomalies)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.audit import record_audit
from models.devices import Device, DeviceReading
from models.errors import ValidationError
from models.lookup import get_owned
from models.org import Org, Site
from models.outbox import emit

KINDS = {"scale", "sensor"}
STREAK_LOOKBACK = 50


def hash_secret(secret: str) -> str:
    """Return the stored form of a device secret (random 32 bytes: a plain SHA-256 is enough)."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class RegisterDevice:
    code: str
    kind: str
    site_id: int
    item_id: int | None = None
    #: sensors: {"temperature": {"min": 0, "max": 8}, "seconds": 3, "readings": 3}
    config: dict[str, Any] = field(default_factory=dict)


def register_device(session: Session, actor: Actor, cmd: RegisterDevice) -> tuple[Device, str]:
    """Add a device; return it with its secret (shown once, only the hash is kept). Audited."""
    actor.require(Permission.ROLES)
    if cmd.kind not in KINDS:
        raise ValidationError("设备类型须是 scale 或 sensor", field="kind")
    get_owned(session, Site, cmd.site_id, actor.org_id)
    if session.scalar(select(Device.id).where(Device.org_id == actor.org_id, Device.code == cmd.code)):
        raise ValidationError(f"设备编号 {cmd.code} 已存在", field="code")
    secret = secrets.token_urlsafe(24)
    device = Device(org_id=actor.org_id, code=cmd.code, kind=cmd.kind, site_id=cmd.site_id, item_id=cmd.item_id,
                    secret_hash=hash_secret(secret), config=dict(cmd.config), active=True)
    session.add(device)
    session.flush()
    record_audit(session, actor, "device.register", "device", device.id, before=None,
                 after={"code": cmd.code, "kind": cmd.kind, "site_id": cmd.site_id, "config": cmd.config})
    return device, secret


def authenticate_device(session: Session, org_code: str, device_code: str, secret: str) -> Device | None:
    """Return the active device if ``secret`` is its credential, else None."""
    device = session.scalar(select(Device).join(Org, Org.id == Device.org_id).where(
        Org.code == org_code, Device.code == device_code, Device.active.is_(True)))
    if device is None or not hmac.compare_digest(device.secret_hash, hash_secret(secret)):
        return None
    return device


def _anomalous(streak: list[DeviceReading], config: dict[str, Any]) -> bool:
    if not streak:
        return False
    needed = int(config.get("readings", 3))
    seconds = float(config.get("seconds", 3))
    return len(streak) >= needed or (streak[-1].measured_at - streak[0].measured_at) >= timedelta(seconds=seconds)


def record_reading(session: Session, device: Device, metric: str, value: Decimal,
                   measured_at: datetime) -> DeviceReading:
    """Store a reading; a sensor out of range for ``seconds`` or ``readings`` in a row emits one
    ``sensor.out_of_range`` per episode. A scale reading emits ``scale.reading``."""
    limits = device.config.get(metric) or {}
    low, high = limits.get("min"), limits.get("max")
    out = (low is not None and value < Decimal(str(low))) or (high is not None and value > Decimal(str(high)))
    reading = DeviceReading(org_id=device.org_id, device_id=device.id, metric=metric, value=value,
                            measured_at=measured_at, out_of_range=bool(out))
    session.add(reading)
    session.flush()
    site = session.get_one(Site, device.site_id)
    base = {"device_id": device.id, "device_code": device.code, "site_id": device.site_id, "site_name": site.name,
            "item_id": device.item_id, "metric": metric, "value": format(value.normalize(), "f"),
            "measured_at": measured_at.isoformat()}
    if device.kind == "scale":
        _scale_reading(session, device, reading, base)
        return reading
    if not out:
        return reading
    recent = list(session.scalars(select(DeviceReading).where(
        DeviceReading.device_id == device.id, DeviceReading.metric == metric, DeviceReading.measured_at <= measured_at)
        .order_by(DeviceReading.measured_at.desc(), DeviceReading.id.desc()).limit(STREAK_LOOKBACK)))
    streak: list[DeviceReading] = []
    for r in recent:
        if not r.out_of_range:
            break
        streak.insert(0, r)
    if _anomalous(streak, device.config) and not _anomalous(streak[:-1], device.config):
        emit(session, device.org_id, "sensor.out_of_range", {
            **base, "min": low, "max": high, "readings": len(streak),
            "seconds": (streak[-1].measured_at - streak[0].measured_at).total_seconds()})
    return reading


def _scale_reading(session: Session, device: Device, reading: DeviceReading, base: dict[str, Any]) -> None:
    """Emit ``scale.reading`` (a clerk's pending entry at this station picks it up), or post a receipt
    when the scale is configured with ``auto_receive`` {item_id, party_id, grade_id}."""
    unit = device.config.get("unit", "公斤")
    auto = device.config.get("auto_receive") or {}
    if not auto or reading.metric != "weight":
        emit(session, device.org_id, "scale.reading", {**base, "unit": unit})
        return
    from models.operations.receiving import ReceiveGoods, receive_goods

    receipt = receive_goods(session, Actor.system_actor(device.org_id, f"电子秤 {device.code}"), ReceiveGoods(
        site_id=device.site_id, item_id=int(auto["item_id"]), quantity=reading.value, unit=unit,
        party_id=auto.get("party_id"), grade_id=auto.get("grade_id"), business_time=reading.measured_at),
        idempotency_key=f"scale:{device.id}:{reading.measured_at.isoformat()}")
    emit(session, device.org_id, "scale.reading", {**base, "unit": unit, "receipt_number": receipt.number})
