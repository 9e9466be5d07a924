"""A farmer's (or supplier's) own deliveries and settlements — never anyone else's.

The one query behind the mini-program's /my/deliveries and /my/settlements and the bot's 我的交货
and 我的货款. Farmers are members without a role, so no permission names them: the gate is the
member's party (``actor.party_id``), and every row is scoped to it and to ``actor.org_id``.
Writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor
from models.catalog import Grade, Item
from models.documents import DocKind, Document
from models.errors import PermissionDenied
from models.finance import FarmerSettlement, SettlementStatus
from models.operations.common import STATUS_LABELS
from models.stock import Lot

SETTLEMENT_LABELS = {
    "prepayment_due": "预付款待付", "prepaid": "已付预付款，尾款待质检", "balance_due": "尾款待付",
    "settled": "已结清", "withheld": "质检未通过，尾款暂扣", "cancelled": "已取消",
}


@dataclass(frozen=True)
class Delivery:
    document_id: int
    number: str
    status: str
    status_label: str
    business_time: datetime
    item_name: str
    grade: str | None
    quantity: Decimal
    base_unit: str
    entered_quantity: Decimal | None
    entered_unit: str | None
    unit_price: Decimal
    amount: Decimal
    prepayment: Decimal | None
    lot_code: str | None
    qc_status: str | None


@dataclass(frozen=True)
class Settlement:
    id: int
    receipt_id: int
    receipt_number: str
    total: Decimal
    prepayment: Decimal
    balance: Decimal
    status: str
    status_label: str
    prepaid_at: datetime | None
    settled_at: datetime | None


@dataclass(frozen=True)
class PaymentSummary:
    total: Decimal
    paid: Decimal
    prepayment_due: Decimal
    balance_due: Decimal
    withheld: Decimal


def own_party(actor: Actor) -> int:
    """The actor's party, or PermissionDenied for a member who delivers nothing."""
    if actor.party_id is None:
        raise PermissionDenied("只有农户/供货商账号可以查看自己的交货记录")
    return actor.party_id


def my_deliveries(session: Session, actor: Actor, *, limit: int = 50, before_id: int | None = None) -> list[Delivery]:
    """The actor's own receipts (any status), newest first; ``before_id`` pages back."""
    party_id = own_party(actor)
    stmt = select(Document).where(Document.org_id == actor.org_id, Document.kind == DocKind.RECEIPT,
                                  Document.party_id == party_id)
    if before_id is not None:
        stmt = stmt.where(Document.id < before_id)
    docs = list(session.scalars(stmt.order_by(Document.id.desc()).limit(limit)))
    if not docs:
        return []
    items = {i.id: i for i in session.scalars(select(Item).where(Item.org_id == actor.org_id))}
    grades = {g.id: g.name for g in session.scalars(select(Grade).where(Grade.org_id == actor.org_id))}
    lot_ids = [ln.lot_id for d in docs for ln in d.lines if ln.lot_id is not None]
    lots = {lot.id: lot for lot in session.scalars(select(Lot).where(
        Lot.org_id == actor.org_id, Lot.id.in_(lot_ids)))} if lot_ids else {}
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
            quantity=line.quantity, base_unit=item.base_unit, entered_quantity=line.entered_quantity,
            entered_unit=line.entered_unit, unit_price=line.unit_price, amount=doc.total_amount,
            prepayment=owed[doc.id].prepayment if doc.id in owed else None,
            lot_code=lot.code if lot else None, qc_status=lot.qc_status.value if lot else None))
    return out


def my_settlements(session: Session, actor: Actor, *, limit: int = 50,
                   before_id: int | None = None) -> list[Settlement]:
    """What the actor is owed and was paid per delivery, newest first."""
    party_id = own_party(actor)
    stmt = select(FarmerSettlement, Document.number).join(Document, Document.id == FarmerSettlement.receipt_id).where(
        FarmerSettlement.org_id == actor.org_id, FarmerSettlement.party_id == party_id)
    if before_id is not None:
        stmt = stmt.where(FarmerSettlement.id < before_id)
    rows = session.execute(stmt.order_by(FarmerSettlement.id.desc()).limit(limit))
    return [Settlement(
        id=s.id, receipt_id=s.receipt_id, receipt_number=number, total=s.total, prepayment=s.prepayment,
        balance=s.balance, status=s.status.value, status_label=SETTLEMENT_LABELS.get(s.status.value, ""),
        prepaid_at=s.prepaid_at, settled_at=s.settled_at) for s, number in rows]


def my_payments(session: Session, actor: Actor) -> PaymentSummary:
    """The actor's totals over their settlements: paid, and still owed by kind (cancelled ones left out)."""
    party_id = own_party(actor)
    total = paid = pre_due = bal_due = withheld = Decimal(0)
    for s in session.scalars(select(FarmerSettlement).where(
            FarmerSettlement.org_id == actor.org_id, FarmerSettlement.party_id == party_id,
            FarmerSettlement.status != SettlementStatus.CANCELLED)):
        total += s.total
        if s.status == SettlementStatus.PREPAYMENT_DUE:
            pre_due += s.prepayment
        elif s.status == SettlementStatus.PREPAID:
            paid += s.prepayment
        elif s.status == SettlementStatus.BALANCE_DUE:
            paid += s.prepayment
            bal_due += s.balance
        elif s.status == SettlementStatus.SETTLED:
            paid += s.total
        elif s.status == SettlementStatus.WITHHELD:
            paid += s.prepayment
            withheld += s.balance
    return PaymentSummary(total, paid, pre_due, bal_due, withheld)
