"""Order margin: a shipment's or sales order's margin, rollups by customer, item, site or month,
the margin preview of a draft sales order (经营推演), and the extras entered against orders and
shipments (运费 / 包装 / 佣金 / 其他). Reads need 查看财务; charges 结算付款."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, BeforeValidator, Field

from miniprogram_api.apiutil import (
    BusinessTime,
    Id,
    IsoDate,
    Note,
    Price,
    Quantity,
    UnitName,
    dump,
    out_model,
    strict_decimal,
)
from miniprogram_api.errors import ErrorBody
from miniprogram_api.skeleton import Ctx, endpoint
from models.actor import Permission
from models.base import utcnow
from models.charges import ChargeKind
from models.operations.charges import AddCharge, Charge, ReverseCharge, add_charge, reverse_charge
from models.queries.margin import DocumentMargin, MarginRollup, document_margin, margin_rollup
from models.queries.margin_preview import DraftLine, DraftOrder, MarginPreview, margin_preview
from models.timeutil import local_date

api = APIBlueprint("margin", __name__, url_prefix="/api/v1/margin", abp_tags=[Tag(name="订单毛利")],
                   abp_security=[{"bearer": []}], abp_responses={"401": ErrorBody})

#: An extra as people enter it: positive, to the fen, at most a hundred million yuan.
ChargeAmount = Annotated[Decimal, BeforeValidator(strict_decimal), Field(gt=0, le=Decimal("1e8"), decimal_places=2)]
#: A price change in percent: −5 is 5 % lower.
PriceChange = Annotated[Decimal, BeforeValidator(strict_decimal), Field(gt=-100, le=1000, decimal_places=2)]


class DocumentPath(BaseModel):
    document_id: Id


@endpoint(api.get, "/documents/<int:document_id>", permission=Permission.VIEW_FINANCE,
          response=out_model(DocumentMargin))
def document(ctx: Ctx, path: DocumentPath) -> dict:
    """The margin of a shipment or a sales order: revenue, cost as posted, extras, margin and %,
    shipment by shipment (a reversed shipment nets to zero)."""
    return dump(document_margin(ctx.session, ctx.actor.org_id, path.document_id))


class RollupQuery(BaseModel):
    group_by: str = Field("customer", pattern="^(customer|item|site|month)$",
                          description="customer（客户）、item（商品）、site（地点）或 month（月份）")
    date_from: IsoDate | None = Field(None, description="出库日期从（含）；默认本月 1 日")
    date_to: IsoDate | None = Field(None, description="出库日期到（含）；默认今天")

    def run(self, ctx: Ctx) -> MarginRollup:
        """The rollup these arguments ask for (shared with /exports/margin.xlsx)."""
        today = local_date(utcnow())
        start = self.date_from or today.replace(day=1)
        return margin_rollup(ctx.session, ctx.actor.org_id, start, self.date_to or today, self.group_by)


@endpoint(api.get, "/rollup", permission=Permission.VIEW_FINANCE, response=out_model(MarginRollup))
def rollup(ctx: Ctx, query: RollupQuery) -> dict:
    """Margin of the range's shipments by customer, item, site or month; the totals are weighted
    (Σ margin ÷ Σ revenue)."""
    return dump(query.run(ctx))


class DraftLineIn(BaseModel):
    item_id: Id
    quantity: Quantity
    unit: UnitName | None = None
    unit_price: Price = Field(description="每基本单位售价（不含税）")


class PreviewIn(BaseModel):
    party_id: Id = Field(description="客户")
    site_id: Id = Field(description="发货地点")
    lines: list[DraftLineIn] = Field(min_length=1, max_length=100)
    price_changes: list[PriceChange] = Field(
        [], max_length=3, description="最多 3 个备选价格，每个是所有行单价的百分比变动（-5 即降价 5%）")


@endpoint(api.post, "/preview", permission=Permission.VIEW_FINANCE, response=out_model(MarginPreview), write=False)
def preview(ctx: Ctx, body: PreviewIn) -> dict:
    """经营推演: a draft sales order's margin at today's moving average, the customer's exposure
    against the credit limit and the 72-hour cash, at the quoted prices and the alternatives.
    Nothing is saved."""
    draft = DraftOrder(body.party_id, body.site_id,
                       tuple(DraftLine(ln.item_id, ln.quantity, ln.unit, ln.unit_price) for ln in body.lines),
                       tuple(body.price_changes))
    return dump(margin_preview(ctx.session, ctx.actor, draft))


class ChargeIn(BaseModel):
    document_id: Id = Field(description="销售订单或出库单")
    kind: ChargeKind = Field(description="freight（运费）、packaging（包装）、commission（佣金）或 other（其他）")
    amount: ChargeAmount
    note: Note = ""
    business_time: BusinessTime | None = None


@endpoint(api.post, "/charges", permission=Permission.SETTLE, response=out_model(Charge))
def charge(ctx: Ctx, body: ChargeIn) -> dict:
    """Enter an extra cost against a sales order (shared by its shipments by revenue) or a shipment."""
    return dump(ctx.call(add_charge, AddCharge(body.document_id, body.kind, body.amount, body.note,
                                               body.business_time)))


class ChargePath(BaseModel):
    charge_id: Id


class ReasonQuery(BaseModel):
    reason: Note = ""


@endpoint(api.delete, "/charges/<int:charge_id>", permission=Permission.SETTLE, response=out_model(Charge))
def uncharge(ctx: Ctx, path: ChargePath, query: ReasonQuery) -> dict:
    """Reverse an extra (a row of the opposite amount; the original stays, as history)."""
    return dump(ctx.call(reverse_charge, ReverseCharge(path.charge_id, query.reason)))
