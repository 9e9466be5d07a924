"""Read-side queries channels use to render answers. They write nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.stock import Balance


@dataclass(frozen=True)
class StockLevel:
    item_id: int
    site_id: int
    on_hand: Decimal
    reserved: Decimal
    available: Decimal
    value: Decimal


def stock_level(session: Session, org_id: int, item_id: int, site_id: int) -> StockLevel:
    """Return on hand, reserved, on hand less reserved and value of an item at a site (all lots).

    The raw balance: ``available`` here ignores freezes and QC. What can actually be shipped is
    ``queries.stock_availability`` (``availability_at``)."""
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
    """Return the lots of an item at a site with stock, first expiry first.

    ``frozen`` means the lot cannot be shipped (an outbound freeze here or everywhere, or QC failed):
    the rule of ``queries.stock_availability``, which this delegates to."""
    from models.queries.stock_availability import lot_rows

    lots = lot_rows(session, org_id, [item_id], [site_id]).get((site_id, item_id), [])
    return [LotLevel(lot.lot_id, lot.lot_code, lot.on_hand, lot.reserved, lot.expires_on, lot.qc_status, lot.held)
            for lot in lots if lot.on_hand != 0]
