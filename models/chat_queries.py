"""Read-side queries the chat bots render: stock by site, to-dos, a farmer's deliveries and payments.

They write nothing; permissions are applied by the caller with the same Actor rules as operations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.catalog import Item
from models.documents import DocKind, DocStatus, Document, DocumentLine
from models.finance import FarmerSettlement, SettlementStatus
from models.org import Site, SiteKind
from models.stock import Balance
from models.tasks import TaskStatus, Todo
from models.timeutil import SHANGHAI


@dataclass(frozen=True)
class SiteStock:
    site_id: int
    site_name: str
    on_hand: Decimal
    reserved: Decimal


def stock_by_site(session: Session, org_id: int, item_id: int, site_ids: set[int] | None) -> list[SiteStock]:
    """On hand and reserved of an item per stock site (``site_ids`` None: every site)."""
    stmt = (select(Site.id, Site.name, func.coalesce(func.sum(Balance.on_hand), 0),
                   func.coalesce(func.sum(Balance.reserved), 0))
            .join(Balance, (Balance.site_id == Site.id) & (Balance.item_id == item_id), isouter=True)
            .where(Site.org_id == org_id, Site.active.is_(True), Site.kind != SiteKind.IN_TRANSIT)
            .group_by(Site.id, Site.name).order_by(Site.id))
    if site_ids is not None:
        stmt = stmt.where(Site.id.in_(site_ids))
    return [SiteStock(sid, name, Decimal(on_hand), Decimal(res)) for sid, name, on_hand, res in session.execute(stmt)]


@dataclass(frozen=True)
class TodoLine:
    text: str
    number: str | None = None


def _sites(actor: Actor, permission: Permission, column: object) -> object:
    sites = actor.site_ids(permission)
    return True if sites is None else column.in_(sites)  # type: ignore[attr-defined]


def todos_for(session: Session, actor: Actor, limit: int = 10) -> list[TodoLine]:
    """Transfers waiting for this member (approve, dispatch, receive) and open to-dos assigned to them."""
    names = dict(session.execute(select(Site.id, Site.name).where(Site.org_id == actor.org_id)).all())
    out: list[TodoLine] = []
    approving: set[int] = set()
    base = select(Document).where(Document.org_id == actor.org_id, Document.kind == DocKind.TRANSFER)
    if actor.site_ids(Permission.TRANSFER_APPROVE) != set():
        approve = Permission.TRANSFER_APPROVE
        stmt = base.where(Document.status == DocStatus.REQUESTED,
                          or_(_sites(actor, approve, Document.site_id), _sites(actor, approve, Document.to_site_id)))
        if actor.member_id is not None:
            stmt = stmt.where(or_(Document.created_by.is_(None), Document.created_by != actor.member_id))
        for doc in session.scalars(stmt.order_by(Document.urgent.desc(), Document.id).limit(limit)):
            approving.add(doc.id)
            flag = "【急】" if doc.urgent else ""
            out.append(TodoLine(f"{flag}待审批调拨 {doc.number} {names.get(doc.site_id)}→{names.get(doc.to_site_id)}",
                                doc.number))
    if actor.site_ids(Permission.TRANSFER_DISPATCH) != set():
        stmt = base.where(Document.status == DocStatus.APPROVED,
                          _sites(actor, Permission.TRANSFER_DISPATCH, Document.site_id))
        for doc in session.scalars(stmt.order_by(Document.id).limit(limit)):
            out.append(TodoLine(f"待发货调拨 {doc.number} 发往{names.get(doc.to_site_id)}", doc.number))
    if actor.site_ids(Permission.TRANSFER_RECEIVE) != set():
        stmt = base.where(Document.status == DocStatus.IN_TRANSIT,
                          _sites(actor, Permission.TRANSFER_RECEIVE, Document.to_site_id))
        for doc in session.scalars(stmt.order_by(Document.id).limit(limit)):
            out.append(TodoLine(f"待收货调拨 {doc.number} 来自{names.get(doc.site_id)}", doc.number))
    roles = {role.value for role, _site in actor.roles}
    todo_stmt = select(Todo).where(Todo.org_id == actor.org_id, Todo.status == TaskStatus.OPEN, or_(
        Todo.assignee_member_id == actor.member_id,
        Todo.assignee_role.in_(roles) if roles else False,
    )).order_by(Todo.due_at).limit(limit)
    for todo in session.scalars(todo_stmt):
        if todo.kind == "approval" and todo.document_id in approving:
            continue  # the approval to-do of a transfer listed above: once is enough
        out.append(TodoLine(f"{todo.title}（截止 {_local(todo.due_at)}）"))
    return out[:limit]


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
