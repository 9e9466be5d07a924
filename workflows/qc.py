"""Seeded chain for a failed quality check: the lot is frozen (by record_qc); to-dos go to
purchasing, QA and the supplier, and escalate to the supply-chain director after 48 hours."""

from __future__ import annotations

from sqlalchemy.orm import Session

from models.infra import OutboxEvent
from models.operations.todos import CreateTodo, create_todo
from workflows.relay import registry

QC_CHAIN = ({"after_hours": 48, "role": "director"},)


@registry.register("lot.qc_failed", "qc.todos")
def qc_failed_todos(session: Session, event: OutboxEvent) -> None:
    """Create the QC-failure to-dos (idempotent by event id and title)."""
    p = event.payload
    lot = p.get("lot_code", p.get("lot_id"))
    note = p.get("note", "")
    todos = (("purchaser", f"质检不合格 {lot}：联系供货方处理"), ("qa", f"质检不合格 {lot}：复检并出具结论"))
    for role, title in todos:
        create_todo(session, event.org_id, CreateTodo(
            title=title, body=note, due_in_hours=48, assignee_role=role, kind="qc", remind_before_minutes=(120,),
            chain=QC_CHAIN, lot_id=p.get("lot_id"), source_event_id=event.id))
    if p.get("origin_party_id"):
        create_todo(session, event.org_id, CreateTodo(
            title=f"质检不合格 {lot}：供货方确认", body=note, due_in_hours=48, party_id=p["origin_party_id"],
            kind="qc", chain=QC_CHAIN, lot_id=p.get("lot_id"), source_event_id=event.id))
