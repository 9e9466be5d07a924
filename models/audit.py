"""Audit rows for configuration changes, written in the same transaction as the change."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from models.actor import Actor
from models.infra import AuditEntry


def record_audit(
    session: Session,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: object,
    *,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    reason: str = "",
) -> AuditEntry:
    """Record who changed what, with the values before and after."""
    entry = AuditEntry(**audit_values(actor, action, entity, entity_id, before=before, after=after, reason=reason))
    session.add(entry)
    return entry


def audit_values(actor: Actor, action: str, entity: str, entity_id: object, *, before: dict[str, Any] | None,
                 after: dict[str, Any] | None, reason: str = "") -> dict[str, Any]:
    """The columns of an audit row (for :func:`record_audit`, or a posting writer's insert)."""
    return {"org_id": actor.org_id, "actor_id": actor.member_id, "action": action, "entity": entity,
            "entity_id": str(entity_id), "before": before, "after": after, "reason": reason}
