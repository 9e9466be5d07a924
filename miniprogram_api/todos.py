"""To-dos and alerts: pending approvals, frozen or QC-failed lots at my sites, my open tasks."""

from __future__ import annotations

from datetime import datetime

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from miniprogram_api.apiutil import READ_ERRORS, dec, reader
from miniprogram_api.approvals import pending_approvals
from miniprogram_api.errors import ErrorBody
from models.actor import Actor, Permission
from models.catalog import Item
from models.org import Site
from models.stock import Balance, Freeze, Lot, QcStatus
from models.tasks import TaskStatus, Todo

api = APIBlueprint("clerk_todos", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="待办")],
                   abp_security=[{"bearer": []}], abp_responses={"401": ErrorBody})


class TodoRow(BaseModel):
    kind: str  # approval | frozen | qc_failed | task
    title: str
    detail: str
    urgent: bool
    document_id: int | None = None
    lot_id: int | None = None
    site_id: int | None = None
    task_id: int | None = None
    due_at: datetime | None = None


class TodosOut(BaseModel):
    items: list[TodoRow]


def _alerts(session: Session, actor: Actor) -> list[TodoRow]:
    """Frozen and QC-failed lots holding stock at the sites where the actor sees stock."""
    allowed = actor.site_ids(Permission.VIEW_STOCK)
    if allowed is not None and not allowed:
        return []
    stmt = (select(Balance, Lot).join(Lot, Lot.id == Balance.lot_id)
            .where(Balance.org_id == actor.org_id, Balance.on_hand > 0))
    if allowed is not None:
        stmt = stmt.where(Balance.site_id.in_(allowed))
    rows = list(session.execute(stmt.order_by(Balance.site_id, Lot.id)))
    if not rows:
        return []
    freezes = list(session.scalars(select(Freeze).where(Freeze.org_id == actor.org_id, Freeze.active.is_(True))))
    sites = {s.id: s for s in session.scalars(select(Site).where(Site.org_id == actor.org_id))}
    items = {i.id: i for i in session.scalars(select(Item).where(Item.org_id == actor.org_id))}
    out = []
    for bal, lot in rows:
        site, item = sites[bal.site_id], items[bal.item_id]
        if site.route_from_id is not None:
            continue  # in transit: nobody can act on it there
        held = f"{site.name} {item.name} 批次 {lot.code}：{dec(bal.on_hand)} {item.base_unit}"
        if lot.qc_status == QcStatus.FAILED:
            out.append(TodoRow(kind="qc_failed", title="质检不合格，待处理", detail=held, urgent=True,
                               lot_id=lot.id, site_id=site.id))
            continue
        hit = next((f for f in freezes if f.item_id == lot.item_id and f.lot_id in (None, lot.id)
                    and f.site_id in (None, site.id)), None)
        if hit is not None:
            out.append(TodoRow(kind="frozen", title="库存已冻结", detail=f"{held}（{hit.reason}）", urgent=False,
                               lot_id=lot.id, site_id=site.id))
    return out


def _tasks(session: Session, actor: Actor) -> list[TodoRow]:
    roles = sorted({role.value for role, _ in actor.roles})
    mine = [Todo.assignee_member_id == actor.member_id] if actor.member_id is not None else []
    if roles:
        mine.append(Todo.assignee_role.in_(roles))
    if not mine:
        return []
    stmt = select(Todo).where(Todo.org_id == actor.org_id, Todo.status == TaskStatus.OPEN, or_(*mine))
    return [TodoRow(kind="task", title=t.title, detail=t.body, urgent=t.level > 0, document_id=t.document_id,
                    lot_id=t.lot_id, task_id=t.id, due_at=t.due_at)
            for t in session.scalars(stmt.order_by(Todo.due_at, Todo.id).limit(200))]


@api.get("/todos", responses={"200": TodosOut, **READ_ERRORS})
def todos() -> dict:
    """Return my to-dos and alerts: approvals first, then QC failures, freezes and tasks."""
    session, actor = reader()
    items = [TodoRow(kind="approval", title=f"待审批：{a.number}{'（紧急）' if a.urgent else ''}",
                     detail=f"{a.from_site} → {a.to_site}，申请人 {a.requested_by or '系统'}",
                     urgent=a.urgent, document_id=a.document_id)
             for a in pending_approvals(session, actor)]
    alerts = _alerts(session, actor)
    items += [a for a in alerts if a.kind == "qc_failed"] + [a for a in alerts if a.kind == "frozen"]
    items += _tasks(session, actor)
    return TodosOut(items=items).model_dump(mode="json")
