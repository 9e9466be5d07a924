"""To-dos and alerts: what waits for me (``models.queries.todos``), rendered for the mini-program."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from miniprogram_api.skeleton import Anyone, Ctx, api_blueprint, endpoint
from models.queries.todos import todos_for

api = api_blueprint("clerk_todos", __name__, "/api/v1", "待办")


class TodoRow(BaseModel):
    #: approval | dispatch | receive | draft_receipt | qc_failed | frozen | escalation | task | near_expiry |
    #: below_safety | suggestion | dead_letter | stale_device
    kind: str
    title: str
    detail: str
    urgent: bool
    document_id: int | None = None
    lot_id: int | None = None
    site_id: int | None = None
    task_id: int | None = None
    due_at: datetime | None = None
    #: The ids each one-step action needs (see models.queries.todos).
    request_id: int | None = None
    freeze_id: int | None = None
    suggestion_id: int | None = None
    dead_letter_id: int | None = None
    device_id: int | None = None
    item_id: int | None = None
    overdue: bool = False


class TodosOut(BaseModel):
    items: list[TodoRow]


@endpoint(api.get, "/todos", permission=Anyone("列表只含本人（或本人角色、地点）的待办，别人的看不到"),
          response=TodosOut)
def todos(ctx: Ctx) -> dict:
    """Return my to-dos and alerts: approvals, transfers to move, drafts to confirm, held lots, escalations,
    tasks, lots near expiry, stock below safety stock, replenishment suggestions, dead letters, silent devices."""
    items = [TodoRow(kind=t.kind, title=f"{t.title}（紧急）" if t.kind == "approval" and t.urgent else t.title,
                     detail=t.detail, urgent=t.urgent, document_id=t.document_id, lot_id=t.lot_id,
                     site_id=t.site_id, task_id=t.task_id, due_at=t.due_at, request_id=t.request_id,
                     freeze_id=t.freeze_id, suggestion_id=t.suggestion_id, dead_letter_id=t.dead_letter_id,
                     device_id=t.device_id, item_id=t.item_id, overdue=t.overdue)
             for t in todos_for(ctx.session, ctx.actor)]
    return TodosOut(items=items).model_dump(mode="json")
