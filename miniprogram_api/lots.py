"""Stock value by site, slow movers, a lot's trace from farmer to shelf, QC results and freezes.

The same queries and operations as the console's 库存 pages (``stock_value``, ``lot_trace``,
``quality.record_qc`` / ``freeze_stock`` / ``unfreeze_stock``): what a manager does there, another
system or the mini-program can do here. Each write takes an ``Idempotency-Key``.
"""

from __future__ import annotations

from typing import Annotated

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from miniprogram_api.apiutil import Id, dump, out_model
from miniprogram_api.errors import ErrorBody
from miniprogram_api.skeleton import Ctx, endpoint
from models.actor import Permission
from models.operations.quality import (
    MAX_REASON,
    FreezeResult,
    FreezeStock,
    QcResult,
    RecordQc,
    UnfreezeStock,
    freeze_stock,
    record_qc,
    unfreeze_stock,
)
from models.queries.lot_trace import LotTrace, lot_trace
from models.queries.stock_value import MAX_DAYS, MIN_DAYS, SlowMovers, StockValue, slow_movers, stock_value_by_site
from models.stock import FreezeDirection

api = APIBlueprint("lots", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="批次追溯与冻结")],
                   abp_security=[{"bearer": []}], abp_responses={"401": ErrorBody})

Reason = Annotated[str, Field(max_length=MAX_REASON)]


class SlowQuery(BaseModel):
    days: int = Field(30, ge=MIN_DAYS, le=MAX_DAYS, strict=False, description="多少天没有出库或调出")
    site_id: Id | None = Field(None, description="只看这个地点")


class LotPath(BaseModel):
    lot_id: Id


class TraceQuery(BaseModel):
    after: str | None = Field(None, max_length=80, description="上一页返回的 next_after")


class FreezePath(BaseModel):
    freeze_id: Id


class QcIn(BaseModel):
    passed: bool = Field(description="true 合格；false 不合格（批次在所有地点冻结，农户尾款暂扣）")
    note: Reason = Field("", description="说明；不合格必填")


class FreezeIn(BaseModel):
    item_id: Id
    direction: FreezeDirection = Field(description="inbound 禁止入库、outbound 禁止出库、both 禁止出入库")
    reason: Reason = Field(min_length=1)
    site_id: Id | None = Field(None, description="不填：所有地点")
    lot_id: Id | None = Field(None, description="不填：该商品所有批次")


class LiftIn(BaseModel):
    reason: Reason = Field(min_length=1, description="解冻原因")


_VIEW = Permission.VIEW_STOCK


@endpoint(api.get, "/stock/value", permission=_VIEW, response=out_model(StockValue))
def stock_value(ctx: Ctx) -> dict:
    """Return the inventory value at cost per site the member may see, and the total."""
    return dump(stock_value_by_site(ctx.session, ctx.actor))


@endpoint(api.get, "/stock/slow-movers", permission=_VIEW, response=out_model(SlowMovers))
def stock_slow_movers(ctx: Ctx, query: SlowQuery) -> dict:
    """Return stock with no shipment or transfer out for N days, most money tied up first."""
    return dump(slow_movers(ctx.session, ctx.actor, query.days, query.site_id))


@endpoint(api.get, "/lots/<int:lot_id>/trace", permission=_VIEW, response=out_model(LotTrace))
def trace(ctx: Ctx, path: LotPath, query: TraceQuery) -> dict:
    """Return a lot's trace: origin, its ledger with documents (50 moves a page), where it is now,
    customers it went to, QC results and freezes."""
    return dump(lot_trace(ctx.session, ctx.actor, path.lot_id, after=query.after))


@endpoint(api.post, "/lots/<int:lot_id>/qc", permission=Permission.QC, response=out_model(QcResult), status=201)
def qc(ctx: Ctx, path: LotPath, body: QcIn) -> dict:
    """Record a QC result on a lot: a fail freezes it everywhere; a pass lifts the QC freeze."""
    return dump(ctx.call(record_qc, RecordQc(path.lot_id, body.passed, body.note)))


@endpoint(api.post, "/freezes", permission=Permission.FREEZE, response=out_model(FreezeResult), status=201)
def freeze(ctx: Ctx, body: FreezeIn) -> dict:
    """Freeze an item or a lot at a site (or every site) with a reason."""
    command = FreezeStock(item_id=body.item_id, direction=body.direction, reason=body.reason, site_id=body.site_id,
                          lot_id=body.lot_id)
    return dump(ctx.call(freeze_stock, command))


@endpoint(api.post, "/freezes/<int:freeze_id>/lift", permission=Permission.FREEZE,
          response=out_model(FreezeResult))
def lift(ctx: Ctx, path: FreezePath, body: LiftIn) -> dict:
    """Lift a freeze with a reason (a QC freeze lifts only by a passing QC result)."""
    return dump(ctx.call(unfreeze_stock, UnfreezeStock(path.freeze_id, body.reason)))
