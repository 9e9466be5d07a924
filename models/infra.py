"""Outbox events, idempotency records and the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, CreatedMixin, IdMixin, OrgMixin
from models.types import UTCDateTime


class OutboxEvent(OrgMixin, CreatedMixin, Base):
    """An event written in the transaction that caused it; relayed to workers after commit."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_pending", "dispatched_at", "created_at"),
                      # A document's trail (the console's document page).
                      Index("ix_outbox_events_document_id", "document_id"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(48), index=True)
    document_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("documents.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class IdempotencyRecord(IdMixin, OrgMixin, CreatedMixin, Base):
    """The first answer to a keyed request: a replay gets it back, a different body a 409."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("org_id", "member_id", "key"),)

    #: Whose key it is: the member who sent it, or 0 for system actors and keys that name a shared
    #: thing (a draft being confirmed). A replay is answered only within the same scope.
    member_id: Mapped[int] = mapped_column(BigId, default=0, server_default="0")
    key: Mapped[str] = mapped_column(String(128))
    operation: Mapped[str] = mapped_column(String(48))
    #: sha256 of the canonical command; same key with another hash is a conflict.
    request_hash: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class AuditEntry(IdMixin, OrgMixin, CreatedMixin, Base):
    """Who changed which rule, price, mapping or role, with before and after."""

    __tablename__ = "audit_log"
    #: One entity's history (a lot's QC results, a freeze's lifting, a document's trail) without the whole log.
    __table_args__ = (Index("ix_audit_log_org_entity", "org_id", "entity", "entity_id"),)

    actor_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"))
    action: Mapped[str] = mapped_column(String(48))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(String(256), default="")
