"""Write an event in the caller's transaction; workflows/ relays it after commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.infra import OutboxEvent

#: ``session.info`` flag: this transaction wrote outbox events (by the ORM or the posting writer), so
#: the relay can be kicked right after it commits (workflows.kick).
OUTBOX_WRITTEN = "liuzhuan_outbox_written"


def emit(
    session: Session, org_id: int, kind: str, payload: dict[str, Any], *, document_id: int | None = None
) -> OutboxEvent:
    """Add an outbox event (kind like "receipt.posted") to the current transaction."""
    event = OutboxEvent(org_id=org_id, kind=kind, payload=payload, document_id=document_id)
    session.add(event)
    return event


def pending_events(session: Session, limit: int = 500) -> list[OutboxEvent]:
    """Return undispatched events, oldest first, locked so two relays never take the same one."""
    stmt = (
        select(OutboxEvent)
        .where(OutboxEvent.dispatched_at.is_(None))
        .order_by(OutboxEvent.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(stmt))


def mark_dispatched(event: OutboxEvent, when: datetime) -> None:
    """Record that every handler has seen ``event``."""
    event.dispatched_at = when
    event.attempts += 1
