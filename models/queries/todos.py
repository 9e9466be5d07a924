"""What waits for a member: the one to-do query behind the mini-program's /todos and the bot's 待办.

Each thing is listed once, in this order:
- approvals whose current level the member decides (``approval_queries.approvals_awaiting``, which
  leaves out the document's creator and levels already decided — a manager who approved the first
  level of a transfer no longer sees it); a transfer only where the member may approve at its source,
  as ``decide_transfer`` requires;
- approved transfers to dispatch from, and transfers in transit to receive at, the member's sites;
- draft receipts (above the review limit) entered by someone else at a site where the member may
  receive: ``confirm_draft_receipt`` needs that second person;
- lots with stock that cannot be shipped (QC failed, then frozen) at the sites the member sees,
  by the stock-availability query's rule;
- open to-do rows assigned to the member or to one of their roles. An approval's to-do row is the
  approval itself: it is listed above when the member decides it, and never twice.

Writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.approval_queries import KIND_LABELS, approvals_awaiting
from models.catalog import Item
from models.documents import DocKind, DocStatus, Document, DocumentLine
from models.org import Member, Site
from models.queries.stock_availability import held_lots
from models.tasks import TaskStatus
from models.tasks import Todo as TodoRow

#: Per source; a member with more than this many of one kind has a backlog, not a to-do list.
LIMIT = 200


@dataclass(frozen=True)
class Todo:
    #: approval | dispatch | receive | draft_receipt | qc_failed | frozen | task
    kind: str
    title: str
    detail: str
    urgent: bool
    number: str | None = None
    document_id: int | None = None
    lot_id: int | None = None
    site_id: int | None = None
    task_id: int | None = None
    due_at: datetime | None = None


def _q(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _sites(actor: Actor, permission: Permission, column: object) -> object:
    sites = actor.site_ids(permission)
    return True if sites is None else column.in_(sites)  # type: ignore[attr-defined]


def _approvals(session: Session, actor: Actor, names: dict[int, str], people: dict[int, str]) -> list[Todo]:
    awaiting = approvals_awaiting(session, actor)
    if not awaiting:
        return []
    docs = {d.id: d for d in session.scalars(select(Document).where(
        Document.id.in_([a.document_id for a in awaiting])))}
    out = []
    for a in awaiting:
        doc = docs[a.document_id]
        if a.doc_kind == "transfer":
            if doc.status != DocStatus.REQUESTED or not actor.can(Permission.TRANSFER_APPROVE, doc.site_id):
                continue
            detail = (f"{names.get(doc.site_id or 0, '')}→{names.get(doc.to_site_id or 0, '')}，"
                      f"申请人 {people.get(doc.created_by or 0, '系统')}")
        elif a.amount:
            detail = f"金额 {_q(a.amount)} 元" + (f"，{a.note}" if a.note else "")
        else:
            detail = a.note
        out.append(Todo(kind="approval", title=f"待审批{KIND_LABELS.get(a.doc_kind, a.doc_kind)} {a.number}",
                        detail=detail, urgent=bool(doc.urgent), number=a.number, document_id=doc.id,
                        site_id=doc.site_id))
    out.sort(key=lambda t: not t.urgent)  # urgent first, otherwise oldest first (a stable sort)
    return out


def _transfers(session: Session, actor: Actor, names: dict[int, str]) -> list[Todo]:
    base = select(Document).where(Document.org_id == actor.org_id, Document.kind == DocKind.TRANSFER)
    out = []
    if actor.site_ids(Permission.TRANSFER_DISPATCH) != set():
        stmt = base.where(Document.status == DocStatus.APPROVED,
                          _sites(actor, Permission.TRANSFER_DISPATCH, Document.site_id))  # type: ignore[arg-type]
        out += [Todo(kind="dispatch", title=f"待发货调拨 {d.number}", detail=f"发往{names.get(d.to_site_id or 0, '')}",
                     urgent=bool(d.urgent), number=d.number, document_id=d.id, site_id=d.site_id)
                for d in session.scalars(stmt.order_by(Document.urgent.desc(), Document.id).limit(LIMIT))]
    if actor.site_ids(Permission.TRANSFER_RECEIVE) != set():
        stmt = base.where(Document.status == DocStatus.IN_TRANSIT,
                          _sites(actor, Permission.TRANSFER_RECEIVE, Document.to_site_id))  # type: ignore[arg-type]
        out += [Todo(kind="receive", title=f"待收货调拨 {d.number}", detail=f"来自{names.get(d.site_id or 0, '')}",
                     urgent=bool(d.urgent), number=d.number, document_id=d.id, site_id=d.to_site_id)
                for d in session.scalars(stmt.order_by(Document.urgent.desc(), Document.id).limit(LIMIT))]
    return out


def _draft_receipts(session: Session, actor: Actor, names: dict[int, str], people: dict[int, str]) -> list[Todo]:
    if actor.member_id is None or actor.site_ids(Permission.RECEIVE) == set():
        return []  # only a member can be the second person
    stmt = (select(Document, DocumentLine, Item)
            .join(DocumentLine, DocumentLine.document_id == Document.id).join(Item, Item.id == DocumentLine.item_id)
            .where(Document.org_id == actor.org_id, Document.kind == DocKind.RECEIPT,
                   Document.status == DocStatus.DRAFT, DocumentLine.line_no == 1,
                   _sites(actor, Permission.RECEIVE, Document.site_id),  # type: ignore[arg-type]
                   or_(Document.created_by.is_(None), Document.created_by != actor.member_id))
            .order_by(Document.id).limit(LIMIT))
    out = []
    for doc, line, item in session.execute(stmt):
        qty = line.entered_quantity if line.entered_quantity is not None else line.quantity
        out.append(Todo(
            kind="draft_receipt", title=f"待确认入库 {doc.number}",
            detail=(f"{names.get(doc.site_id or 0, '')} {item.name} {_q(qty)}{line.entered_unit or item.base_unit}，"
                    f"录入人 {people.get(doc.created_by or 0, '系统')}"),
            urgent=False, number=doc.number, document_id=doc.id, site_id=doc.site_id))
    return out


def _held(session: Session, actor: Actor) -> list[Todo]:
    failed, frozen = [], []
    for site, item, lot in held_lots(session, actor):
        held = f"{site.name} {item.name} 批次 {lot.lot_code}：{_q(lot.on_hand)} {item.base_unit}"
        if lot.qc_failed:
            failed.append(Todo(kind="qc_failed", title="质检不合格，待处理", detail=held, urgent=True,
                               lot_id=lot.lot_id, site_id=site.id))
        else:
            frozen.append(Todo(kind="frozen", title="库存已冻结", detail=f"{held}（{lot.frozen_reason}）", urgent=False,
                               lot_id=lot.lot_id, site_id=site.id))
    return failed + frozen


def _tasks(session: Session, actor: Actor) -> list[Todo]:
    roles = sorted({role.value for role, _ in actor.roles})
    mine = [TodoRow.assignee_member_id == actor.member_id] if actor.member_id is not None else []
    if roles:
        mine.append(TodoRow.assignee_role.in_(roles))
    if not mine:
        return []
    stmt = (select(TodoRow).where(TodoRow.org_id == actor.org_id, TodoRow.status == TaskStatus.OPEN, or_(*mine),
                                  # an approval's to-do is the approval: listed above when it is ours
                                  or_(TodoRow.kind != "approval", TodoRow.document_id.is_(None)))
            .order_by(TodoRow.due_at, TodoRow.id).limit(LIMIT))
    return [Todo(kind="task", title=t.title, detail=t.body, urgent=t.level > 0, document_id=t.document_id,
                 lot_id=t.lot_id, task_id=t.id, due_at=t.due_at) for t in session.scalars(stmt)]


def todos_for(session: Session, actor: Actor) -> list[Todo]:
    """Return everything waiting for ``actor``, each once, in the module's order."""
    names = dict(session.execute(select(Site.id, Site.name).where(Site.org_id == actor.org_id)).all())
    people = dict(session.execute(select(Member.id, Member.name).where(Member.org_id == actor.org_id)).all())
    return [*_approvals(session, actor, names, people), *_transfers(session, actor, names),
            *_draft_receipts(session, actor, names, people), *_held(session, actor), *_tasks(session, actor)]
