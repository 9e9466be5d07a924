"""To-dos: create, complete, and the beat scan that reminds and escalates (time comes in as ``now``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor
from models.base import utcnow
from models.errors import InvalidState, PermissionDenied, ValidationError
from models.lookup import get_owned
from models.org import Role
from models.outbox import emit
from models.tasks import TaskStatus, Todo


@dataclass(frozen=True)
class CreateTodo:
    title: str
    due_in_hours: float
    assignee_role: str | None = None
    assignee_member_id: int | None = None
    party_id: int | None = None
    body: str = ""
    kind: str = "manual"
    remind_before_minutes: tuple[int, ...] = ()
    #: ({"after_hours": 4, "role": "manager"}, {"after_hours": 48, "role": "director"})
    chain: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    document_id: int | None = None
    lot_id: int | None = None
    source_event_id: uuid.UUID | None = None


def _next_check(todo: Todo) -> datetime | None:
    times = [todo.due_at - timedelta(minutes=m) for m in todo.remind_before if m not in todo.reminders_sent]
    if todo.level < len(todo.chain):
        times.append(todo.created_at + timedelta(hours=float(todo.chain[todo.level]["after_hours"])))
    return min(times) if times else None


def create_todo(session: Session, org_id: int, cmd: CreateTodo, *, now: datetime | None = None) -> Todo:
    """Add a to-do (emits ``todo.created``); an event's handler re-running gets the same one back."""
    if cmd.assignee_role is None and cmd.assignee_member_id is None and cmd.party_id is None:
        raise ValidationError("待办须指定负责人或角色", field="assignee")
    if cmd.assignee_role is not None and cmd.assignee_role not in {r.value for r in Role}:
        raise ValidationError("角色无效", field="assignee_role")
    if cmd.source_event_id is not None:
        found = session.scalar(select(Todo).where(
            Todo.source_event_id == cmd.source_event_id, Todo.title == cmd.title, Todo.org_id == org_id))
        if found is not None:
            return found
    for step in cmd.chain:
        if step.get("role") not in {r.value for r in Role} or float(step.get("after_hours", 0)) <= 0:
            raise ValidationError("升级链的角色或时限无效", field="chain")
    when = now or utcnow()
    todo = Todo(org_id=org_id, kind=cmd.kind, title=cmd.title, body=cmd.body, assignee_role=cmd.assignee_role,
                assignee_member_id=cmd.assignee_member_id, party_id=cmd.party_id,
                due_at=when + timedelta(hours=cmd.due_in_hours), remind_before=list(cmd.remind_before_minutes),
                reminders_sent=[], chain=[dict(s) for s in cmd.chain], level=0, status=TaskStatus.OPEN,
                history=[{"at": when.isoformat(), "what": "created", "role": cmd.assignee_role}],
                source_event_id=cmd.source_event_id, document_id=cmd.document_id, lot_id=cmd.lot_id,
                created_at=when)
    todo.next_check_at = _next_check(todo)
    session.add(todo)
    session.flush()
    emit(session, org_id, "todo.created", {"todo_id": todo.id, "title": todo.title, "role": todo.assignee_role,
                                           "member_id": todo.assignee_member_id, "kind": todo.kind})
    return todo


def complete_todo(session: Session, actor: Actor, todo_id: int, *, cancel: bool = False,
                  now: datetime | None = None) -> Todo:
    """Mark a to-do done (or cancelled); escalation stops."""
    todo = get_owned(session, Todo, todo_id, actor.org_id, lock=True)
    if todo.status != TaskStatus.OPEN:
        raise InvalidState("待办已处理")
    holds = {r.value for r, _ in actor.roles}
    if not (actor.system or todo.assignee_member_id == actor.member_id or todo.assignee_role in holds
            or holds & {step["role"] for step in todo.chain[:todo.level]} or holds & {"director", "admin"}):
        raise PermissionDenied("不是你的待办")
    when = now or utcnow()
    todo.status = TaskStatus.CANCELLED if cancel else TaskStatus.DONE
    todo.done_at, todo.done_by, todo.next_check_at = when, actor.member_id, None
    todo.history = [*todo.history, {"at": when.isoformat(), "what": todo.status.value, "by": actor.name}]
    return todo


def close_todos_for(session: Session, org_id: int, *, kind: str, document_id: int, now: datetime | None = None) -> int:
    """Close every open to-do of ``kind`` about a document (e.g. its approval was decided)."""
    system = Actor.system_actor(org_id)
    todos = session.scalars(select(Todo.id).where(Todo.org_id == org_id, Todo.kind == kind,
                                                  Todo.document_id == document_id, Todo.status == TaskStatus.OPEN))
    ids = list(todos)
    for todo_id in ids:
        complete_todo(session, system, todo_id, now=now)
    return len(ids)


def scan_todos(session: Session, now: datetime, limit: int = 500) -> list[tuple[str, Todo]]:
    """Send due reminders and escalate overdue to-dos; return what happened, as (what, todo).

    Every change emits an event (``todo.reminder``, ``todo.escalated``) whose handlers notify.
    Safe to run twice: a reminder or level is recorded before the next scan looks again.
    """
    due = list(session.scalars(
        select(Todo).where(Todo.status == TaskStatus.OPEN, Todo.next_check_at <= now)
        .order_by(Todo.next_check_at).limit(limit).with_for_update(skip_locked=True)))
    done: list[tuple[str, Todo]] = []
    for todo in due:
        for minutes in todo.remind_before:
            if minutes not in todo.reminders_sent and todo.due_at - timedelta(minutes=minutes) <= now:
                todo.reminders_sent = [*todo.reminders_sent, minutes]
                emit(session, todo.org_id, "todo.reminder", {"todo_id": todo.id, "title": todo.title,
                                                             "minutes": minutes, "role": todo.assignee_role,
                                                             "member_id": todo.assignee_member_id})
                done.append(("reminder", todo))
        while todo.level < len(todo.chain) and (
                todo.created_at + timedelta(hours=float(todo.chain[todo.level]["after_hours"])) <= now):
            step = todo.chain[todo.level]
            todo.level += 1
            todo.history = [*todo.history, {"at": now.isoformat(), "what": "escalated", "level": todo.level,
                                            "from_role": todo.assignee_role, "to_role": step["role"]}]
            emit(session, todo.org_id, "todo.escalated", {
                "todo_id": todo.id, "title": todo.title, "level": todo.level, "role": step["role"],
                "previous_role": todo.assignee_role, "kind": todo.kind, "document_id": todo.document_id})
            todo.assignee_role, todo.assignee_member_id = step["role"], None
            done.append(("escalated", todo))
        todo.next_check_at = _next_check(todo)
    return done
