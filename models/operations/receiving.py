"""Receive goods: a farmer's delivery (with prepayment owed) or a supplier's against a PO."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.catalog import Grade
from models.documents import DocKind, DocStatus, Document, DocumentLine
from models.errors import ValidationError
from models.finance import FarmerSettlement, SettlementStatus
from models.idempotency import idempotent
from models.ledger import active_freezes, append_move, ensure_inbound_allowed, lock_balance, money
from models.lookup import get_owned
from models.operations.common import (
    active_item,
    business_time_or_now,
    dec,
    open_document,
    stock_site,
    transition,
)
from models.org import Org, Party, PartyKind
from models.outbox import emit
from models.posting import post_voucher
from models.stock import Lot
from models.timeutil import local_date
from models.units import to_base


@dataclass(frozen=True)
class ReceiveGoods:
    site_id: int
    item_id: int
    quantity: Decimal
    #: As entered (斤, 箱 …); None means the item's base unit.
    unit: str | None = None
    party_id: int | None = None
    grade_id: int | None = None
    #: Per base unit. Default: the grade's purchase price, or the purchase order's price.
    unit_price: Decimal | None = None
    purchase_order_id: int | None = None
    lot_code: str | None = None
    produced_on: date | None = None
    expires_on: date | None = None
    tax_rate: Decimal = Decimal(0)
    business_time: datetime | None = None
    #: Client-minted move id (offline phones, edge boxes): the ledger merges by it.
    move_id: uuid.UUID | None = None
    origin_node: str = "server"
    note: str = ""


@dataclass(frozen=True)
class Receipt:
    document_id: int
    number: str
    site_id: int
    item_id: int
    lot_id: int
    lot_code: str
    quantity: Decimal
    base_unit: str
    entered_quantity: Decimal
    entered_unit: str
    grade: str | None
    unit_price: Decimal
    amount: Decimal
    tax: Decimal
    total: Decimal
    prepayment: Decimal
    balance_after_qc: Decimal
    voucher_number: str | None
    party_id: int | None
    business_time: datetime


def _resolve_price(
    session: Session, actor: Actor, cmd: ReceiveGoods, item_id: int, party: Party | None, has_grades: bool
) -> tuple[Grade | None, Decimal | None]:
    grade = None
    if cmd.grade_id is not None:
        grade = get_owned(session, Grade, cmd.grade_id, actor.org_id)
        if grade.item_id != item_id:
            raise ValidationError("该商品没有这个等级", field="grade_id", grade_id=cmd.grade_id)
    elif party is not None and party.kind == PartyKind.FARMER and has_grades and cmd.unit_price is None:
        raise ValidationError("请选择等级", field="grade_id")
    price = cmd.unit_price if cmd.unit_price is not None else (grade.purchase_price if grade else None)
    if price is not None and price < 0:
        raise ValidationError("单价不能为负", field="unit_price")
    return grade, price


@idempotent("receive")
def receive_goods(session: Session, actor: Actor, cmd: ReceiveGoods) -> Receipt:
    """Post a receipt: lot, stock move, payable voucher, farmer settlement, outbox event."""
    site = stock_site(session, actor, cmd.site_id)
    actor.require(Permission.RECEIVE, site.id)
    item = active_item(session, actor, cmd.item_id)
    quantity = to_base(session, item, cmd.quantity, cmd.unit)
    when = business_time_or_now(cmd.business_time)
    party = get_owned(session, Party, cmd.party_id, actor.org_id) if cmd.party_id is not None else None
    if party is not None and party.kind == PartyKind.CUSTOMER:
        raise ValidationError(f"{party.name} 是客户，不能作为供货方", field="party_id")

    order, order_line = _order_line(session, actor, cmd, item.id, party)
    if party is None and order is not None and order.party_id is not None:
        party = session.get_one(Party, order.party_id)  # the payable is owed to the order's supplier
    grade, price = _resolve_price(session, actor, cmd, item.id, party, bool(item.grades))
    if price is None:
        price = order_line.unit_price if order_line is not None else Decimal(0)
    if cmd.tax_rate < 0 or cmd.tax_rate >= 1:
        raise ValidationError("税率应在 0 到 1 之间", field="tax_rate")
    freezes = active_freezes(session, item.id, site.id)
    ensure_inbound_allowed(session, item, site, freezes=freezes)

    goods = money(quantity * price)
    tax = money(goods * cmd.tax_rate)
    total = goods + tax
    doc = open_document(
        session, actor, DocKind.RECEIPT, DocStatus.POSTED, when, site=site,
        party_id=party.id if party else None, note=cmd.note,
        source_document_id=order.id if order else None, total_amount=total, tax_amount=tax,
    )
    lot = _lot_for(session, actor, cmd, doc, item.id, item.shelf_life_days, party, grade, when)
    ensure_inbound_allowed(session, item, site, lot.id, freezes=freezes)
    doc.lines.append(DocumentLine(
        org_id=actor.org_id, line_no=1, item_id=item.id, lot_id=lot.id, grade_id=grade.id if grade else None,
        quantity=quantity, entered_quantity=cmd.quantity, entered_unit=cmd.unit or item.base_unit,
        unit_price=price, amount=goods, done_quantity=quantity,
    ))
    balance = lock_balance(session, actor.org_id, item.id, site.id, lot.id)
    append_move(
        session, balance, quantity=quantity, unit_cost=price, value=goods, document=doc,
        business_time=when, origin_node=cmd.origin_node, move_id=cmd.move_id,
    )
    if order_line is not None and order is not None:
        order_line.done_quantity += quantity
        _advance_order(order)

    party_kind = party.kind.value if party else "none"
    voucher = None
    if total:
        voucher = post_voucher(
            session, doc, "receipt.posted",
            facts={"party_kind": party_kind, "site_kind": site.kind.value, "item_code": item.code},
            amounts={"goods": goods, "tax": tax, "total": total}, when=when,
            summary=f"{doc.number} {party.name if party else ''} {item.name} 入库".strip(),
            party_id=party.id if party else None,
        )
    prepayment = balance_due = Decimal(0)
    if party is not None and party.kind == PartyKind.FARMER and total > 0:
        org = session.get_one(Org, actor.org_id)
        prepayment = money(total * org.prepayment_ratio)
        balance_due = total - prepayment
        session.add(FarmerSettlement(
            org_id=actor.org_id, receipt_id=doc.id, party_id=party.id, lot_id=lot.id, total=total,
            prepayment=prepayment, balance=balance_due, status=SettlementStatus.PREPAYMENT_DUE,
        ))
    emit(session, actor.org_id, "receipt.posted", {
        "document_id": doc.id, "number": doc.number, "site_id": site.id, "item_id": item.id,
        "lot_id": lot.id, "quantity": dec(quantity), "amount": dec(total), "party_id": doc.party_id,
        "party_kind": party_kind, "prepayment": dec(prepayment),
    }, document_id=doc.id)
    return Receipt(
        document_id=doc.id, number=doc.number, site_id=site.id, item_id=item.id, lot_id=lot.id,
        lot_code=lot.code, quantity=quantity, base_unit=item.base_unit, entered_quantity=cmd.quantity,
        entered_unit=cmd.unit or item.base_unit, grade=grade.name if grade else None, unit_price=price,
        amount=goods, tax=tax, total=total, prepayment=prepayment, balance_after_qc=balance_due,
        voucher_number=voucher.number if voucher else None, party_id=doc.party_id, business_time=when,
    )


def _order_line(
    session: Session, actor: Actor, cmd: ReceiveGoods, item_id: int, party: Party | None
) -> tuple[Document | None, DocumentLine | None]:
    if cmd.purchase_order_id is None:
        return None, None
    order = get_owned(session, Document, cmd.purchase_order_id, actor.org_id, lock=True)
    if order.kind != DocKind.PURCHASE_ORDER:
        raise ValidationError("不是采购订单", field="purchase_order_id")
    if order.status not in (DocStatus.CONFIRMED, DocStatus.PARTIAL):
        raise ValidationError(f"采购订单 {order.number} 已完成或已取消", field="purchase_order_id")
    if party is not None and order.party_id != party.id:
        raise ValidationError("供货方与采购订单不一致", field="party_id")
    line = next((ln for ln in order.lines if ln.item_id == item_id), None)
    if line is None:
        raise ValidationError(f"采购订单 {order.number} 中没有此商品", field="item_id")
    return order, line


def _advance_order(order: Document) -> None:
    done = all(line.done_quantity >= line.quantity for line in order.lines)
    transition(order, DocStatus.DONE if done else DocStatus.PARTIAL)


def _lot_for(
    session: Session, actor: Actor, cmd: ReceiveGoods, doc: Document, item_id: int,
    shelf_life_days: int | None, party: Party | None, grade: Grade | None, when: datetime,
) -> Lot:
    received = local_date(when)
    if cmd.lot_code:
        lot = session.scalar(
            select(Lot).where(Lot.org_id == actor.org_id, Lot.item_id == item_id, Lot.code == cmd.lot_code)
        )
        if lot is not None:
            return lot
    expires = cmd.expires_on
    if expires is None and shelf_life_days:
        expires = received + timedelta(days=shelf_life_days)
    lot = Lot(
        org_id=actor.org_id, item_id=item_id,
        code=cmd.lot_code or doc.number.removeprefix("RK-"),
        received_on=received, produced_on=cmd.produced_on, expires_on=expires,
        origin_party_id=party.id if party else None, grade_id=grade.id if grade else None,
    )
    session.add(lot)
    session.flush()
    return lot
