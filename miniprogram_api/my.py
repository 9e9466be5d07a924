"""A farmer's own deliveries and settlements — never anyone else's."""

from __future__ import annotations

from datetime import datetime

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field
from sqlalchemy import select

from miniprogram_api.apiutil import dec
from miniprogram_api.errors import ErrorBody
from miniprogram_api.skeleton import Anyone, Ctx, endpoint
from models.actor import Actor
from models.catalog import Grade, Item
from models.documents import DocKind, Document
from models.errors import PermissionDenied
from models.finance import FarmerSettlement
from models.operations.common import STATUS_LABELS
from models.stock import Lot

api = APIBlueprint("clerk_my", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="我的")],
                   abp_security=[{"bearer": []}], abp_responses={"401": ErrorBody})

SETTLEMENT_LABELS = {
    "prepayment_due": "预付款待付", "prepaid": "已付预付款，尾款待质检", "balance_due": "尾款待付",
    "settled": "已结清", "withheld": "质检未通过，尾款暂扣", "cancelled": "已取消",
}


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


def _party(actor: Actor) -> int:
    if actor.party_id is None:
        raise PermissionDenied("只有农户/供货商账号可以查看自己的交货记录")
    return actor.party_id


#: Farmers are members without a role: no permission names them, so the party check below is the gate.
_OWN_PARTY = Anyone("农户没有角色权限；只返回本人所属农户/供货商的记录，无农户身份的账号得到 403")


@endpoint(api.get, "/my/deliveries", permission=_OWN_PARTY, response=DeliveriesOut)
def deliveries(ctx: Ctx, query: PageQuery) -> dict:
    """Return my own delivery notes, newest first."""
    session, actor = ctx.session, ctx.actor
    party_id = _party(actor)
    stmt = select(Document).where(Document.org_id == actor.org_id, Document.kind == DocKind.RECEIPT,
                                  Document.party_id == party_id)
    if query.before_id is not None:
        stmt = stmt.where(Document.id < query.before_id)
    docs = list(session.scalars(stmt.order_by(Document.id.desc()).limit(query.limit)))
    items = {i.id: i for i in session.scalars(select(Item).where(Item.org_id == actor.org_id))}
    grades = {g.id: g.name for g in session.scalars(select(Grade).where(Grade.org_id == actor.org_id))}
    lot_ids = [ln.lot_id for d in docs for ln in d.lines if ln.lot_id is not None]
    lots = {lot.id: lot for lot in session.scalars(select(Lot).where(Lot.id.in_(lot_ids)))} if lot_ids else {}
    owed = {s.receipt_id: s for s in session.scalars(select(FarmerSettlement).where(
        FarmerSettlement.org_id == actor.org_id, FarmerSettlement.receipt_id.in_([d.id for d in docs])))}
    out = []
    for doc in docs:
        if not doc.lines:
            continue
        line = doc.lines[0]
        item, lot = items[line.item_id], lots.get(line.lot_id or 0)
        grade_id = line.grade_id or (lot.grade_id if lot else None)
        out.append(Delivery(
            document_id=doc.id, number=doc.number, status=doc.status.value, status_label=STATUS_LABELS[doc.status],
            business_time=doc.business_time, item_name=item.name, grade=grades.get(grade_id or 0),
            quantity=dec(line.quantity), base_unit=item.base_unit,
            entered_quantity=dec(line.entered_quantity) if line.entered_quantity is not None else None,
            entered_unit=line.entered_unit, unit_price=dec(line.unit_price), amount=dec(doc.total_amount),
            prepayment=dec(owed[doc.id].prepayment) if doc.id in owed else None,
            lot_code=lot.code if lot else None, qc_status=lot.qc_status.value if lot else None))
    return DeliveriesOut(items=out).model_dump(mode="json")


@endpoint(api.get, "/my/settlements", permission=_OWN_PARTY, response=SettlementsOut)
def settlements(ctx: Ctx, query: PageQuery) -> dict:
    """Return what I am owed and was paid per delivery, newest first."""
    session, actor = ctx.session, ctx.actor
    party_id = _party(actor)
    stmt = select(FarmerSettlement, Document.number).join(Document, Document.id == FarmerSettlement.receipt_id).where(
        FarmerSettlement.org_id == actor.org_id, FarmerSettlement.party_id == party_id)
    if query.before_id is not None:
        stmt = stmt.where(FarmerSettlement.id < query.before_id)
    rows = session.execute(stmt.order_by(FarmerSettlement.id.desc()).limit(query.limit))
    return SettlementsOut(items=[Settlement(
        id=s.id, receipt_id=s.receipt_id, receipt_number=number, total=dec(s.total), prepayment=dec(s.prepayment),
        balance=dec(s.balance), status=s.status.value, status_label=SETTLEMENT_LABELS.get(s.status.value, ""),
        prepaid_at=s.prepaid_at, settled_at=s.settled_at) for s, number in rows]).model_dump(mode="json")
