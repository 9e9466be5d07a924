"""Devices: register with a per-device secret, authenticate, and record readings (sensor anomalies).

A device is outside the trust boundary: its config names only the organisation's own ids and is
bounded in size; a reading is stored once (replays are ignored), only within the organisation's
business-time window, and a scale's weight only within what is plausible for the item.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.audit import record_audit
from models.base import utcnow
from models.catalog import Grade, Item
from models.devices import Device, DeviceReading
from models.errors import BusinessTimeOutOfWindow, DomainError, ReadingImplausible, ValidationError
from models.lookup import get_owned
from models.operations.common import check_business_time, receipt_review_limit
from models.org import Org, Party, Site
from models.outbox import emit
from models.units import to_base

KINDS = {"scale", "sensor"}
STREAK_LOOKBACK = 50
#: A device config is a few thresholds: bounded so it cannot be a payload of its own.
MAX_CONFIG_BYTES = 4096
MAX_CONFIG_DEPTH = 3
#: What a sensor can physically report; anything else is a broken or forged reading.
PHYSICAL_BOUNDS = {"temperature": (Decimal(-60), Decimal(100)), "humidity": (Decimal(0), Decimal(100))}


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
    if cmd.item_id is not None:
        get_owned(session, Item, cmd.item_id, actor.org_id)
    _check_config(session, actor, cmd.config)
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


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _id_in(config: dict[str, Any], key: str) -> int | None:
    raw = config.get(key)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ValidationError(f"设备配置 auto_receive.{key} 须是编号", field=f"config.auto_receive.{key}")
    return raw


def _check_config(session: Session, actor: Actor, config: Any) -> None:
    """Bound the config's size and depth, and resolve every id it names within the actor's org."""
    if not isinstance(config, dict):
        raise ValidationError("设备配置须是对象", field="config")
    try:
        size = len(json.dumps(config, ensure_ascii=False, allow_nan=False).encode())
    except (TypeError, ValueError, RecursionError):
        raise ValidationError("设备配置含有无法保存的值", field="config") from None
    if size > MAX_CONFIG_BYTES or _depth(config) > MAX_CONFIG_DEPTH:
        raise ValidationError(f"设备配置过大或嵌套过深（不超过 {MAX_CONFIG_BYTES} 字节、{MAX_CONFIG_DEPTH} 层）",
                              field="config", size=size)
    auto = config.get("auto_receive")
    if auto in (None, False):
        return
    if not isinstance(auto, dict):
        raise ValidationError("auto_receive 须是对象", field="config.auto_receive")
    item_id = _id_in(auto, "item_id")
    if item_id is None:
        raise ValidationError("auto_receive 须指定商品", field="config.auto_receive.item_id")
    get_owned(session, Item, item_id, actor.org_id)
    if (party_id := _id_in(auto, "party_id")) is not None:
        get_owned(session, Party, party_id, actor.org_id)
    if (grade_id := _id_in(auto, "grade_id")) is not None and get_owned(
            session, Grade, grade_id, actor.org_id).item_id != item_id:
        raise ValidationError("该商品没有这个等级", field="config.auto_receive.grade_id")


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


def reading_key(metric: str, value: Decimal, measured_at: datetime, reading_id: str | None = None) -> str:
    """The dedupe key of a reading: the device's own id for it, else a hash of what it says."""
    if reading_id:
        return "id:" + hashlib.sha256(reading_id.encode()).hexdigest()[:60]
    text = f"{metric}|{measured_at.isoformat()}|{format(value.normalize(), 'f')}"
    return "h:" + hashlib.sha256(text.encode()).hexdigest()[:60]


def _auto_receive(device: Device) -> dict[str, Any]:
    auto = device.config.get("auto_receive") if device.kind == "scale" else None
    return auto if isinstance(auto, dict) else {}


def _check_plausible(session: Session, device: Device, metric: str, value: Decimal) -> None:
    """Refuse a value no real device of this kind reports; a scale that posts receipts by itself is
    bounded by its ``max_weight`` and the item's per-receipt limit (money follows its weight)."""
    bounds = PHYSICAL_BOUNDS.get(metric)
    if bounds is not None and not bounds[0] <= value <= bounds[1]:
        raise ReadingImplausible(f"读数不合理：{metric} = {format(value, 'f')}，未记录", metric=metric,
                                 value=str(value))
    if device.kind != "scale" or metric != "weight":
        return
    if value <= 0:
        raise ReadingImplausible("重量须大于 0，未记录", metric=metric, value=str(value))
    cap = device.config.get("max_weight")
    if isinstance(cap, int | float) and not isinstance(cap, bool) and value > Decimal(str(cap)):
        raise ReadingImplausible(f"重量 {format(value, 'f')} 超过这台秤的量程 {cap}，未记录", metric=metric,
                                 value=str(value), max_weight=str(cap))
    auto = _auto_receive(device)
    if auto:
        item = get_owned(session, Item, auto.get("item_id"), device.org_id)
        try:
            base = to_base(session, item, value, device.config.get("unit", "公斤"))
        except DomainError as exc:
            raise ReadingImplausible(f"重量无法换算：{exc.message}，未记录", metric=metric, value=str(value)) from None
        limit = receipt_review_limit(session, device.org_id, item)
        if base > limit:
            raise ReadingImplausible(
                f"重量 {format(base.normalize(), 'f')}{item.base_unit} 超过单次收货上限 {format(limit, 'f')}"
                f"{item.base_unit}，未自动入库，请人工录入", metric=metric, value=str(value), limit=str(limit))


#: The oldest reading a device may still send (an offline scale's buffer); shorter than the retention of
#: readings (models.operations.retention), which is what lets a replay be recognised.
MAX_READING_AGE_DAYS = 30


def record_reading(session: Session, device: Device, metric: str, value: Decimal,
                   measured_at: datetime, *, reading_id: str | None = None) -> DeviceReading:
    """Store a reading; a sensor out of range for ``seconds`` or ``readings`` in a row emits one
    ``sensor.out_of_range`` per episode. A scale reading emits ``scale.reading``.

    A reading seen before (same id, or same metric, time and value) returns the stored one and does
    nothing else; one outside the business-time window or implausible is refused and not stored."""
    key = reading_key(metric, value, measured_at, reading_id)
    seen = session.scalar(select(DeviceReading).where(DeviceReading.device_id == device.id,
                                                      DeviceReading.dedupe_key == key))
    if seen is not None:  # a device's retry gets its first answer, even after the window has moved on
        return seen
    check_business_time(session, device.org_id, measured_at, may_backdate=False, field="ts")
    # Dedupe keys are kept for RetentionPolicy.device_readings_days: an older reading could no longer
    # be recognised as a replay, so none is accepted, whatever the organisation's window.
    if measured_at < utcnow() - timedelta(days=MAX_READING_AGE_DAYS):
        raise BusinessTimeOutOfWindow(f"读数早于 {MAX_READING_AGE_DAYS} 天前，设备不能补传这么久以前的读数",
                                      field="ts", value=measured_at.isoformat(), back_days=MAX_READING_AGE_DAYS)
    _check_plausible(session, device, metric, value)
    limits = device.config.get(metric) or {}
    low, high = limits.get("min"), limits.get("max")
    out = (low is not None and value < Decimal(str(low))) or (high is not None and value > Decimal(str(high)))
    reading = DeviceReading(org_id=device.org_id, device_id=device.id, metric=metric, value=value,
                            measured_at=measured_at, out_of_range=bool(out), dedupe_key=key)
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
    auto = _auto_receive(device)
    if not auto or reading.metric != "weight":
        emit(session, device.org_id, "scale.reading", {**base, "unit": unit})
        return
    from models.operations.receiving import ReceiveGoods, receive_goods

    receipt = receive_goods(session, Actor.system_actor(device.org_id, f"电子秤 {device.code}"), ReceiveGoods(
        site_id=device.site_id, item_id=int(auto["item_id"]), quantity=reading.value, unit=unit,
        party_id=auto.get("party_id"), grade_id=auto.get("grade_id"), business_time=reading.measured_at),
        idempotency_key=f"scale:{device.id}:{reading.measured_at.isoformat()}")
    emit(session, device.org_id, "scale.reading", {**base, "unit": unit, "receipt_number": receipt.number})
