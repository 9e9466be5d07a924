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
- open to-do rows assigned to the member or to one of their roles; one escalated along its chain
  is an ``escalation`` (with its deadline; overdue ones first). An approval's to-do row is the
  approval itself: it is listed above when the member decides it, and never twice;
- then ``models.queries.decisions``: lots near expiry, stock below safety stock (unless a proposed
  suggestion answers it), proposed replenishment suggestions, dead letters and stale devices.

Each item carries the ids its one-step action needs (``request_id`` to decide an approval,
``freeze_id`` to lift a freeze, ``suggestion_id``, ``dead_letter_id``, ``device_id``).

Writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, lazyload

from models.actor import Actor, Permission
from models.approval_queries import KIND_LABELS, approvals_awaiting
from models.base import utcnow
from models.catalog import Item
from models.documents import DocKind, DocStatus, Document, DocumentLine
from models.operations.rules import TRIGGERS
from models.org import Member, Site
from models.queries import decisions
from models.queries.stock_availability import held_lots
from models.tasks import TaskStatus
from models.tasks import Todo as TodoRow

#: Per source; a member with more than this many of one kind has a backlog, not a to-do list.
LIMIT = 200


@dataclass(frozen=True)
class Todo:
    #: approval | dispatch | receive | draft_receipt | qc_failed | frozen | escalation | task | near_expiry |
    #: below_safety | suggestion | dead_letter | stale_device
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
    #: The ids of the one-step actions (decide, lift the freeze, accept/dismiss, replay).
    request_id: int | None = None
    freeze_id: int | None = None
    suggestion_id: int | None = None
    dead_letter_id: int | None = None
    device_id: int | None = None
    item_id: int | None = None
    #: An escalation past its deadline.
    overdue: bool = False


def _q(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _sites(actor: Actor, permission: Permission, column: object) -> object:
    sites = actor.site_ids(permission)
    return True if sites is None else column.in_(sites)  # type: ignore[attr-defined]


def _approvals(session: Session, actor: Actor, names: dict[int, str], people: dict[int, str]) -> list[Todo]:
    awaiting = approvals_awaiting(session, actor)
    if not awaiting:
        return []
    docs = {d.id: d for d in session.scalars(select(Document).options(lazyload(Document.lines)).where(
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
                        site_id=doc.site_id, request_id=a.request_id))
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
                               lot_id=lot.lot_id, site_id=site.id, item_id=item.id))
        else:
            frozen.append(Todo(kind="frozen", title="库存已冻结", detail=f"{held}（{lot.frozen_reason}）", urgent=False,
                               lot_id=lot.lot_id, site_id=site.id, item_id=item.id, freeze_id=lot.freeze_id))
    return failed + frozen


def _tasks(session: Session, actor: Actor, now: datetime) -> list[Todo]:
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
    escalated, plain = [], []
    for t in session.scalars(stmt):
        if t.level > 0:
            overdue = t.due_at < now
            escalated.append(Todo(
                kind="escalation", title=f"超时升级：{t.title}",
                detail=("已超过期限" if overdue else "临近期限") + (f"，{t.body}" if t.body else ""),
                urgent=True, document_id=t.document_id, lot_id=t.lot_id, task_id=t.id, due_at=t.due_at,
                overdue=overdue))
        else:
            plain.append(Todo(kind="task", title=t.title, detail=t.body, urgent=False, document_id=t.document_id,
                              lot_id=t.lot_id, task_id=t.id, due_at=t.due_at))
    escalated.sort(key=lambda t: not t.overdue)  # overdue first, then by deadline (a stable sort)
    return escalated + plain


def _q_unit(value: Decimal, unit: str) -> str:
    return f"{_q(value)} {unit}"


def _decisions(session: Session, actor: Actor, now: datetime, held: list[Todo]) -> list[Todo]:
    out = []
    skip = {(t.site_id or 0, t.lot_id or 0) for t in held}
    for n in decisions.near_expiry_lots(session, actor, now, skip_lots=skip):
        when = "已过期" if n.days_left < 0 else ("今天到期" if n.days_left == 0 else f"{n.days_left} 天后到期")
        out.append(Todo(kind="near_expiry", title=f"临近保质期：{n.item_name}",
                        detail=(f"{n.site_name} 批次 {n.lot_code}：{_q_unit(n.on_hand, n.base_unit)}，"
                                f"{when}（{n.expires_on.isoformat()}）"),
                        urgent=n.days_left <= 0, lot_id=n.lot_id, site_id=n.site_id, item_id=n.item_id))
    suggestions = decisions.proposed_suggestions(session, actor)
    answered = {(s.site_id, s.item_id) for s in suggestions}
    for b in decisions.below_safety_stock(session, actor):
        if (b.site_id, b.item_id) in answered:
            continue  # the suggestion below says why and what to do
        out.append(Todo(kind="below_safety", title=f"低于安全库存：{b.item_name}",
                        detail=(f"{b.site_name} 可用 {_q_unit(b.available, b.base_unit)}，"
                                f"安全库存 {_q_unit(b.safety_stock, b.base_unit)}，暂无补货建议"),
                        urgent=b.available <= 0, site_id=b.site_id, item_id=b.item_id))
    for s in suggestions:
        how = {"purchase": f"向{s.party_name or '（未定供应商）'}采购", "transfer": f"从{s.from_site_name or ''}调入",
               "clearance": "清仓处理"}.get(s.kind, "补货")
        out.append(Todo(kind="suggestion", title=f"补货建议：{s.item_name} {how}",
                        detail=f"{s.site_name} {_q_unit(s.quantity, s.base_unit)}。{s.reason}",
                        urgent=False, site_id=s.site_id, item_id=s.item_id, suggestion_id=s.suggestion_id))
    for d in decisions.dead_letter_rows(session, actor):
        out.append(Todo(kind="dead_letter", title="自动处理失败，待重放",
                        detail=(f"事件「{TRIGGERS.get(d.event_kind, d.event_kind)}」的处理（{d.handler}）"
                                f"已尝试 {d.attempts} 次：{d.error[:120]}"),
                        urgent=False, dead_letter_id=d.run_id))
    for v in decisions.stale_devices(session, actor, now):
        kind = "传感器" if v.kind == "sensor" else "秤"
        since = "从未上报" if v.last_reading_at is None else f"超过 {_minutes(now - v.last_reading_at)} 未上报"
        out.append(Todo(kind="stale_device", title=f"设备离线：{kind} {v.code}",
                        detail=f"{v.site_name}，{since}（应每 {v.interval_minutes} 分钟上报）",
                        urgent=False, site_id=v.site_id, device_id=v.device_id))
    return out


def _minutes(gap: timedelta) -> str:
    minutes = int(gap.total_seconds() // 60)
    return f"{minutes // 60} 小时" if minutes >= 120 else f"{minutes} 分钟"


def todos_for(session: Session, actor: Actor, *, now: datetime | None = None) -> list[Todo]:
    """Return everything waiting for ``actor``, each once, in the module's order."""
    now = now or utcnow()
    names = dict(session.execute(select(Site.id, Site.name).where(Site.org_id == actor.org_id)).all())
    people = dict(session.execute(select(Member.id, Member.name).where(Member.org_id == actor.org_id)).all())
    held = _held(session, actor)
    return [*_approvals(session, actor, names, people), *_transfers(session, actor, names),
            *_draft_receipts(session, actor, names, people), *held, *_tasks(session, actor, now),
            *_decisions(session, actor, now, held)]
