"""Pay farmers: the prepayment on delivery, the balance once the lot passes QC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.documents import DocKind, DocStatus, Document
from models.errors import ValidationError
from models.finance import FarmerSettlement, SettlementStatus
from models.idempotency import idempotent
from models.lookup import get_owned
from models.operations.common import business_time_or_now, dec, open_document
from models.org import Party, PartyKind
from models.outbox import emit
from models.posting import post_voucher
from models.stock import Lot, QcStatus


@dataclass(frozen=True)
class SettleFarmer:
    party_id: int
    business_time: datetime | None = None
    note: str = ""
    #: Pay only these deliveries (farmer_settlements ids, e.g. ticked in the console); None: all due.
    settlement_ids: tuple[int, ...] | None = None


@dataclass(frozen=True)
class SettlementItem:
    receipt_number: str
    stage: str  # "prepayment" | "balance" | "full"
    amount: Decimal


@dataclass(frozen=True)
class SettlementResult:
    document_id: int
    number: str
    party_id: int
    amount: Decimal
    items: list[SettlementItem]
    voucher_number: str


@idempotent("settle")
def settle_farmer(session: Session, actor: Actor, cmd: SettleFarmer) -> SettlementResult:
    """Pay everything due to a farmer: prepayments, and balances of lots that passed QC."""
    actor.require(Permission.SETTLE)
    party = get_owned(session, Party, cmd.party_id, actor.org_id)
    if party.kind != PartyKind.FARMER:
        raise ValidationError(f"{party.name} 不是农户", field="party_id")
    when = business_time_or_now(session, actor, cmd.business_time)
    wanted = _wanted(cmd.settlement_ids)
    due = select(FarmerSettlement).where(
        FarmerSettlement.org_id == actor.org_id, FarmerSettlement.party_id == party.id,
        FarmerSettlement.status.in_([SettlementStatus.PREPAYMENT_DUE, SettlementStatus.BALANCE_DUE]))
    if wanted is not None:
        due = due.where(FarmerSettlement.id.in_(wanted))
    rows = list(session.scalars(due.order_by(FarmerSettlement.id).with_for_update()))
    if wanted is not None and len(rows) != len(wanted):
        # A ticked delivery already paid (a second tab, a double submit) or not this farmer's: pay
        # nothing rather than part of what the person saw.
        raise ValidationError("所选交货中有已结算或不属于该农户的，请刷新后重新选择", field="settlement_ids")
    if not rows:
        raise ValidationError(f"{party.name} 目前没有应付款项", field="party_id")
    doc = open_document(session, actor, DocKind.SETTLEMENT, DocStatus.POSTED, when, party_id=party.id,
                        note=cmd.note)
    receipts = {d.id: d.number for d in session.scalars(
        select(Document).where(Document.id.in_([r.receipt_id for r in rows])))}
    lot_ids = [r.lot_id for r in rows]
    qc_rows = session.execute(select(Lot.id, Lot.qc_status).where(Lot.id.in_(lot_ids)))
    qc = {lot_id: status for lot_id, status in qc_rows}
    items = [pay_row(row, doc, receipts[row.receipt_id], qc[row.lot_id], when) for row in rows]
    amount = sum((i.amount for i in items), Decimal(0))
    doc.total_amount = amount
    doc.extra = {"items": [{"receipt": i.receipt_number, "stage": i.stage, "amount": str(i.amount)} for i in items],
                 "settlement_ids": [r.id for r in rows]}
    voucher = post_voucher(session, doc, "settlement.paid", facts={"party_kind": "farmer"},
                           amounts={"amount": amount}, when=when, summary=f"{doc.number} 支付 {party.name}",
                           party_id=party.id)
    emit(session, actor.org_id, "settlement.paid", {"document_id": doc.id, "number": doc.number,
                                                    "party_id": party.id, "amount": dec(amount)},
         document_id=doc.id)
    return SettlementResult(doc.id, doc.number, party.id, amount, items, voucher.number)


#: One settlement pays at most this many ticked deliveries (a page a person ticks through).
MAX_PICKED = 500


def _wanted(ids: tuple[int, ...] | None) -> set[int] | None:
    if ids is None:
        return None
    if not ids:
        raise ValidationError("请至少选择一笔交货", field="settlement_ids")
    if len(ids) > MAX_PICKED:
        raise ValidationError(f"一次最多结算 {MAX_PICKED} 笔交货", field="settlement_ids")
    if any(isinstance(i, bool) or not isinstance(i, int) or i < 1 for i in ids):
        raise ValidationError("交货编号无效", field="settlement_ids")
    return set(ids)


def pay_row(
    row: FarmerSettlement, doc: Document, receipt_number: str, qc_status: QcStatus, when: datetime
) -> SettlementItem:
    """Mark what ``doc`` pays of one delivery and return the paid stage."""
    if row.status == SettlementStatus.BALANCE_DUE:
        row.status, row.settled_by_id, row.settled_at = SettlementStatus.SETTLED, doc.id, when
        return SettlementItem(receipt_number, "balance", row.balance)
    row.prepaid_by_id, row.prepaid_at = doc.id, when
    if qc_status == QcStatus.PASSED:
        # QC passed before anything was paid: pay the whole delivery at once.
        row.status, row.settled_by_id, row.settled_at = SettlementStatus.SETTLED, doc.id, when
        return SettlementItem(receipt_number, "full", row.total)
    row.status = SettlementStatus.WITHHELD if qc_status == QcStatus.FAILED else SettlementStatus.PREPAID
    return SettlementItem(receipt_number, "prepayment", row.prepayment)
