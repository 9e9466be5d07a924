"""POST /api/v1/shipments: ship goods (first expiry first out), and the receive body sync reuses."""

from __future__ import annotations

import uuid

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from miniprogram_api.apiutil import BusinessTime, Id, IsoDate, Note, Price, Quantity, Rate, UnitName, dump, out_model
from miniprogram_api.errors import ErrorBody
from miniprogram_api.skeleton import Ctx, endpoint
from models.actor import Permission
from models.operations import ReceiveGoods, ShipGoods, Shipment, ship_goods
from models.operations.receiving import (
    CancelDraftReceipt,
    ConfirmDraftReceipt,
    Receipt,
    cancel_draft_receipt,
    confirm_draft_receipt,
)

api = APIBlueprint("clerk_shipments", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="出库")],
                   abp_security=[{"bearer": []}], abp_responses={"401": ErrorBody})


class ShipIn(BaseModel):
    site_id: Id
    item_id: Id
    quantity: Quantity
    unit: UnitName | None = Field(None, description="默认为商品的基本单位；可用 斤、箱 等")
    party_id: Id | None = Field(None, description="客户")
    unit_price: Price | None = Field(None, description="不含税单价（每基本单位）")
    lot_id: Id | None = Field(None, description="只从这个批次出库；默认先到期先出")
    sales_order_id: Id | None = None
    tax_rate: Rate | None = Field(None, description="增值税税率；不填按客户/供应商、商品、单位默认的顺序取")
    invoice_number: str | None = Field(None, max_length=32, pattern="^[0-9A-Za-z-]*$", description="发票号码")
    business_time: BusinessTime | None = None
    note: Note = ""

    def command(self) -> ShipGoods:
        return ShipGoods(site_id=self.site_id, item_id=self.item_id, quantity=self.quantity, unit=self.unit,
                         party_id=self.party_id, unit_price=self.unit_price, lot_id=self.lot_id,
                         sales_order_id=self.sales_order_id, tax_rate=self.tax_rate,
                         business_time=self.business_time, note=self.note, invoice_number=self.invoice_number)


class ReceiveIn(BaseModel):
    """A receipt as an offline phone queues it (the online path is 3A's intake/confirm)."""

    site_id: Id
    item_id: Id
    quantity: Quantity
    unit: UnitName | None = None
    party_id: Id | None = None
    grade_id: Id | None = None
    unit_price: Price | None = None
    price_reason: str = Field("", max_length=200, description="单价不同于等级价/采购价时必填：改价原因（须有改价权限）")
    purchase_order_id: Id | None = None
    lot_code: str | None = Field(None, max_length=48)
    produced_on: IsoDate | None = None
    expires_on: IsoDate | None = None
    tax_rate: Rate | None = Field(None, description="增值税税率；不填按客户/供应商、商品、单位默认的顺序取")
    invoice_number: str | None = Field(None, max_length=32, pattern="^[0-9A-Za-z-]*$", description="发票号码")
    business_time: BusinessTime | None = None
    note: Note = ""

    def command(self, move_id: uuid.UUID | None = None, origin_node: str = "server") -> ReceiveGoods:
        return ReceiveGoods(
            site_id=self.site_id, item_id=self.item_id, quantity=self.quantity, unit=self.unit,
            party_id=self.party_id, grade_id=self.grade_id, unit_price=self.unit_price,
            purchase_order_id=self.purchase_order_id, lot_code=self.lot_code, produced_on=self.produced_on,
            expires_on=self.expires_on, tax_rate=self.tax_rate, business_time=self.business_time,
            move_id=move_id, origin_node=origin_node, note=self.note, price_reason=self.price_reason,
            invoice_number=self.invoice_number)


@endpoint(api.post, "/shipments", permission=Permission.SHIP, response=out_model(Shipment))
def ship(ctx: Ctx, body: ShipIn) -> dict:
    """Ship goods from a site; never oversells a site that forbids negative stock."""
    return dump(ctx.call(ship_goods, body.command()))


class DraftReceiptPath(BaseModel):
    document_id: Id


@endpoint(api.post, "/receipts/<int:document_id>/confirm", permission=Permission.RECEIVE, response=out_model(Receipt))
def confirm_receipt(ctx: Ctx, path: DraftReceiptPath) -> dict:
    """Post a draft receipt (above its plausibility limit); only a member other than who entered it."""
    return dump(ctx.call(confirm_draft_receipt, ConfirmDraftReceipt(path.document_id)))


class CancelDraftIn(BaseModel):
    reason: str = Field(min_length=1, max_length=200, description="作废原因")


@endpoint(api.post, "/receipts/<int:document_id>/cancel", permission=Permission.RECEIVE, response=out_model(Receipt))
def cancel_receipt_draft(ctx: Ctx, path: DraftReceiptPath, body: CancelDraftIn) -> dict:
    """Cancel a draft receipt (e.g. a mistyped weight); it has moved no stock and no money."""
    return dump(ctx.call(cancel_draft_receipt, CancelDraftReceipt(path.document_id, body.reason)))
