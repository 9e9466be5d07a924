"""Stock by site, item and lot (with expiry), and stock counts (盘点)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from miniprogram_api.apiutil import (
    READ_ERRORS,
    WRITE_ERRORS,
    BusinessTime,
    Counted,
    Id,
    IdempotencyHeader,
    Note,
    UnitName,
    call,
    dec,
    dump,
    out_model,
    reader,
    writer,
)
from miniprogram_api.errors import ErrorBody
from models.actor import Actor, Permission
from models.base import utcnow
from models.catalog import Item
from models.errors import PermissionDenied
from models.lookup import get_owned
from models.operations import CountResult, CountStock, count_stock
from models.org import Site, SiteKind
from models.queries import lot_levels
from models.stock import Balance
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
    available: str
    nearest_expiry: date | None
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
    available: str
    expires_on: date | None
    days_to_expiry: int | None
    qc_status: str
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


def visible_sites(session: Session, actor: Actor, site_id: int | None = None) -> list[Site]:
    """Return the stock-holding sites the actor may see stock at (one, if ``site_id`` is given)."""
    allowed = actor.site_ids(Permission.VIEW_STOCK)
    if allowed is not None and not allowed:
        raise PermissionDenied("没有权限：查看库存", permission=Permission.VIEW_STOCK.value)
    if site_id is not None:
        site = get_owned(session, Site, site_id, actor.org_id)
        if allowed is not None and site.id not in allowed:
            raise PermissionDenied("没有权限：查看该地点库存", site_id=site_id)
        return [site]
    stmt = select(Site).where(Site.org_id == actor.org_id, Site.kind != SiteKind.IN_TRANSIT).order_by(Site.id)
    if allowed is not None:
        stmt = stmt.where(Site.id.in_(allowed))
    return list(session.scalars(stmt))


@api.get("/stock", responses={"200": StockOut, **READ_ERRORS})
def stock(query: StockQuery) -> dict:
    """Return stock per site and item: on hand, reserved, available, nearest expiry, frozen lots."""
    session, actor = reader()
    sites = {s.id: s for s in visible_sites(session, actor, query.site_id)}
    if query.item_id is not None:
        get_owned(session, Item, query.item_id, actor.org_id)
    stmt = (select(Balance.site_id, Balance.item_id, func.sum(Balance.on_hand), func.sum(Balance.reserved))
            .where(Balance.org_id == actor.org_id, Balance.site_id.in_(list(sites)))
            .group_by(Balance.site_id, Balance.item_id).order_by(Balance.site_id, Balance.item_id))
    if query.item_id is not None:
        stmt = stmt.where(Balance.item_id == query.item_id)
    items = {i.id: i for i in session.scalars(select(Item).where(Item.org_id == actor.org_id))}
    rows = []
    for site_id, item_id, on_hand, reserved in session.execute(stmt):
        on_hand, reserved = Decimal(on_hand or 0), Decimal(reserved or 0)
        if on_hand == 0 and reserved == 0:
            continue
        lots = lot_levels(session, actor.org_id, item_id, site_id)
        expiries = [lot.expires_on for lot in lots if lot.expires_on is not None]
        rows.append(StockRow(
            site_id=site_id, site_name=sites[site_id].name, item_id=item_id, item_name=items[item_id].name,
            base_unit=items[item_id].base_unit, on_hand=dec(on_hand), reserved=dec(reserved),
            available=dec(on_hand - reserved), nearest_expiry=min(expiries) if expiries else None,
            frozen_lots=sum(1 for lot in lots if lot.frozen)))
    return StockOut(items=rows).model_dump(mode="json")


@api.get("/stock/<int:item_id>/lots", responses={"200": LotsOut, **READ_ERRORS})
def stock_lots(path: ItemPath, query: LotQuery) -> dict:
    """Return the lots of an item per site, first expiry first, with QC status and freezes."""
    session, actor = reader()
    item = get_owned(session, Item, path.item_id, actor.org_id)
    today = local_date(utcnow())
    rows = []
    for site in visible_sites(session, actor, query.site_id):
        for lot in lot_levels(session, actor.org_id, item.id, site.id):
            rows.append(LotRow(
                site_id=site.id, site_name=site.name, lot_id=lot.lot_id, lot_code=lot.lot_code,
                on_hand=dec(lot.on_hand), reserved=dec(lot.reserved), available=dec(lot.on_hand - lot.reserved),
                expires_on=lot.expires_on,
                days_to_expiry=(lot.expires_on - today).days if lot.expires_on else None,
                qc_status=lot.qc_status, frozen=lot.frozen))
    return LotsOut(item_id=item.id, item_name=item.name, base_unit=item.base_unit,
                   lots=rows).model_dump(mode="json")


@api.post("/counts", responses={"200": out_model(CountResult), **WRITE_ERRORS})
def count(body: CountIn, header: IdempotencyHeader) -> dict:
    """Post a stock count: the counted quantity becomes the book quantity."""
    actor = writer()
    return dump(call(count_stock, actor, body.command(), header.idempotency_key))
