"""Receive goods: a farmer's delivery (with prepayment owed) or a supplier's against a PO.

Rules that protect money live here, whatever the channel: a price other than the grade's or the
order's needs the price permission, a reason and leaves an audit row; a receipt above the item's
plausibility limit is only a draft until a second person confirms it; goods never join a lot that
already has a QC result; a purchase order still awaiting approval receives nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.approvals import ApprovalRequest, ApprovalStatus
from models.audit import record_audit
from models.catalog import Grade, Item
from models.documents import DocKind, DocStatus, Document, DocumentLine
from models.errors import (
    InvalidState,
    LotAlreadyChecked,
    PriceOverrideDenied,
    PurchaseOrderNotApproved,
    SecondPersonRequired,
    ValidationError,
)
from models.finance import FarmerSettlement, SettlementStatus
from models.idempotency import idempotent
from models.ledger import active_freezes, append_move, ensure_inbound_allowed, lock_balance, money
from models.lookup import get_owned
from models.operations.common import (
    active_item,
    business_time_or_now,
    dec,
    open_document,
    receipt_review_limit,
    stock_site,
    transition,
)
from models.org import Org, Party, PartyKind, Site
from models.outbox import emit
from models.posting import post_voucher
from models.stock import Lot, QcStatus
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
    #: Per base unit. Default: the grade's purchase price, or the purchase order's price. Any other
    #: price needs Permission.PRICES and ``price_reason``.
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
    #: Why the price differs from the grade's or order's (kept in the audit row).
    price_reason: str = ""


@dataclass(frozen=True)
class ConfirmDraftReceipt:
    document_id: int


@dataclass(frozen=True)
class CancelDraftReceipt:
    document_id: int
    reason: str


@dataclass(frozen=True)
class Receipt:
    document_id: int
    number: str
    site_id: int
    item_id: int
    #: None while the receipt is a draft (the lot is made when it posts).
    lot_id: int | None
    lot_code: str | None
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
    #: "posted", or "draft" when the quantity is above the plausibility limit (a second person confirms).
    status: str = DocStatus.POSTED.value


@dataclass
class _Plan:
    """A receipt checked and priced, not yet written."""

    cmd: ReceiveGoods
    site: Site
    item: Item
    quantity: Decimal
    when: datetime
    party: Party | None
    order: Document | None
    order_line: DocumentLine | None
    grade: Grade | None
    price: Decimal
    reference_price: Decimal
    goods: Decimal
    tax: Decimal
    total: Decimal
    freezes: Any


def _resolve_grade(
    session: Session, actor: Actor, cmd: ReceiveGoods, item_id: int, party: Party | None, has_grades: bool
) -> Grade | None:
    grade = None
    if cmd.grade_id is not None:
        grade = get_owned(session, Grade, cmd.grade_id, actor.org_id)
        if grade.item_id != item_id:
            raise ValidationError("该商品没有这个等级", field="grade_id", grade_id=cmd.grade_id)
    elif party is not None and party.kind == PartyKind.FARMER and has_grades and cmd.unit_price is None:
        raise ValidationError("请选择等级", field="grade_id")
    if cmd.unit_price is not None and cmd.unit_price < 0:
        raise ValidationError("单价不能为负", field="unit_price")
    return grade


def _authorize_price(actor: Actor, cmd: ReceiveGoods, site_id: int, reference: Decimal) -> None:
    """A price other than the reference (grade, order, or none: 0) is a price decision, not data entry."""
    if cmd.unit_price is None or cmd.unit_price == reference:
        return
    if not actor.can(Permission.PRICES, site_id):
        raise PriceOverrideDenied(
            f"没有改价权限：单价应为 {dec(reference)}，改价须由有改价权限的人录入并写明原因",
            field="unit_price", unit_price=dec(cmd.unit_price), reference_price=dec(reference))
    if not actor.system and not cmd.price_reason.strip():
        raise PriceOverrideDenied("改价须写明原因", field="price_reason", unit_price=dec(cmd.unit_price),
                                  reference_price=dec(reference))


def _check_dates(cmd: ReceiveGoods, when: datetime) -> None:
    if cmd.produced_on is not None and cmd.produced_on > local_date(when):
        raise ValidationError("生产日期不能晚于收货日期", field="produced_on")
    if cmd.produced_on is not None and cmd.expires_on is not None and cmd.expires_on < cmd.produced_on:
        raise ValidationError("到期日期不能早于生产日期", field="expires_on")


def _plan(session: Session, actor: Actor, cmd: ReceiveGoods, *, confirming: bool = False) -> _Plan:
    """Check and price a receipt; write nothing. ``confirming``: a stored draft whose price and time
    were authorized when it was entered."""
    site = stock_site(session, actor, cmd.site_id)
    actor.require(Permission.RECEIVE, site.id)
    item = active_item(session, actor, cmd.item_id)
    quantity = to_base(session, item, cmd.quantity, cmd.unit)
    if confirming and cmd.business_time is not None:
        when = cmd.business_time
    else:
        when = business_time_or_now(session, actor, cmd.business_time)
    _check_dates(cmd, when)
    party = get_owned(session, Party, cmd.party_id, actor.org_id) if cmd.party_id is not None else None
    if party is not None and party.kind == PartyKind.CUSTOMER:
        raise ValidationError(f"{party.name} 是客户，不能作为供货方", field="party_id")

    order, order_line = _order_line(session, actor, cmd, item.id, party)
    if party is None and order is not None and order.party_id is not None:
        party = session.get_one(Party, order.party_id)  # the payable is owed to the order's supplier
    grade = _resolve_grade(session, actor, cmd, item.id, party, bool(item.grades))
    if grade is not None:
        reference = grade.purchase_price
    elif order_line is not None:
        reference = order_line.unit_price
    else:
        reference = Decimal(0)
    if not confirming:
        _authorize_price(actor, cmd, site.id, reference)
    price = cmd.unit_price if cmd.unit_price is not None else reference
    if cmd.tax_rate < 0 or cmd.tax_rate >= 1:
        raise ValidationError("税率应在 0 到 1 之间", field="tax_rate")
    freezes = active_freezes(session, item.id, site.id)
    ensure_inbound_allowed(session, item, site, freezes=freezes)
    if cmd.lot_code:
        existing = _existing_lot(session, actor, item.id, cmd.lot_code)
        if existing is not None and existing.qc_status != QcStatus.PENDING:
            # A QC result covers the goods that were checked; later goods must not inherit it.
            ensure_inbound_allowed(session, item, site, existing.id, freezes=freezes)
            raise LotAlreadyChecked(
                f"批次 {existing.code} 已质检，新到的货不能并入，请用新的批次号", field="lot_code",
                lot_code=existing.code, qc_status=existing.qc_status.value)
    goods = money(quantity * price)
    tax = money(goods * cmd.tax_rate)
    return _Plan(cmd=cmd, site=site, item=item, quantity=quantity, when=when, party=party, order=order,
                 order_line=order_line, grade=grade, price=price, reference_price=reference, goods=goods, tax=tax,
                 total=goods + tax, freezes=freezes)


def _draft_payload(plan: _Plan) -> dict[str, Any]:
    """The command as stored on a draft receipt (JSON), to post it unchanged on confirmation."""
    c = plan.cmd
    return {
        "site_id": c.site_id, "item_id": c.item_id, "quantity": dec(c.quantity), "unit": c.unit,
        "party_id": c.party_id, "grade_id": c.grade_id,
        # The price the draft was entered and reviewed at, even if the grade's price changes before
        # the second person confirms (it was authorized then; confirming does not re-authorize).
        "unit_price": dec(plan.price),
        "purchase_order_id": c.purchase_order_id, "lot_code": c.lot_code,
        "produced_on": c.produced_on.isoformat() if c.produced_on else None,
        "expires_on": c.expires_on.isoformat() if c.expires_on else None,
        "tax_rate": dec(Decimal(c.tax_rate)), "business_time": plan.when.isoformat(),
        "move_id": str(c.move_id) if c.move_id else None, "origin_node": c.origin_node, "note": c.note,
        "price_reason": c.price_reason,
    }


def _command_from_draft(data: dict[str, Any]) -> ReceiveGoods:
    def d(v: Any) -> Decimal | None:
        return Decimal(v) if v is not None else None

    return ReceiveGoods(
        site_id=int(data["site_id"]), item_id=int(data["item_id"]), quantity=Decimal(data["quantity"]),
        unit=data.get("unit"), party_id=data.get("party_id"), grade_id=data.get("grade_id"),
        unit_price=d(data.get("unit_price")), purchase_order_id=data.get("purchase_order_id"),
        lot_code=data.get("lot_code"),
        produced_on=date.fromisoformat(data["produced_on"]) if data.get("produced_on") else None,
        expires_on=date.fromisoformat(data["expires_on"]) if data.get("expires_on") else None,
        tax_rate=Decimal(data.get("tax_rate") or 0), business_time=datetime.fromisoformat(data["business_time"]),
        move_id=uuid.UUID(data["move_id"]) if data.get("move_id") else None,
        origin_node=data.get("origin_node") or "server", note=data.get("note") or "",
        price_reason=data.get("price_reason") or "",
    )


@idempotent("receive")
def receive_goods(session: Session, actor: Actor, cmd: ReceiveGoods) -> Receipt:
    """Post a receipt: lot, stock move, payable voucher, farmer settlement, outbox event. Above the
    item's plausibility limit it is stored as a draft that another member must confirm."""
    plan = _plan(session, actor, cmd)
    limit = receipt_review_limit(session, actor.org_id, plan.item)
    status = DocStatus.DRAFT if plan.quantity > limit else DocStatus.POSTED
    doc = open_document(
        session, actor, DocKind.RECEIPT, status, plan.when, site=plan.site,
        party_id=plan.party.id if plan.party else None, note=cmd.note,
        source_document_id=plan.order.id if plan.order else None, total_amount=plan.total, tax_amount=plan.tax,
    )
    if plan.price != plan.reference_price:
        record_audit(session, actor, "receipt.price_override", "document", doc.id,
                     before={"unit_price": dec(plan.reference_price)},
                     after={"unit_price": dec(plan.price), "number": doc.number}, reason=cmd.price_reason.strip())
    if status == DocStatus.DRAFT:
        doc.extra = {"draft": _draft_payload(plan), "review_limit": dec(limit)}
        doc.lines.append(_line(actor, plan, None))
        session.flush()
        emit(session, actor.org_id, "receipt.drafted", {
            "document_id": doc.id, "number": doc.number, "site_id": plan.site.id, "item_id": plan.item.id,
            "quantity": dec(plan.quantity), "amount": dec(plan.total), "party_id": doc.party_id,
            "review_limit": dec(limit),
        }, document_id=doc.id)
        return _result(plan, doc, None, None, Decimal(0), Decimal(0))
    return _post(session, actor, plan, doc)


def _line(actor: Actor, plan: _Plan, lot: Lot | None) -> DocumentLine:
    return DocumentLine(
        org_id=actor.org_id, line_no=1, item_id=plan.item.id, lot_id=lot.id if lot else None,
        grade_id=plan.grade.id if plan.grade else None, quantity=plan.quantity,
        entered_quantity=plan.cmd.quantity, entered_unit=plan.cmd.unit or plan.item.base_unit,
        unit_price=plan.price, amount=plan.goods, done_quantity=plan.quantity if lot else Decimal(0),
    )


def _result(plan: _Plan, doc: Document, lot: Lot | None, voucher_number: str | None, prepayment: Decimal,
            balance_due: Decimal) -> Receipt:
    return Receipt(
        document_id=doc.id, number=doc.number, site_id=plan.site.id, item_id=plan.item.id,
        lot_id=lot.id if lot else None, lot_code=lot.code if lot else None, quantity=plan.quantity,
        base_unit=plan.item.base_unit, entered_quantity=plan.cmd.quantity,
        entered_unit=plan.cmd.unit or plan.item.base_unit, grade=plan.grade.name if plan.grade else None,
        unit_price=plan.price, amount=plan.goods, tax=plan.tax, total=plan.total, prepayment=prepayment,
        balance_after_qc=balance_due, voucher_number=voucher_number, party_id=doc.party_id,
        business_time=plan.when, status=doc.status.value,
    )


def _post(session: Session, actor: Actor, plan: _Plan, doc: Document) -> Receipt:
    """Write a checked receipt: lot, line, move, order progress, voucher, settlement, event."""
    cmd, site, item, party = plan.cmd, plan.site, plan.item, plan.party
    lot = _lot_for(session, actor, cmd, doc, item.id, item.shelf_life_days, party, plan.grade, plan.when)
    ensure_inbound_allowed(session, item, site, lot.id, freezes=plan.freezes)
    if doc.lines:  # a confirmed draft: its line carries the lot, and the document the figures posted
        line = doc.lines[0]
        line.lot_id, line.done_quantity = lot.id, plan.quantity
        line.quantity, line.unit_price, line.amount = plan.quantity, plan.price, plan.goods
        doc.total_amount, doc.tax_amount = plan.total, plan.tax
    else:
        doc.lines.append(_line(actor, plan, lot))
    balance = lock_balance(session, actor.org_id, item.id, site.id, lot.id)
    append_move(
        session, balance, quantity=plan.quantity, unit_cost=plan.price, value=plan.goods, document=doc,
        business_time=plan.when, origin_node=cmd.origin_node, move_id=cmd.move_id,
    )
    if plan.order_line is not None and plan.order is not None:
        plan.order_line.done_quantity += plan.quantity
        _advance_order(plan.order)

    party_kind = party.kind.value if party else "none"
    voucher = None
    if plan.total:
        voucher = post_voucher(
            session, doc, "receipt.posted",
            facts={"party_kind": party_kind, "site_kind": site.kind.value, "item_code": item.code},
            amounts={"goods": plan.goods, "tax": plan.tax, "total": plan.total}, when=plan.when,
            summary=f"{doc.number} {party.name if party else ''} {item.name} 入库".strip(),
            party_id=party.id if party else None,
        )
    prepayment = balance_due = Decimal(0)
    if party is not None and party.kind == PartyKind.FARMER and plan.total > 0:
        org = session.get_one(Org, actor.org_id)
        prepayment = money(plan.total * org.prepayment_ratio)
        balance_due = plan.total - prepayment
        session.add(FarmerSettlement(
            org_id=actor.org_id, receipt_id=doc.id, party_id=party.id, lot_id=lot.id, total=plan.total,
            prepayment=prepayment, balance=balance_due, status=SettlementStatus.PREPAYMENT_DUE,
        ))
    emit(session, actor.org_id, "receipt.posted", {
        "document_id": doc.id, "number": doc.number, "site_id": site.id, "item_id": item.id,
        "lot_id": lot.id, "quantity": dec(plan.quantity), "amount": dec(plan.total), "party_id": doc.party_id,
        "party_kind": party_kind, "prepayment": dec(prepayment),
    }, document_id=doc.id)
    return _result(plan, doc, lot, voucher.number if voucher else None, prepayment, balance_due)


@idempotent("receive.confirm")
def confirm_draft_receipt(session: Session, actor: Actor, cmd: ConfirmDraftReceipt) -> Receipt:
    """Post a draft receipt as entered. The confirmer needs receive permission at its site and must
    not be the member who entered it (a farmer's or clerk's own large entry needs a second person)."""
    doc = get_owned(session, Document, cmd.document_id, actor.org_id, lock=True)
    data = (doc.extra or {}).get("draft") if doc.kind == DocKind.RECEIPT else None
    if doc.status != DocStatus.DRAFT or not isinstance(data, dict):
        raise InvalidState(f"单据 {doc.number} 不是待确认的入库草稿", number=doc.number, status=doc.status.value)
    if actor.member_id is None or actor.member_id == doc.created_by:
        raise SecondPersonRequired(f"入库单 {doc.number} 须由录入人以外的另一位收货员确认",
                                   number=doc.number)
    actor.require(Permission.RECEIVE, doc.site_id)
    plan = _plan(session, actor, _command_from_draft(data), confirming=True)
    transition(doc, DocStatus.POSTED)
    doc.decided_by = actor.member_id
    record_audit(session, actor, "receipt.confirm_draft", "document", doc.id,
                 before={"status": DocStatus.DRAFT.value, "entered_by": doc.created_by},
                 after={"status": DocStatus.POSTED.value, "quantity": dec(plan.quantity), "amount": dec(plan.total)})
    return _post(session, actor, plan, doc)


@idempotent("receive.cancel_draft")
def cancel_draft_receipt(session: Session, actor: Actor, cmd: CancelDraftReceipt) -> Receipt:
    """Cancel a draft receipt (a mistyped weight): it moved nothing, so whoever may receive there,
    the one who entered it included, may cancel it with a reason. Audited."""
    doc = get_owned(session, Document, cmd.document_id, actor.org_id, lock=True)
    data = (doc.extra or {}).get("draft") if doc.kind == DocKind.RECEIPT else None
    if doc.status != DocStatus.DRAFT or not isinstance(data, dict):
        raise InvalidState(f"单据 {doc.number} 不是待确认的入库草稿", number=doc.number, status=doc.status.value)
    actor.require(Permission.RECEIVE, doc.site_id)
    if not cmd.reason.strip():
        raise ValidationError("请写明作废原因", field="reason")
    transition(doc, DocStatus.CANCELLED)
    doc.decided_by = actor.member_id
    record_audit(session, actor, "receipt.cancel_draft", "document", doc.id, before={"status": "draft"},
                 after={"status": DocStatus.CANCELLED.value}, reason=cmd.reason.strip())
    line = doc.lines[0]
    item = session.get_one(Item, line.item_id)
    grade = session.get(Grade, line.grade_id) if line.grade_id else None
    return Receipt(
        document_id=doc.id, number=doc.number, site_id=doc.site_id or 0, item_id=item.id, lot_id=None,
        lot_code=None, quantity=line.quantity, base_unit=item.base_unit,
        entered_quantity=line.entered_quantity or line.quantity, entered_unit=line.entered_unit or item.base_unit,
        grade=grade.name if grade else None, unit_price=line.unit_price, amount=line.amount,
        tax=doc.tax_amount, total=doc.total_amount, prepayment=Decimal(0), balance_after_qc=Decimal(0),
        voucher_number=None, party_id=doc.party_id, business_time=doc.business_time, status=doc.status.value,
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
    approval = session.scalar(select(ApprovalRequest.status).where(
        ApprovalRequest.org_id == actor.org_id, ApprovalRequest.doc_kind == DocKind.PURCHASE_ORDER.value,
        ApprovalRequest.document_id == order.id))
    if approval is not None and approval != ApprovalStatus.APPROVED:
        raise PurchaseOrderNotApproved(f"采购单尚未审批通过（{order.number}），不能收货",
                                       number=order.number, approval_status=str(approval))
    if party is not None and order.party_id != party.id:
        raise ValidationError("供货方与采购订单不一致", field="party_id")
    line = next((ln for ln in order.lines if ln.item_id == item_id), None)
    if line is None:
        raise ValidationError(f"采购订单 {order.number} 中没有此商品", field="item_id")
    return order, line


def _advance_order(order: Document) -> None:
    done = all(line.done_quantity >= line.quantity for line in order.lines)
    transition(order, DocStatus.DONE if done else DocStatus.PARTIAL)


def _existing_lot(session: Session, actor: Actor, item_id: int, code: str) -> Lot | None:
    return session.scalar(
        select(Lot).where(Lot.org_id == actor.org_id, Lot.item_id == item_id, Lot.code == code)
    )


def _lot_for(
    session: Session, actor: Actor, cmd: ReceiveGoods, doc: Document, item_id: int,
    shelf_life_days: int | None, party: Party | None, grade: Grade | None, when: datetime,
) -> Lot:
    received = local_date(when)
    if cmd.lot_code:
        lot = _existing_lot(session, actor, item_id, cmd.lot_code)
        if lot is not None:
            return lot  # still without a QC result (checked in _plan)
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

