"""Read-side queries the chat bots render: a farmer's deliveries and payments.

Stock and to-dos are ``models.queries.stock_availability`` and ``models.queries.todos``, shared
with the mini-program. These write nothing; the caller applies the Actor's rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.catalog import Item
from models.documents import DocKind, DocStatus, Document, DocumentLine
from models.finance import FarmerSettlement, SettlementStatus
from models.timeutil import SHANGHAI


@dataclass(frozen=True)
class DeliveryLine:
    number: str
    when: str
    item_name: str
    quantity: Decimal
    unit: str
    amount: Decimal


def deliveries_of(session: Session, org_id: int, party_id: int, limit: int = 5) -> list[DeliveryLine]:
    """A party's most recent receipts (a farmer's deliveries), newest first."""
    rows = session.execute(
        select(Document, DocumentLine, Item).join(DocumentLine, DocumentLine.document_id == Document.id)
        .join(Item, Item.id == DocumentLine.item_id)
        .where(Document.org_id == org_id, Document.party_id == party_id, Document.kind == DocKind.RECEIPT,
               Document.status == DocStatus.POSTED)
        .order_by(Document.business_time.desc(), Document.id.desc()).limit(limit))
    return [DeliveryLine(doc.number, _local(doc.business_time), item.name,
                         line.entered_quantity if line.entered_quantity is not None else line.quantity,
                         line.entered_unit or item.base_unit, doc.total_amount) for doc, line, item in rows]


@dataclass(frozen=True)
class PaymentSummary:
    total: Decimal
    paid: Decimal
    prepayment_due: Decimal
    balance_due: Decimal
    withheld: Decimal


def payments_of(session: Session, org_id: int, party_id: int) -> PaymentSummary:
    """What a farmer has been paid and is still owed, from the settlement records."""
    total = paid = pre_due = bal_due = withheld = Decimal(0)
    for s in session.scalars(select(FarmerSettlement).where(
            FarmerSettlement.org_id == org_id, FarmerSettlement.party_id == party_id,
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


def _local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%m-%d %H:%M")
