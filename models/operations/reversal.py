"""Reverse a posted document: reversing moves and a red-ink voucher, never an edit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.catalog import Item
from models.documents import DocKind, DocStatus, Document, DocumentLine
from models.errors import InsufficientStock, InvalidState, ValidationError
from models.finance import FarmerSettlement, SettlementStatus, Voucher, VoucherStatus
from models.idempotency import idempotent
from models.ledger import append_move, fmt_qty, lock_balance
from models.lookup import get_owned
from models.operations.charges import reverse_document_charges
from models.operations.common import business_time_or_now, open_document, transition
from models.org import Site
from models.outbox import emit
from models.posting import reverse_voucher
from models.stock import StockMove

#: A reversed 收款单/付款单 puts the money back on the party as a new open item (its red-ink line on
#: the control account is a charge again); the payment's matches stay, as the history of what it paid.
REVERSIBLE = {DocKind.RECEIPT, DocKind.SHIPMENT, DocKind.COUNT, DocKind.SETTLEMENT, DocKind.MONEY_IN,
              DocKind.MONEY_OUT, DocKind.OPENING}


@dataclass(frozen=True)
class ReverseDocument:
    document_id: int
    reason: str
    business_time: datetime | None = None


@dataclass(frozen=True)
class Reversal:
    document_id: int
    number: str
    reversed_document_id: int
    reversed_number: str
    voucher_numbers: list[str]


@idempotent("reverse")
def reverse_document(session: Session, actor: Actor, cmd: ReverseDocument) -> Reversal:
    """Post the exact opposite of a receipt, shipment, count or settlement."""
    actor.require(Permission.REVERSE)
    doc = get_owned(session, Document, cmd.document_id, actor.org_id, lock=True)
    if doc.kind not in REVERSIBLE:
        raise InvalidState(f"{doc.number} 这类单据不能冲销（调拨请做反向调拨）", number=doc.number)
    if doc.reverses_document_id is not None:
        raise InvalidState(f"{doc.number} 是冲销单，不能再冲销", number=doc.number)
    if not cmd.reason.strip():
        raise ValidationError("冲销须写明原因", field="reason")
    transition(doc, DocStatus.REVERSED)
    when = business_time_or_now(session, actor, cmd.business_time)
    site = session.get(Site, doc.site_id) if doc.site_id else None
    rev = open_document(
        session, actor, doc.kind, DocStatus.POSTED, when, site=site, party_id=doc.party_id,
        reverses_document_id=doc.id, total_amount=-doc.total_amount, tax_amount=-doc.tax_amount,
        note=f"冲销 {doc.number}：{cmd.reason}",
    )
    for line in doc.lines:
        rev.lines.append(DocumentLine(
            org_id=actor.org_id, line_no=line.line_no, item_id=line.item_id, lot_id=line.lot_id,
            grade_id=line.grade_id, quantity=-line.quantity, unit_price=line.unit_price, amount=-line.amount,
            tax_rate=line.tax_rate, tax_amount=-line.tax_amount,  # the VAT summary nets to zero
        ))
    if doc.kind == DocKind.RECEIPT:
        _cancel_farmer_settlement(session, doc)
    elif doc.kind == DocKind.SETTLEMENT:
        _unpay(session, doc)
    if doc.source_document_id is not None:
        _reopen_order(session, doc)
    _reverse_moves(session, doc, rev, when)
    if doc.kind == DocKind.SHIPMENT:  # its extras go with it: a reversed shipment's margin nets to zero
        reverse_document_charges(session, actor, doc.id, when, f"随 {doc.number} 冲销")
    vouchers = list(session.scalars(select(Voucher).where(
        Voucher.document_id == doc.id, Voucher.status == VoucherStatus.POSTED,
        Voucher.reverses_voucher_id.is_(None),
    ).order_by(Voucher.id)))
    numbers = [
        reverse_voucher(session, v, when=when, summary=f"冲销 {doc.number}", document_id=rev.id).number
        for v in vouchers
    ]
    emit(session, actor.org_id, "document.reversed", {
        "document_id": doc.id, "number": doc.number, "kind": doc.kind.value, "reversal_id": rev.id,
        "reason": cmd.reason,
    }, document_id=rev.id)
    return Reversal(rev.id, rev.number, doc.id, doc.number, numbers)


def _reverse_moves(session: Session, doc: Document, rev: Document, when: datetime) -> None:
    moves = list(session.scalars(select(StockMove).where(StockMove.document_id == doc.id)))
    moves.sort(key=lambda m: (m.item_id, m.site_id, m.lot_id))  # fixed lock order
    for move in moves:
        balance = lock_balance(session, move.org_id, move.item_id, move.site_id, move.lot_id)
        after = balance.on_hand - move.quantity
        site = session.get_one(Site, move.site_id)
        if move.quantity > 0 and after < balance.reserved and not site.allow_negative:
            item = session.get_one(Item, move.item_id)
            raise InsufficientStock(
                f"{doc.number} 的货已部分出库或被预留，不能冲销：{item.name} 在 {site.name} "
                f"只剩 {fmt_qty(balance.on_hand - balance.reserved)} {item.base_unit}",
                number=doc.number,
            )
        append_move(session, balance, quantity=-move.quantity, unit_cost=move.unit_cost, value=-move.value,
                    document=rev, business_time=when, reverses_move_id=move.id)


def _cancel_farmer_settlement(session: Session, doc: Document) -> None:
    row = session.scalar(select(FarmerSettlement).where(FarmerSettlement.receipt_id == doc.id).with_for_update())
    if row is None:
        return
    if row.prepaid_at is not None:
        raise InvalidState(f"{doc.number} 已向农户付款，请先冲销付款单", number=doc.number)
    row.status = SettlementStatus.CANCELLED


def _unpay(session: Session, doc: Document) -> None:
    rows = list(session.scalars(select(FarmerSettlement).where(
        FarmerSettlement.id.in_(doc.extra.get("settlement_ids", []))).with_for_update()))
    for row in rows:
        if row.settled_by_id not in (None, doc.id):
            raise InvalidState("该付款之后还有尾款付款单，请先冲销后面的付款单", number=doc.number)
        if row.settled_by_id == doc.id and row.prepaid_by_id != doc.id:
            row.status, row.settled_by_id, row.settled_at = SettlementStatus.BALANCE_DUE, None, None
        else:
            row.status = SettlementStatus.PREPAYMENT_DUE
            row.prepaid_by_id = row.prepaid_at = row.settled_by_id = row.settled_at = None


def _reopen_order(session: Session, doc: Document) -> None:
    order = session.get(Document, doc.source_document_id, with_for_update=True)
    if order is None:
        return
    for line in doc.lines:
        order_line = next((ln for ln in order.lines if ln.item_id == line.item_id), None)
        if order_line is not None:
            order_line.done_quantity = max(order_line.done_quantity - line.quantity, Decimal(0))
    if order.status == DocStatus.DONE:
        # The reversal undoes the fulfilment, so the order is open again (outside the forward machine).
        order.status = DocStatus.PARTIAL if any(ln.done_quantity for ln in order.lines) else DocStatus.CONFIRMED
