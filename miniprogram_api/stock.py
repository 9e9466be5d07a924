"""Stock by site, item and lot (with expiry), and stock counts (盘点)."""

from __future__ import annotations

from datetime import date

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from miniprogram_api.apiutil import (
    BusinessTime,
    Counted,
    Id,
    Note,
    UnitName,
    dec,
    dump,
    out_model,
)
from miniprogram_api.errors import ErrorBody
from miniprogram_api.skeleton import Ctx, endpoint
from models.actor import Permission
from models.base import utcnow
from models.operations import CountResult, CountStock, count_stock
from models.queries.stock_availability import lot_availability, stock_availability
from models.timeutil import local_date

api = APIBlueprint("clerk_stock", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="库存")],
                   abp_security=[{"bearer": []}], abp_responses={"401": ErrorBody})


class StockQuery(BaseModel):
    site_id: Id | None = Field(None, description="只看这个地点")
    item_id: Id | None = Field(None, description="只看这个商品")


class StockRow(BaseModel):
    site_id: int
    site_name: str
    item_id: int
    item_name: str
    base_unit: str
    on_hand: str
    reserved: str
    #: Unreserved stock held back by a freeze / by a failed QC: on hand, but it cannot be shipped.
    frozen: str
    qc_held: str
    #: What could be shipped now (frozen and QC-failed lots excluded), as ship_goods picks.
    available: str
    nearest_expiry: date | None
    #: Lots with stock that cannot be shipped (frozen or QC failed).
    frozen_lots: int


class StockOut(BaseModel):
    items: list[StockRow]


class ItemPath(BaseModel):
    item_id: Id


class LotQuery(BaseModel):
    site_id: Id | None = None


class LotRow(BaseModel):
    site_id: int
    site_name: str
    lot_id: int
    lot_code: str
    on_hand: str
    reserved: str
    #: Zero when the lot is frozen or QC failed.
    available: str
    expires_on: date | None
    days_to_expiry: int | None
    qc_status: str
    #: Cannot be shipped: an outbound freeze (here or everywhere) or a failed QC.
    frozen: bool


class LotsOut(BaseModel):
    item_id: int
    item_name: str
    base_unit: str
    lots: list[LotRow]


class CountIn(BaseModel):
    site_id: Id
    item_id: Id
    counted: Counted = Field(description="实盘数量")
    unit: UnitName | None = None
    lot_id: Id | None = None
    business_time: BusinessTime | None = None
    note: Note = ""

    def command(self) -> CountStock:
        return CountStock(site_id=self.site_id, item_id=self.item_id, counted=self.counted, unit=self.unit,
                          lot_id=self.lot_id, business_time=self.business_time, note=self.note)


#: Each site is checked against the member's VIEW_STOCK sites in the query (one site: 403).
_VIEW = Permission.VIEW_STOCK


@endpoint(api.get, "/stock", permission=_VIEW, response=StockOut)
def stock(ctx: Ctx, query: StockQuery) -> dict:
    """Return stock per site and item: on hand, reserved, frozen, QC-held, available (what could be shipped
    now), nearest expiry, lots that cannot be shipped."""
    levels = stock_availability(ctx.session, ctx.actor,
                                site_ids=[query.site_id] if query.site_id is not None else None,
                                item_ids=[query.item_id] if query.item_id is not None else None)
    return StockOut(items=[StockRow(
        site_id=a.site_id, site_name=a.site_name, item_id=a.item_id, item_name=a.item_name, base_unit=a.base_unit,
        on_hand=dec(a.on_hand), reserved=dec(a.reserved), frozen=dec(a.frozen), qc_held=dec(a.qc_held),
        available=dec(a.available), nearest_expiry=a.nearest_expiry, frozen_lots=a.held_lots)
        for a in levels]).model_dump(mode="json")


@endpoint(api.get, "/stock/<int:item_id>/lots", permission=_VIEW, response=LotsOut)
def stock_lots(ctx: Ctx, path: ItemPath, query: LotQuery) -> dict:
    """Return the lots of an item per site, first expiry first, with QC status and freezes."""
    item, lots = lot_availability(ctx.session, ctx.actor, path.item_id, query.site_id)
    today = local_date(utcnow())
    rows = [LotRow(
        site_id=site.id, site_name=site.name, lot_id=lot.lot_id, lot_code=lot.lot_code, on_hand=dec(lot.on_hand),
        reserved=dec(lot.reserved), available=dec(lot.available), expires_on=lot.expires_on,
        days_to_expiry=(lot.expires_on - today).days if lot.expires_on else None,
        qc_status=lot.qc_status, frozen=lot.held) for site, lot in lots if lot.on_hand != 0]
    return LotsOut(item_id=item.id, item_name=item.name, base_unit=item.base_unit, lots=rows).model_dump(mode="json")


@endpoint(api.post, "/counts", permission=Permission.COUNT, response=out_model(CountResult))
def count(ctx: Ctx, body: CountIn) -> dict:
    """Post a stock count: the counted quantity becomes the book quantity."""
    return dump(ctx.call(count_stock, body.command()))
