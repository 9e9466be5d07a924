"""A farmer's own deliveries and settlements — never anyone else's."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from miniprogram_api.apiutil import dec
from miniprogram_api.errors import ErrorBody
from miniprogram_api.skeleton import Anyone, Ctx, endpoint
from models.queries.my_documents import my_deliveries, my_settlements

api = APIBlueprint("clerk_my", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="我的")],
                   abp_security=[{"bearer": []}], abp_responses={"401": ErrorBody})


class PageQuery(BaseModel):
    limit: int = Field(50, ge=1, le=200)
    before_id: int | None = Field(None, ge=1, le=2**53, description="翻页：只返回编号小于此值的记录")


class Delivery(BaseModel):
    document_id: int
    number: str
    status: str
    status_label: str
    business_time: datetime
    item_name: str
    grade: str | None
    quantity: str
    base_unit: str
    entered_quantity: str | None
    entered_unit: str | None
    unit_price: str
    amount: str
    prepayment: str | None
    lot_code: str | None
    qc_status: str | None


class DeliveriesOut(BaseModel):
    items: list[Delivery]


class Settlement(BaseModel):
    id: int
    receipt_id: int
    receipt_number: str
    total: str
    prepayment: str
    balance: str
    status: str
    status_label: str
    prepaid_at: datetime | None
    settled_at: datetime | None


class SettlementsOut(BaseModel):
    items: list[Settlement]


#: Farmers are members without a role: no permission names them, so the party check below is the gate.
_OWN_PARTY = Anyone("农户没有角色权限；只返回本人所属农户/供货商的记录，无农户身份的账号得到 403")


@endpoint(api.get, "/my/deliveries", permission=_OWN_PARTY, response=DeliveriesOut)
def deliveries(ctx: Ctx, query: PageQuery) -> dict:
    """Return my own delivery notes, newest first."""
    rows = my_deliveries(ctx.session, ctx.actor, limit=query.limit, before_id=query.before_id)
    return DeliveriesOut(items=[Delivery(**{
        **asdict(r), "quantity": dec(r.quantity), "unit_price": dec(r.unit_price), "amount": dec(r.amount),
        "entered_quantity": dec(r.entered_quantity) if r.entered_quantity is not None else None,
        "prepayment": dec(r.prepayment) if r.prepayment is not None else None}) for r in rows],
    ).model_dump(mode="json")


@endpoint(api.get, "/my/settlements", permission=_OWN_PARTY, response=SettlementsOut)
def settlements(ctx: Ctx, query: PageQuery) -> dict:
    """Return what I am owed and was paid per delivery, newest first."""
    rows = my_settlements(ctx.session, ctx.actor, limit=query.limit, before_id=query.before_id)
    return SettlementsOut(items=[Settlement(**{
        **asdict(r), "total": dec(r.total), "prepayment": dec(r.prepayment), "balance": dec(r.balance)})
        for r in rows]).model_dump(mode="json")
