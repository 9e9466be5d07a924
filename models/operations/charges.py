"""Order extras (运费 / 包装 / 佣金 / 其他): costs entered against a sales order or a shipment, read
by the margin report (models.queries.margin). A charge is never edited; it is undone by a reversal
row of the opposite amount, and reversing a shipment reverses its charges with it, so a reversed
shipment nets to zero.

No voucher is posted here: the extras are what the order *cost* in the margin report; the money
itself is booked where it is paid (a 付款单 to the carrier). Posting 6601 销售费用 as well would
count the freight twice in the books.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.audit import record_audit
from models.charges import CHARGE_LABELS, ChargeKind, OrderCharge
from models.documents import DocKind, DocStatus, Document
from models.errors import InvalidState, ValidationError
from models.idempotency import idempotent
from models.ledger import money
from models.lookup import get_owned
from models.operations.common import business_time_or_now, dec
from models.outbox import emit
from models.timeutil import local_date

#: Above this one extra is a typing error (one hundred million yuan).
MAX_CHARGE = Decimal(10) ** 8
#: Documents a charge may stand on, and the states in which it may still be added.
_OPEN = {DocKind.SALES_ORDER: {DocStatus.CONFIRMED, DocStatus.PARTIAL, DocStatus.DONE},
         DocKind.SHIPMENT: {DocStatus.POSTED}}


@dataclass(frozen=True)
class AddCharge:
    document_id: int
    kind: ChargeKind
    amount: Decimal
    note: str = ""
    business_time: datetime | None = None


@dataclass(frozen=True)
class ReverseCharge:
    charge_id: int
    reason: str = ""


@dataclass(frozen=True)
class Charge:
    charge_id: int
    document_id: int
    number: str
    kind: str
    kind_label: str
    amount: Decimal
    charged_on: date
    note: str
    reverses_charge_id: int | None


def _checked_amount(value: Decimal) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise ValidationError("金额必须大于零", field="amount")
    if value > MAX_CHARGE:
        raise ValidationError("金额过大，请核对", field="amount")
    if money(value) != value:
        raise ValidationError("金额最多两位小数（到分）", field="amount")
    return money(value)  # "10" is 10.00 from here on: in the answer as in the table


def _view(charge: OrderCharge, number: str) -> Charge:
    return Charge(charge.id, charge.document_id, number, charge.kind.value, CHARGE_LABELS[charge.kind],
                  charge.amount, charge.charged_on, charge.note, charge.reverses_charge_id)


@idempotent("charge.add")
def add_charge(session: Session, actor: Actor, cmd: AddCharge) -> Charge:
    """Enter an extra cost against a sales order (shared by its shipments by revenue) or a shipment."""
    actor.require(Permission.SETTLE)
    try:
        kind = ChargeKind(cmd.kind)
    except ValueError:
        raise ValidationError("费用类型只能是 freight（运费）、packaging（包装）、commission（佣金）或 other（其他）",
                              field="kind") from None
    amount = _checked_amount(cmd.amount)
    if len(cmd.note) > 256:
        raise ValidationError("备注最多 256 字", field="note")
    doc = get_owned(session, Document, cmd.document_id, actor.org_id, lock=True)
    if doc.kind not in _OPEN or doc.reverses_document_id is not None:
        raise ValidationError(f"{doc.number} 不是销售订单或出库单，不能登记费用", field="document_id")
    if doc.status not in _OPEN[doc.kind]:
        raise InvalidState(f"{doc.number} 已取消或已冲销，不能登记费用", number=doc.number)
    when = business_time_or_now(session, actor, cmd.business_time)
    charge = OrderCharge(org_id=actor.org_id, document_id=doc.id, kind=kind, amount=amount,
                         charged_on=local_date(when), note=cmd.note, created_by=actor.member_id)
    session.add(charge)
    session.flush()
    record_audit(session, actor, "order_charge.add", "order_charge", charge.id, before=None,
                 after={"document_id": doc.id, "kind": kind.value, "amount": dec(amount), "note": cmd.note})
    emit(session, actor.org_id, "order_charge.added", {
        "charge_id": charge.id, "document_id": doc.id, "number": doc.number, "kind": kind.value,
        "amount": dec(amount)}, document_id=doc.id)
    return _view(charge, doc.number)


@idempotent("charge.reverse")
def reverse_charge(session: Session, actor: Actor, cmd: ReverseCharge) -> Charge:
    """Undo a charge with a row of the opposite amount (once; a reversal is not reversed again)."""
    actor.require(Permission.SETTLE)
    charge = get_owned(session, OrderCharge, cmd.charge_id, actor.org_id, lock=True)
    doc = session.get_one(Document, charge.document_id)
    if charge.reverses_charge_id is not None:
        raise InvalidState("这是一笔冲销记录，不能再冲销", charge_id=charge.id)
    if session.scalar(select(OrderCharge.id).where(OrderCharge.reverses_charge_id == charge.id)) is not None:
        raise InvalidState("这笔费用已冲销", charge_id=charge.id)
    rev = _reverse(session, actor, charge, business_time_or_now(session, actor, None), cmd.reason)
    return _view(rev, doc.number)


def _reverse(session: Session, actor: Actor, charge: OrderCharge, when: datetime, reason: str) -> OrderCharge:
    rev = OrderCharge(org_id=actor.org_id, document_id=charge.document_id, kind=charge.kind, amount=-charge.amount,
                      charged_on=local_date(when), note=f"冲销：{reason}"[:256], created_by=actor.member_id,
                      reverses_charge_id=charge.id)
    session.add(rev)
    session.flush()
    record_audit(session, actor, "order_charge.reverse", "order_charge", charge.id,
                 before={"amount": dec(charge.amount)}, after={"reversal_id": rev.id}, reason=reason)
    emit(session, actor.org_id, "order_charge.reversed", {
        "charge_id": charge.id, "reversal_id": rev.id, "document_id": charge.document_id,
        "amount": dec(charge.amount)}, document_id=charge.document_id)
    return rev


def reverse_document_charges(session: Session, actor: Actor, document_id: int, when: datetime, reason: str) -> None:
    """Reverse every standing charge of a shipment being reversed (called by reverse_document), so the
    reversed shipment's margin is zero."""
    reversed_ids = select(OrderCharge.reverses_charge_id).where(
        OrderCharge.document_id == document_id, OrderCharge.reverses_charge_id.is_not(None))
    standing = list(session.scalars(select(OrderCharge).where(
        OrderCharge.org_id == actor.org_id, OrderCharge.document_id == document_id,
        OrderCharge.reverses_charge_id.is_(None), OrderCharge.id.not_in(reversed_ids)).order_by(OrderCharge.id)))
    for charge in standing:
        _reverse(session, actor, charge, when, reason)
