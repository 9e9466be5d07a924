"""Ship goods: FEFO across lots, moving-average cost, receivable + revenue + COGS voucher."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.catalog_snapshot import PartyInfo
from models.documents import DocKind, DocStatus, Document, DocumentLine
from models.errors import ValidationError
from models.idempotency import idempotent
from models.ledger import issue_from, lock_balances, money, pick_fefo
from models.lookup import get_owned
from models.operations.common import (
    business_time_or_now,
    dec,
    item_in,
    open_document,
    party_in,
    quantity_in_base,
    site_in,
    transition,
)
from models.org import PartyKind
from models.outbox import emit
from models.posting import post_voucher
from models.stock import Lot, Reservation
from models.unit_of_work import catalog_of


@dataclass(frozen=True)
class ShipGoods:
    site_id: int
    item_id: int
    quantity: Decimal
    unit: str | None = None
    party_id: int | None = None
    #: Sale price per base unit, before tax. Default: the sales order's price, else the item's sale price.
    unit_price: Decimal | None = None
    #: Ship from this lot only; default first-expiry-first-out over all lots.
    lot_id: int | None = None
    sales_order_id: int | None = None
    tax_rate: Decimal = Decimal(0)
    business_time: datetime | None = None
    origin_node: str = "server"
    note: str = ""


@dataclass(frozen=True)
class PickedLot:
    lot_id: int
    lot_code: str
    quantity: Decimal


@dataclass(frozen=True)
class Shipment:
    document_id: int
    number: str
    site_id: int
    item_id: int
    quantity: Decimal
    base_unit: str
    picks: list[PickedLot]
    revenue: Decimal
    tax: Decimal
    total: Decimal
    cost: Decimal
    voucher_number: str | None
    business_time: datetime


@idempotent("ship")
def ship_goods(session: Session, actor: Actor, cmd: ShipGoods) -> Shipment:
    """Post a shipment; never oversells a site that forbids negative stock."""
    catalog = catalog_of(session, actor.org_id)
    site = site_in(catalog, cmd.site_id)
    actor.require(Permission.SHIP, site.id)
    item = item_in(catalog, cmd.item_id)
    quantity = quantity_in_base(item, cmd.quantity, cmd.unit)
    when = business_time_or_now(session, actor, cmd.business_time)
    party = party_in(catalog, cmd.party_id)
    if party is not None and party.kind != PartyKind.CUSTOMER:
        raise ValidationError(f"{party.name} 不是客户", field="party_id")
    price = cmd.unit_price if cmd.unit_price is not None else (item.sale_price or Decimal(0))
    if price < 0 or not (0 <= cmd.tax_rate < 1):
        raise ValidationError("单价或税率不正确", field="unit_price")

    order, reservations = _order_reservations(session, actor, cmd, item.id, site.id, party)
    if party is None and order is not None and order.party_id is not None:
        party = catalog.parties[order.party_id]  # the receivable is owed by the order's customer
    if cmd.unit_price is None and order is not None:
        price = next(ln.unit_price for ln in order.lines if ln.item_id == item.id)  # the agreed price
    balances = lock_balances(session, item.id, site.id, skip_empty=not site.allow_negative)
    for res in reservations:  # re-read under the balance lock: a count may have cut them meanwhile
        session.refresh(res)
    reservations = [res for res in reservations if res.active]
    reserved_for_us: dict[int, Decimal] = {}
    for res in reservations:
        reserved_for_us[res.lot_id] = reserved_for_us.get(res.lot_id, Decimal(0)) + res.quantity
    picks = pick_fefo(session, item, site, balances, quantity, lot_id=cmd.lot_id, reserved_for_us=reserved_for_us)

    doc = open_document(
        session, actor, DocKind.SHIPMENT, DocStatus.POSTED, when, site=site,
        party_id=party.id if party else None, note=cmd.note,
        source_document_id=order.id if order else None,
    )
    _consume_reservations(reservations, quantity, balances)
    moves = issue_from(session, picks, balances, document=doc, business_time=when, origin_node=cmd.origin_node)
    cost = -sum((m.value for m in moves), Decimal(0))
    revenue = money(quantity * price)
    tax = money(revenue * cmd.tax_rate)
    total = revenue + tax
    doc.total_amount, doc.tax_amount = total, tax
    for n, move in enumerate(moves, start=1):
        doc.lines.append(DocumentLine(
            org_id=actor.org_id, line_no=n, item_id=item.id, lot_id=move.lot_id, quantity=-move.quantity,
            entered_quantity=cmd.quantity if n == 1 else None, entered_unit=cmd.unit or item.base_unit,
            unit_price=price, amount=money(-move.quantity * price), done_quantity=-move.quantity,
        ))
    if order is not None:
        line = next(ln for ln in order.lines if ln.item_id == item.id)
        line.done_quantity += quantity
        done = all(ln.done_quantity >= ln.quantity for ln in order.lines)
        transition(order, DocStatus.DONE if done else DocStatus.PARTIAL)

    voucher = None
    if total or cost:
        voucher = post_voucher(
            session, doc, "shipment.posted",
            facts={"party_kind": party.kind.value if party else "none", "site_kind": site.kind.value,
                   "item_code": item.code},
            amounts={"revenue": revenue, "tax": tax, "total": total, "cost": cost}, when=when,
            summary=f"{doc.number} {item.name} 出库", party_id=party.id if party else None,
        )
    lots = {lot.id: lot for lot in session.scalars(select(Lot).where(Lot.id.in_([m.lot_id for m in moves])))}
    picked = [PickedLot(m.lot_id, lots[m.lot_id].code, -m.quantity) for m in moves]
    emit(session, actor.org_id, "shipment.posted", {
        "document_id": doc.id, "number": doc.number, "site_id": site.id, "item_id": item.id,
        "quantity": dec(quantity), "amount": dec(total), "cost": dec(cost), "party_id": doc.party_id,
        "lots": [{"lot_id": p.lot_id, "quantity": dec(p.quantity)} for p in picked],
    }, document_id=doc.id)
    return Shipment(
        document_id=doc.id, number=doc.number, site_id=site.id, item_id=item.id, quantity=quantity,
        base_unit=item.base_unit, picks=picked, revenue=revenue, tax=tax, total=total, cost=cost,
        voucher_number=voucher.number if voucher else None, business_time=when,
    )


def _order_reservations(
    session: Session, actor: Actor, cmd: ShipGoods, item_id: int, site_id: int, party: PartyInfo | None
) -> tuple[Document | None, list[Reservation]]:
    if cmd.sales_order_id is None:
        return None, []
    order = get_owned(session, Document, cmd.sales_order_id, actor.org_id, lock=True)
    if order.kind != DocKind.SALES_ORDER or order.status not in (DocStatus.CONFIRMED, DocStatus.PARTIAL):
        raise ValidationError("销售订单不存在或已完成", field="sales_order_id")
    if order.site_id != site_id or (party is not None and order.party_id != party.id):
        raise ValidationError("出库地点或客户与销售订单不一致", field="sales_order_id")
    if not any(line.item_id == item_id for line in order.lines):
        raise ValidationError("销售订单中没有此商品", field="item_id")
    reservations = list(session.scalars(select(Reservation).where(
        Reservation.document_id == order.id, Reservation.item_id == item_id, Reservation.active.is_(True),
    ).order_by(Reservation.lot_id)))
    return order, reservations


def _consume_reservations(reservations: list[Reservation], quantity: Decimal, balances: list) -> None:
    """Release as much of the order's reservation as this shipment covers."""
    by_lot = {b.lot_id: b for b in balances}
    remaining = quantity
    for res in reservations:
        if remaining <= 0:
            break
        take = min(res.quantity, remaining)
        by_lot[res.lot_id].reserved -= take
        res.quantity -= take
        res.active = res.quantity > 0
        remaining -= take
