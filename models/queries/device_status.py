"""Devices and their last readings: which scale or sensor reported what and when, and which went quiet.

A device is *stale* when its last reading (or, never having read, its registration) is older than
its expected interval: ``config["expected_interval_minutes"]``, else 60 minutes for a sensor. A scale
reads only when something is weighed, so it is never stale unless its config names an interval.
Requires Permission.RULES (device codes, sites and readings of the whole organisation). Writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.base import utcnow
from models.catalog import Item
from models.devices import Device, DeviceReading
from models.org import Site

#: A sensor that names no interval is expected to report at least this often.
SENSOR_DEFAULT_INTERVAL = timedelta(minutes=60)
#: Intervals beyond a year are typing errors: treated as the default, never as "never stale".
MAX_INTERVAL_MINUTES = Decimal(366 * 24 * 60)
PAGE = 50


def expected_interval(kind: str, config: Any) -> timedelta | None:
    """How often a device should report (None: no expectation, e.g. a scale without a configured interval)."""
    raw = config.get("expected_interval_minutes") if isinstance(config, dict) else None
    if raw is not None and not isinstance(raw, bool) and isinstance(raw, int | float | str):
        try:
            minutes = Decimal(str(raw))
        except InvalidOperation:
            minutes = Decimal(0)
        if minutes.is_finite() and 0 < minutes <= MAX_INTERVAL_MINUTES:
            return timedelta(minutes=float(minutes))
    return SENSOR_DEFAULT_INTERVAL if kind == "sensor" else None


@dataclass(frozen=True)
class DeviceLine:
    id: int
    code: str
    kind: str
    site_id: int
    site_name: str
    item_name: str | None
    active: bool
    metric: str | None
    value: Decimal | None
    out_of_range: bool
    measured_at: datetime | None
    expected_minutes: int | None
    stale: bool

    def to_dict(self) -> dict[str, Any]:
        """Render as JSON (value as an exact string, times as ISO)."""
        return {**self.__dict__, "value": None if self.value is None else format(self.value.normalize(), "f"),
                "measured_at": self.measured_at.isoformat() if self.measured_at else None}


def device_status(session: Session, actor: Actor, *, after_id: int = 0, limit: int = PAGE,
                  now: datetime | None = None) -> list[DeviceLine]:
    """The organisation's devices by id (keyset: ids above ``after_id``), each with its last reading."""
    actor.require(Permission.RULES)
    now = now or utcnow()
    devices = session.execute(
        select(Device, Site.name, Item.name).join(Site, Site.id == Device.site_id)
        .outerjoin(Item, Item.id == Device.item_id)
        .where(Device.org_id == actor.org_id, Device.id > after_id)
        .order_by(Device.id).limit(max(1, min(limit, 200)))).all()
    if not devices:
        return []
    ids = [d.id for d, _site, _item in devices]
    # The newest reading per device of this page: one query over the (device_id, measured_at) index.
    newest = select(DeviceReading.device_id, func.max(DeviceReading.measured_at).label("at")).where(
        DeviceReading.device_id.in_(ids)).group_by(DeviceReading.device_id).subquery()
    last = {r.device_id: r for r in session.scalars(select(DeviceReading).join(newest, (
        DeviceReading.device_id == newest.c.device_id) & (DeviceReading.measured_at == newest.c.at))
        .order_by(DeviceReading.id))}
    out = []
    for device, site_name, item_name in devices:
        reading = last.get(device.id)
        interval = expected_interval(device.kind, device.config)
        seen = reading.measured_at if reading else device.created_at
        stale = device.active and interval is not None and seen is not None and now - seen > interval
        out.append(DeviceLine(
            device.id, device.code, device.kind, device.site_id, site_name, item_name, device.active,
            reading.metric if reading else None, reading.value if reading else None,
            bool(reading and reading.out_of_range), reading.measured_at if reading else None,
            int(interval.total_seconds() // 60) if interval else None, stale))
    return out
