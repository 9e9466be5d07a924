"""Devices (scales, sensors) with per-device credentials, and the readings they send."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, CreatedMixin, IdMixin, OrgMixin
from models.types import Qty, UTCDateTime


class Device(IdMixin, OrgMixin, CreatedMixin, Base):
    """A scale or sensor at a site; it signs in with its own secret (only a hash is stored)."""

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("org_id", "code"),)

    code: Mapped[str] = mapped_column(String(48))
    #: "scale" or "sensor".
    kind: Mapped[str] = mapped_column(String(16))
    site_id: Mapped[int] = mapped_column(BigId, ForeignKey("sites.id"))
    #: For sensors: the item stored where it hangs (frozen when out of range).
    item_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("items.id"))
    secret_hash: Mapped[str] = mapped_column(String(128))
    #: {"min": 0, "max": 8, "seconds": 3, "readings": 3} for sensors; {"auto_receive": false} for scales.
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class DeviceReading(IdMixin, OrgMixin, CreatedMixin, Base):
    """One reading: temperature, humidity or weight."""

    __tablename__ = "device_readings"
    __table_args__ = (
        Index("ix_device_readings_recent", "device_id", "measured_at"),
        #: A reading published twice (MQTT redelivery, replay) is stored, and acted on, once.
        UniqueConstraint("device_id", "dedupe_key"),
    )

    device_id: Mapped[int] = mapped_column(BigId, ForeignKey("devices.id"))
    metric: Mapped[str] = mapped_column(String(16))
    value: Mapped[Decimal] = mapped_column(Qty())
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime())
    out_of_range: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The device's reading id, or a hash of (metric, measured_at, value).
    dedupe_key: Mapped[str | None] = mapped_column(String(64))
