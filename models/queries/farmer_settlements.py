"""农户结算 (what the co-op owes its farmers now): farmers with money due, one farmer's deliveries
due with what paying each now would pay, and a settlement already made.

"Due" is exactly what :func:`models.operations.settlement.settle_farmer` would pay: a delivery whose
prepayment is due (the whole amount if its lot already passed QC) or whose balance is due after QC.
The console and the API list the same rows the operation then settles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from models.documents import DocKind, Document
from models.errors import NotFound
from models.finance import FarmerSettlement, SettlementStatus
from models.lookup import get_owned
from models.org import Party, PartyKind
from models.stock import Lot, QcStatus

ZERO = Decimal("0.00")
DUE = (SettlementStatus.PREPAYMENT_DUE, SettlementStatus.BALANCE_DUE)
#: What one settlement pays of a delivery, as the paper says it.
STAGE_LABELS = {"prepayment": "预付款", "balance": "尾款", "full": "全款"}
QC_LABELS = {"pending": "待质检", "passed": "合格", "failed": "不合格"}
#: A page of farmers (keyset on the party id).
PAGE = 50
#: One farmer's deliveries due: a bounded list a person ticks through.
MAX_DUE_ROWS = 500


@dataclass(frozen=True)
class FarmerDue:
    party_id: int
    party_code: str
    party_name: str
    deliveries: int
    amount: Decimal


@dataclass(frozen=True)
class FarmersDue:
    farmers: list[FarmerDue]
    #: The last party id shown when there are more (pass it back as ``after``), else None.
    next_after: int | None


def _amount_now() -> Any:
    """What settling a due row pays now (SQL): the balance; or the prepayment, the whole delivery
    when its lot passed QC first (models.operations.settlement.pay_row)."""
    return case(
        (FarmerSettlement.status == SettlementStatus.BALANCE_DUE, FarmerSettlement.balance),
        (Lot.qc_status == QcStatus.PASSED, FarmerSettlement.total),
        else_=FarmerSettlement.prepayment)


def farmers_due(session: Session, org_id: int, after: int | None = None, limit: int = PAGE) -> FarmersDue:
    """Farmers of the org with deliveries to pay now, by party id, ``limit`` at a time."""
    stmt = (
        select(Party.id, Party.code, Party.name, func.count(FarmerSettlement.id),
               func.sum(_amount_now()))
        .join(FarmerSettlement, FarmerSettlement.party_id == Party.id)
        .join(Lot, Lot.id == FarmerSettlement.lot_id)
        .where(Party.org_id == org_id, Party.kind == PartyKind.FARMER, FarmerSettlement.org_id == org_id,
               FarmerSettlement.status.in_(DUE), Party.id > (after or 0))
        .group_by(Party.id, Party.code, Party.name).order_by(Party.id).limit(limit + 1))
    rows = cast(list[tuple[int, str, str, int, Any]], session.execute(stmt).all())
    farmers = [FarmerDue(pid, code, name, count, Decimal(total or 0).quantize(ZERO))
               for pid, code, name, count, total in rows[:limit]]
    return FarmersDue(farmers, farmers[-1].party_id if len(rows) > limit else None)


@dataclass(frozen=True)
class DueDelivery:
    settlement_id: int
    receipt_id: int
    receipt_number: str
    received_at: datetime
    status: str
    qc_status: str
    #: "prepayment" | "balance" | "full": what paying it now pays.
    stage: str
    total: Decimal
    amount: Decimal


@dataclass(frozen=True)
class FarmerDueDetail:
    party_id: int
    party_name: str
    deliveries: list[DueDelivery]
    amount: Decimal


def farmer_due(session: Session, org_id: int, party_id: int) -> FarmerDueDetail:
    """One farmer's deliveries to pay now, oldest first, each with what settling it would pay."""
    party = get_owned(session, Party, party_id, org_id)
    if party.kind != PartyKind.FARMER:
        raise NotFound(f"{party.name} 不是农户", entity="Party", id=party_id)
    rows = session.execute(
        select(FarmerSettlement.id, Document.id, Document.number, Document.business_time, FarmerSettlement.status,
               Lot.qc_status, FarmerSettlement.total, FarmerSettlement.prepayment, FarmerSettlement.balance)
        .join(Document, Document.id == FarmerSettlement.receipt_id)
        .join(Lot, Lot.id == FarmerSettlement.lot_id)
        .where(FarmerSettlement.org_id == org_id, FarmerSettlement.party_id == party.id,
               FarmerSettlement.status.in_(DUE))
        .order_by(FarmerSettlement.id).limit(MAX_DUE_ROWS)).all()
    out = []
    for sid, rid, number, at, status, qc, total, prepayment, balance in rows:
        if status == SettlementStatus.BALANCE_DUE:
            stage, amount = "balance", balance
        elif qc == QcStatus.PASSED:
            stage, amount = "full", total
        else:
            stage, amount = "prepayment", prepayment
        out.append(DueDelivery(sid, rid, number, at, SettlementStatus(status).value, QcStatus(qc).value, stage,
                               total, amount))
    return FarmerDueDetail(party.id, party.name, out, sum((d.amount for d in out), ZERO))


@dataclass(frozen=True)
class PaidItem:
    receipt_number: str
    stage: str
    amount: Decimal


@dataclass(frozen=True)
class SettlementPaper:
    document_id: int
    number: str
    party_id: int | None
    party_name: str
    paid_at: datetime
    amount: Decimal
    items: list[PaidItem]


def settlement_paper(session: Session, org_id: int, document_id: int) -> SettlementPaper:
    """A settlement (付款单) already made: whom it paid, what, for which deliveries."""
    doc = get_owned(session, Document, document_id, org_id)
    if doc.kind != DocKind.SETTLEMENT:
        raise NotFound(f"{doc.number} 不是农户结算单", entity="Document", id=document_id)
    name = session.scalar(select(Party.name).where(Party.id == doc.party_id)) if doc.party_id else None
    items = [PaidItem(str(i.get("receipt", "")), str(i.get("stage", "")), Decimal(str(i.get("amount", "0"))))
             for i in (doc.extra or {}).get("items", [])]
    return SettlementPaper(doc.id, doc.number, doc.party_id, name or "", doc.business_time,
                           Decimal(doc.total_amount).quantize(ZERO), items)


__all__ = ["STAGE_LABELS", "DueDelivery", "FarmerDue", "FarmerDueDetail", "FarmersDue", "SettlementPaper",
           "farmer_due", "farmers_due", "settlement_paper"]
