"""Purchase and sales orders; a confirmed sales order reserves stock lot by lot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.catalog import Item
from models.documents import DocKind, DocStatus, Document, DocumentLine
from models.errors import ValidationError
from models.idempotency import idempotent
from models.ledger import lock_balances, money, pick_fefo
from models.lookup import get_owned
from models.operations.approvals import open_approval, purchase_order_needs_approval
from models.operations.common import (
    STATUS_LABELS,
    active_item,
    business_time_or_now,
    check_unit_price,
    open_document,
    stock_site,
    transition,
)
from models.org import Party, PartyKind
from models.outbox import emit
from models.queries.margin_preview import no_cash_position, preview_lines, preview_of
from models.stock import Balance, Reservation
from models.units import to_base


@dataclass(frozen=True)
class OrderLineIn:
    item_id: int
    quantity: Decimal
    unit: str | None = None
    #: Per base unit.
    unit_price: Decimal = Decimal(0)


@dataclass(frozen=True)
class CreateOrder:
    kind: DocKind  # PURCHASE_ORDER or SALES_ORDER
    site_id: int
    party_id: int
    lines: tuple[OrderLineIn, ...]
    business_time: datetime | None = None
    note: str = ""
    #: Send a purchase order through its chain whatever its total (orders drafted from a suggestion).
    require_approval: bool = False


@dataclass(frozen=True)
class Order:
    document_id: int
    number: str
    kind: str
    status: str
    status_label: str
    total: Decimal
    reserved: Decimal
    #: A sales order sent for approval: why (over the credit limit, margin under the threshold).
    approval_reasons: tuple[str, ...] = ()


@idempotent("order.create")
def create_order(session: Session, actor: Actor, cmd: CreateOrder) -> Order:
    """Confirm a purchase or sales order; a sales order reserves its stock (FEFO) or fails.

    A purchase order that needs approval gets its approval request in this transaction, so goods
    cannot be received against it, nor can it be decided, before its chain is known. So does a sales
    order whose margin preview puts the customer over the credit limit or its margin % under the
    org's threshold; it ships nothing until approved, and its card shows the preview.
    """
    if cmd.kind not in (DocKind.PURCHASE_ORDER, DocKind.SALES_ORDER):
        raise ValidationError("订单类型不正确", field="kind")
    site = stock_site(session, actor, cmd.site_id)
    sales = cmd.kind == DocKind.SALES_ORDER
    actor.require(Permission.ORDER_SALES if sales else Permission.ORDER_PURCHASE, site.id)
    party = get_owned(session, Party, cmd.party_id, actor.org_id)
    if sales != (party.kind == PartyKind.CUSTOMER):
        raise ValidationError(f"{party.name} 不能作为此订单的往来单位", field="party_id")
    if not cmd.lines or len({ln.item_id for ln in cmd.lines}) != len(cmd.lines):
        raise ValidationError("订单须至少一行，且每个商品只占一行", field="lines")
    when = business_time_or_now(session, actor, cmd.business_time)
    doc = open_document(session, actor, cmd.kind, DocStatus.CONFIRMED, when, site=site, party_id=party.id,
                        note=cmd.note)
    reserved = Decimal(0)
    priced: list[tuple[Item, Decimal, Decimal]] = []
    for n, line in enumerate(sorted(cmd.lines, key=lambda ln: ln.item_id), start=1):
        item = active_item(session, actor, line.item_id)
        qty = to_base(session, item, line.quantity, line.unit)
        check_unit_price(line.unit_price)
        doc.lines.append(DocumentLine(org_id=actor.org_id, line_no=n, item_id=item.id, quantity=qty,
                                      entered_quantity=line.quantity, entered_unit=line.unit or item.base_unit,
                                      unit_price=line.unit_price, amount=money(qty * line.unit_price)))
        priced.append((item, qty, line.unit_price))
        if sales:
            balances = lock_balances(session, item.id, site.id)
            for pick in pick_fefo(session, item, site, balances, qty):
                pick.balance.reserved += pick.quantity
                session.add(Reservation(org_id=actor.org_id, document_id=doc.id, item_id=item.id,
                                        site_id=site.id, lot_id=pick.balance.lot_id, quantity=pick.quantity))
                reserved += pick.quantity
    doc.total_amount = sum((ln.amount for ln in doc.lines), Decimal(0))
    session.flush()
    emit(session, actor.org_id, f"{cmd.kind.value}.confirmed", {
        "document_id": doc.id, "number": doc.number, "party_id": party.id, "total": str(doc.total_amount),
    }, document_id=doc.id)
    if not sales and (cmd.require_approval or purchase_order_needs_approval(
            session, actor.org_id, doc.id, doc.total_amount)):
        open_approval(session, actor.org_id, "purchase_order", doc.id, doc.total_amount, new_document=True)
    reasons: tuple[str, ...] = ()
    if sales:
        # Previewed after the reservations: reserving moves no value, so the average is today's.
        preview = preview_of(session, actor.org_id, party, site.id, priced, cash_position=no_cash_position,
                             this_order_id=doc.id)
        if preview.quoted.needs_approval:
            quoted = preview.quoted
            reasons = quoted.reasons
            # What the approval card and list show (workflows.approvals.card_for, approval_queries).
            doc.extra = {**(doc.extra or {}), "margin_preview": {
                "lines": preview_lines(preview), "reasons": list(reasons), "margin": str(quoted.margin),
                "margin_pct": str(quoted.margin_pct) if quoted.margin_pct is not None else "—",
                "over_limit": quoted.exposure.over_limit}}
            open_approval(session, actor.org_id, "sales_order", doc.id, doc.total_amount, new_document=True)
    return Order(doc.id, doc.number, doc.kind.value, doc.status.value, STATUS_LABELS[doc.status],
                 doc.total_amount, reserved, reasons)


@dataclass(frozen=True)
class CancelOrder:
    document_id: int
    reason: str = ""


@idempotent("order.cancel")
def cancel_order(session: Session, actor: Actor, cmd: CancelOrder) -> Order:
    """Cancel an order nothing has been delivered against, releasing its reservations."""
    doc = get_owned(session, Document, cmd.document_id, actor.org_id, lock=True)
    if doc.kind not in (DocKind.PURCHASE_ORDER, DocKind.SALES_ORDER):
        raise ValidationError(f"{doc.number} 不是订单", field="document_id")
    sales = doc.kind == DocKind.SALES_ORDER
    actor.require(Permission.ORDER_SALES if sales else Permission.ORDER_PURCHASE, doc.site_id)
    transition(doc, DocStatus.CANCELLED)
    reservations = list(session.scalars(select(Reservation).where(
        Reservation.document_id == doc.id, Reservation.active.is_(True)).order_by(Reservation.lot_id)))
    for item_id in sorted({r.item_id for r in reservations}):
        balances = {b.lot_id: b for b in lock_balances(session, item_id, doc.site_id or 0)}
        for res in (r for r in reservations if r.item_id == item_id):
            session.refresh(res)  # re-read under the balance lock: a count may have cut it meanwhile
            bal: Balance = balances[res.lot_id]
            bal.reserved -= res.quantity
            res.active = False
    emit(session, actor.org_id, f"{doc.kind.value}.cancelled", {"document_id": doc.id, "number": doc.number,
                                                                "reason": cmd.reason}, document_id=doc.id)
    return Order(doc.id, doc.number, doc.kind.value, doc.status.value, STATUS_LABELS[doc.status],
                 doc.total_amount, Decimal(0))
