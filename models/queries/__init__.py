"""Read-side queries channels use to render answers. They write nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.stock import Balance, Freeze, Lot, QcStatus


@dataclass(frozen=True)
class StockLevel:
    item_id: int
    site_id: int
    on_hand: Decimal
    reserved: Decimal
    available: Decimal
    value: Decimal


def stock_level(session: Session, org_id: int, item_id: int, site_id: int) -> StockLevel:
    """Return on hand, reserved, available and value of an item at a site (all lots)."""
    on_hand, reserved, value = session.execute(
        select(func.coalesce(func.sum(Balance.on_hand), 0), func.coalesce(func.sum(Balance.reserved), 0),
               func.coalesce(func.sum(Balance.value), 0))
        .where(Balance.org_id == org_id, Balance.item_id == item_id, Balance.site_id == site_id)
    ).one()
    on_hand, reserved, value = Decimal(on_hand), Decimal(reserved), Decimal(value)
    return StockLevel(item_id, site_id, on_hand, reserved, on_hand - reserved, value)


@dataclass(frozen=True)
class LotLevel:
    lot_id: int
    lot_code: str
    on_hand: Decimal
    reserved: Decimal
    expires_on: date | None
    qc_status: str
    frozen: bool


def lot_levels(session: Session, org_id: int, item_id: int, site_id: int) -> list[LotLevel]:
    """Return the lots of an item at a site with stock, first expiry first."""
    rows = session.execute(
        select(Balance, Lot).join(Lot, Lot.id == Balance.lot_id)
        .where(Balance.org_id == org_id, Balance.item_id == item_id, Balance.site_id == site_id,
               Balance.on_hand != 0)
        .order_by(Lot.expires_on.is_(None), Lot.expires_on, Lot.id)
    )
    frozen_lots = set(session.scalars(select(Freeze.lot_id).where(
        Freeze.org_id == org_id, Freeze.item_id == item_id, Freeze.active.is_(True))))
    return [
        LotLevel(lot.id, lot.code, bal.on_hand, bal.reserved, lot.expires_on, lot.qc_status.value,
                 lot.id in frozen_lots or None in frozen_lots or lot.qc_status == QcStatus.FAILED)
        for bal, lot in rows
    ]
